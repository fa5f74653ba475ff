// GgufWriter tensors produced at write time by a fill callback: same bytes as from pointers,
// filled lazily and in order, errors leave no file behind.
#include <gtest/gtest.h>

#include <filesystem>

#include "format/gguf_reader.h"
#include "format/gguf_writer.h"
#include "format_test_util.h"

namespace llmr {
namespace {

using namespace llmr::testing;

struct Case {
  std::string name;
  DType type;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

std::vector<Case> random_cases() {
  std::vector<Case> cases;
  const std::vector<std::pair<DType, int64_t>> kinds = {
      {DType::F32, 1}, {DType::Q8_0, 32}, {DType::Q4_0, 32}, {DType::Q4_K, 256}, {DType::F16, 1}, {DType::Q6_K, 256}};
  for (size_t k = 0; k < kinds.size(); ++k) {
    const auto [type, block] = kinds[k];
    const int64_t rows = 1 + int64_t(rng()() % 5), cols = block * (1 + int64_t(rng()() % 4)) * (block == 1 ? 7 : 1);
    Case c{"t." + std::to_string(k), type, {rows, cols}, {}};
    c.bytes = random_bytes(row_bytes(type, cols) * size_t(rows));
    cases.push_back(std::move(c));
  }
  return cases;
}

// Writing every other tensor through a fill callback gives the byte-identical file.
TEST(GgufStreamed, SameBytesAsPointerTensors) {
  TempDir dir;
  const auto cases = random_cases();
  GgufWriter by_pointer, mixed;
  for (auto* w : {&by_pointer, &mixed}) w->set("general.name", MetaValue::str("streamed"));
  std::vector<size_t> fill_order;
  for (size_t k = 0; k < cases.size(); ++k) {
    const Case& c = cases[k];
    by_pointer.add_tensor(c.name, c.type, c.shape, c.bytes.data(), c.bytes.size());
    if (k % 2 == 0) {
      mixed.add_tensor(c.name, c.type, c.shape, [&, k](void* dst) {
        fill_order.push_back(k);
        std::memcpy(dst, cases[k].bytes.data(), cases[k].bytes.size());
      });
    } else {
      mixed.add_tensor(c.name, c.type, c.shape, c.bytes.data(), c.bytes.size());
    }
  }
  EXPECT_TRUE(fill_order.empty()) << "fill must run at write time, not when the tensor is added";
  by_pointer.write(dir / "a.gguf");
  mixed.write(dir / "b.gguf");
  EXPECT_EQ(fill_order, (std::vector<size_t>{0, 2, 4}));
  const auto a = read_bytes(dir / "a.gguf"), b = read_bytes(dir / "b.gguf");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b);

  ModelFile f = open_gguf(dir / "b.gguf");
  ASSERT_EQ(f.tensors.size(), cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    EXPECT_EQ(f.tensors[k].tensor.type, cases[k].type);
    ASSERT_EQ(f.tensors[k].nbytes, cases[k].bytes.size());
    EXPECT_EQ(std::memcmp(f.tensors[k].tensor.data, cases[k].bytes.data(), cases[k].bytes.size()), 0) << k;
  }
}

// A larger tensor after a smaller one: the reused buffer grows; a smaller one after it is not
// padded with the larger one's stale bytes.
TEST(GgufStreamed, BufferReuseAcrossSizes) {
  TempDir dir;
  auto big = random_bytes(34 * 64), small = random_bytes(34 * 2);
  GgufWriter w;
  w.add_tensor("big", DType::Q8_0, {64, 32}, [&](void* dst) { std::memcpy(dst, big.data(), big.size()); });
  w.add_tensor("small", DType::Q8_0, {2, 32}, [&](void* dst) { std::memcpy(dst, small.data(), small.size()); });
  w.write(dir / "t.gguf");
  ModelFile f = open_gguf(dir / "t.gguf");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(std::memcmp(f.tensors[0].tensor.data, big.data(), big.size()), 0);
  EXPECT_EQ(std::memcmp(f.tensors[1].tensor.data, small.data(), small.size()), 0);
}

TEST(GgufStreamed, FillErrorLeavesNoFile) {
  TempDir dir;
  GgufWriter w;
  auto bytes = random_bytes(34);
  w.add_tensor("ok", DType::Q8_0, {32}, bytes.data(), bytes.size());
  w.add_tensor("broken", DType::Q8_0, {32}, [](void*) { throw Error("generator failed for tensor 'broken'"); });
  expect_error([&] { w.write(dir / "t.gguf"); }, {"broken"});
  EXPECT_FALSE(std::filesystem::exists(dir / "t.gguf"));
  EXPECT_FALSE(std::filesystem::exists(dir / "t.gguf.tmp"));
}

TEST(GgufStreamed, ShapeChecksApply) {
  GgufWriter w;
  auto noop = [](void*) {};
  expect_error([&] { w.add_tensor("bad", DType::Q4_0, {3, 31}, noop); }, {"'bad'"});
  expect_error([&] { w.add_tensor("empty", DType::F32, {}, noop); }, {"'empty'", "dimensions"});
  expect_error([&] { w.add_tensor("nofill", DType::F32, {4}, GgufWriter::TensorFill{}); }, {"'nofill'"});
  w.add_tensor("x", DType::F32, {4}, noop);
  expect_error([&] { w.add_tensor("x", DType::F32, {4}, noop); }, {"duplicate", "'x'"});
}

}  // namespace
}  // namespace llmr
