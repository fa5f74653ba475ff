// Hostile GGUF input: every malformed field gives one clear llmr::Error, never a crash.
#include <gtest/gtest.h>

#include "format/gguf_reader.h"
#include "format/gguf_writer.h"
#include "format/mapped_file.h"
#include "format_test_util.h"

namespace llmr {
namespace {

using namespace llmr::testing;

ModelFile parse(const Bytes& b) { return parse_gguf(MappedFile::from_bytes(b.b.data(), b.size(), "bad.gguf")); }

// Header for version v with the given counts, followed by `body` (kvs, tensor infos, data).
Bytes header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
  Bytes b;
  b.raw("GGUF").put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  return b;
}

// One f32 tensor info with ggml dims ne and the given offset.
Bytes tensor_info(const std::string& name, std::vector<int64_t> ne, uint32_t type = 0, uint64_t offset = 0) {
  Bytes b;
  b.str(name).put<uint32_t>(uint32_t(ne.size()));
  for (int64_t n : ne) b.put<int64_t>(n);
  b.put<uint32_t>(type).put<uint64_t>(offset);
  return b;
}

// A file with one kv-free tensor section and `data_bytes` of data after 32-byte alignment.
Bytes with_tensors(std::initializer_list<Bytes> infos, size_t data_bytes) {
  Bytes b = header(3, infos.size(), 0);
  for (const auto& i : infos) b.append(i);
  b.pad(32);
  auto d = random_bytes(data_bytes);
  return b.raw(d.data(), d.size());
}

void expect_bad(const Bytes& b, std::initializer_list<std::string> fragments) {
  std::string msg = expect_error([&] { parse(b); }, fragments);
  EXPECT_EQ(msg.rfind("bad.gguf: ", 0), 0u) << "message does not name the file: " << msg;
}

TEST(GgufBadInput, WrongMagic) {
  Bytes b;
  b.raw("GGML").put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(0);
  expect_bad(b, {"not a GGUF file", "magic"});
  expect_bad(Bytes{}, {"magic"});
}

TEST(GgufBadInput, UnsupportedVersions) {
  expect_bad(header(1, 0, 0), {"version 1", "not supported"});
  expect_bad(header(4, 0, 0), {"unsupported GGUF version 4"});
  expect_bad(header(0x03000000, 0, 0), {"big-endian"});  // version 3 written big-endian
  expect_bad(header(0x02000000, 0, 0), {"big-endian"});
  EXPECT_NO_THROW(parse(header(2, 0, 0)));
  EXPECT_NO_THROW(parse(header(3, 0, 0)));
}

TEST(GgufBadInput, AbsurdCountsAreRejectedBeforeAllocating) {
  expect_bad(header(3, uint64_t(1) << 60, 0), {"tensor count", "more than the file can hold"});
  expect_bad(header(3, 0, ~uint64_t(0)), {"metadata count", "more than the file can hold"});
  Bytes arr = header(3, 0, 1);
  arr.str("k").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(uint64_t(1) << 59);
  expect_bad(arr, {"'k'", "past the end"});
}

TEST(GgufBadInput, StringLengthsPastTheEnd) {
  Bytes key = header(3, 0, 1);
  key.put<uint64_t>(1000).raw(std::string(20, 'a'));
  expect_bad(key, {"truncated metadata key"});
  Bytes val = header(3, 0, 1);
  val.str("name").put<uint32_t>(8).put<uint64_t>(~uint64_t(0) - 3).raw("xy");
  expect_bad(val, {"truncated value of key 'name'"});
  Bytes in_array = header(3, 0, 1);
  in_array.str("list").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(2).str("ok").put<uint64_t>(50).raw("short");
  expect_bad(in_array, {"truncated value of key 'list'"});
  Bytes tname = header(3, 1, 0);
  tname.put<uint64_t>(uint64_t(1) << 62).raw(std::string(40, 'x'));
  expect_bad(tname, {"truncated tensor name"});
}

TEST(GgufBadInput, TooDeepArrayNesting) {
  Bytes b = header(3, 0, 1);
  b.str("deep").put<uint32_t>(9);
  for (int i = 0; i < 200; ++i) b.put<uint32_t>(9).put<uint64_t>(1);
  expect_bad(b, {"'deep'", "deeper than"});
}

TEST(GgufBadInput, UnknownValueTypesAndBadBools) {
  Bytes t = header(3, 0, 1);
  t.str("k").put<uint32_t>(13).put<uint32_t>(0);
  expect_bad(t, {"'k'", "unknown value type 13"});
  Bytes at = header(3, 0, 1);
  at.str("k").put<uint32_t>(9).put<uint32_t>(77).put<uint64_t>(0);
  expect_bad(at, {"'k'", "unknown value type 77"});
  Bytes bo = header(3, 0, 1);
  bo.str("flag").put<uint32_t>(7).put<uint8_t>(2);
  expect_bad(bo, {"'flag'", "bool"});
}

TEST(GgufBadInput, DuplicateKeysAndInvalidUtf8Keys) {
  Bytes b = header(3, 0, 2);
  b.str("a").put<uint32_t>(4).put<uint32_t>(1).str("a").put<uint32_t>(4).put<uint32_t>(2);
  expect_bad(b, {"duplicate metadata key 'a'"});
  Bytes u = header(3, 0, 1);
  u.str("bad\xC0\xAFkey").put<uint32_t>(4).put<uint32_t>(1);
  expect_bad(u, {"not valid UTF-8"});
}

TEST(GgufBadInput, BadAlignment) {
  Bytes t = header(3, 0, 1);
  t.str("general.alignment").put<uint32_t>(10).put<uint64_t>(32);
  expect_bad(t, {"general.alignment", "u64", "u32"});
  Bytes p = header(3, 0, 1);
  p.str("general.alignment").put<uint32_t>(4).put<uint32_t>(48);
  expect_bad(p, {"general.alignment", "48", "power of two"});
  Bytes z = header(3, 0, 1);
  z.str("general.alignment").put<uint32_t>(4).put<uint32_t>(0);
  expect_bad(z, {"general.alignment", "power of two"});
}

TEST(GgufBadInput, BadTensorShapesAndTypes) {
  expect_bad(with_tensors({tensor_info("w", {})}, 64), {"tensor 'w'", "0 dimensions"});
  expect_bad(with_tensors({tensor_info("w", {1, 1, 1, 1, 1})}, 64), {"tensor 'w'", "5 dimensions"});
  expect_bad(with_tensors({tensor_info("w", {4, -2})}, 64), {"tensor 'w'", "negative"});
  expect_bad(with_tensors({tensor_info("w", {16}, 99)}, 64), {"tensor 'w'", "unsupported tensor type 99"});
  expect_bad(with_tensors({tensor_info("w", {16}, 6)}, 64), {"tensor 'w'", "type 6"});  // q5_0: not ours
  // Element count past int64; then an f32 tensor whose 2^62 elements need 2^64 bytes.
  expect_bad(with_tensors({tensor_info("w", {int64_t(1) << 32, int64_t(1) << 32})}, 64), {"tensor 'w'", "overflows int64"});
  expect_bad(with_tensors({tensor_info("w", {int64_t(1) << 31, int64_t(1) << 31})}, 64), {"tensor 'w'", "overflows size_t"});
  // q4_0 blocks hold 32 elements; a row of 48 is not whole blocks.
  expect_bad(with_tensors({tensor_info("q", {48, 2}, 2)}, 64), {"tensor 'q'", "48", "multiple", "block"});
}

TEST(GgufBadInput, DataOffsetsOutsideTheFileOrMisaligned) {
  expect_bad(with_tensors({tensor_info("w", {16}, 0, 32)}, 64), {"tensor 'w'", "past the end"});
  expect_bad(with_tensors({tensor_info("w", {17}, 0, 0)}, 64), {"tensor 'w'", "past the end"});
  expect_bad(with_tensors({tensor_info("w", {4}, 0, ~uint64_t(0) - 31)}, 64), {"tensor 'w'", "past the end"});
  expect_bad(with_tensors({tensor_info("w", {4}, 0, 8)}, 64), {"tensor 'w'", "offset 8", "not aligned to 32"});
  EXPECT_NO_THROW(parse(with_tensors({tensor_info("w", {16}, 0, 0)}, 64)));
  EXPECT_NO_THROW(parse(with_tensors({tensor_info("w", {8}, 0, 32)}, 64)));
  // Tensor infos claiming data, but the file ends before the aligned data section.
  Bytes b = header(3, 1, 0);
  b.append(tensor_info("w", {0}));
  expect_bad(b, {"data section", "past the end"});
}

TEST(GgufBadInput, DuplicateTensorNames) {
  expect_bad(with_tensors({tensor_info("w", {4}), tensor_info("w", {4}, 0, 32)}, 64),
             {"duplicate tensor name 'w'"});
}

// Every proper prefix of a valid file that cuts into headers or tensor data fails cleanly.
TEST(GgufBadInput, TruncatedAtEveryByte) {
  TempDir dir;
  auto d0 = random_bytes(6 * 4), d1 = random_bytes(34);
  GgufWriter w;
  w.set("general.architecture", MetaValue::str("llama"));
  w.set("a.list", MetaValue::array(MetaType::STRING, {MetaValue::str("x"), MetaValue::str("yz")}));
  w.set("a.nested", MetaValue::array(MetaType::ARRAY, {MetaValue::array(MetaType::U16, {MetaValue{MetaType::U16, uint64_t(7)}})}));
  w.set("a.f", MetaValue::f32(0.5f));
  w.add_tensor("t0", DType::F32, {2, 3}, d0.data(), d0.size());
  w.add_tensor("t1", DType::Q8_0, {32}, d1.data(), d1.size());
  w.write(dir / "ok.gguf");
  auto bytes = read_bytes(dir / "ok.gguf");
  ModelFile full = parse_gguf(MappedFile::from_bytes(bytes.data(), bytes.size()));
  size_t data_end = full.tensors[1].file_offset + full.tensors[1].nbytes;
  ASSERT_LT(data_end, bytes.size());  // the last tensor is padded
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto f = MappedFile::from_bytes(bytes.data(), n, "cut.gguf");
    if (n >= data_end) {
      EXPECT_NO_THROW(parse_gguf(f)) << "prefix " << n;  // only trailing padding is missing
      continue;
    }
    try {
      parse_gguf(f);
      ADD_FAILURE() << "prefix of " << n << " bytes parsed";
    } catch (const Error& e) {
      std::string m = e.what();
      bool named = m.find("truncated") != std::string::npos || m.find("past the end") != std::string::npos ||
                   m.find("magic") != std::string::npos || m.find("more than the file can hold") != std::string::npos;
      EXPECT_TRUE(named) << "prefix " << n << ": " << m;
    }
  }
}

// Random single-byte corruptions of a valid file either parse or throw Error (never crash).
TEST(GgufBadInput, RandomByteCorruptions) {
  GgufWriter w;
  auto d = random_bytes(64);
  w.set("k.s", MetaValue::array(MetaType::STRING, {MetaValue::str("abc")}));
  w.set("k.u", MetaValue::u32(5));
  w.add_tensor("t", DType::F32, {4, 4}, d.data(), d.size());
  TempDir dir;
  w.write(dir / "ok.gguf");
  auto bytes = read_bytes(dir / "ok.gguf");
  int errors = 0;
  for (int i = 0; i < 3000; ++i) {
    auto b = bytes;
    b[rng()() % 200 % b.size()] = uint8_t(rng()());
    try {
      parse_gguf(MappedFile::from_bytes(b.data(), b.size()));
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace llmr
