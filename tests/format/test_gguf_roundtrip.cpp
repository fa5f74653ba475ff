// GGUF writer -> reader round trips, byte layout against a hand encoder, v2 files, vocab-sized speed.
#include <gtest/gtest.h>

#include <chrono>
#include <limits>

#include "format/gguf_reader.h"
#include "format/gguf_writer.h"
#include "format/mapped_file.h"
#include "format_test_util.h"

namespace llmr {
namespace {

using namespace llmr::testing;

// Deep equality; f32 values compare after rounding to float, as the file stores them.
bool meta_equal(const MetaValue& a, const MetaValue& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case MetaType::F32: return float(std::get<double>(a.value)) == float(std::get<double>(b.value));
    case MetaType::F64: return std::get<double>(a.value) == std::get<double>(b.value);
    case MetaType::ARRAY: {
      const auto& x = std::get<MetaArray>(a.value);
      const auto& y = std::get<MetaArray>(b.value);
      if (x.element_type != y.element_type || x.values.size() != y.values.size()) return false;
      for (size_t i = 0; i < x.values.size(); ++i)
        if (!meta_equal(x.values[i], y.values[i])) return false;
      return true;
    }
    default:
      return a.value.index() == b.value.index() && std::visit([&](const auto& x) {
               using T = std::decay_t<decltype(x)>;
               if constexpr (std::is_same_v<T, MetaArray>) return false;
               else return x == std::get<T>(b.value);
             }, a.value);
  }
}

template <typename T>
T random_int() {
  std::uniform_int_distribution<int64_t> d(int64_t(std::numeric_limits<T>::min()),
                                           int64_t(std::min<uint64_t>(std::numeric_limits<T>::max(), INT64_MAX)));
  return T(d(rng()));
}

std::string random_string(size_t max_len) {
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::string s(len(rng()), ' ');
  for (auto& c : s) c = char('a' + rng()() % 26);
  if (!s.empty() && rng()() % 2) s += "\xC3\xA9\xE2\x82\xAC";  // é€: multi-byte UTF-8
  return s;
}

// A random scalar of the given (non-array) type.
MetaValue random_scalar(MetaType t) {
  switch (t) {
    case MetaType::U8: return {t, uint64_t(random_int<uint8_t>())};
    case MetaType::I8: return {t, int64_t(random_int<int8_t>())};
    case MetaType::U16: return {t, uint64_t(random_int<uint16_t>())};
    case MetaType::I16: return {t, int64_t(random_int<int16_t>())};
    case MetaType::U32: return {t, uint64_t(random_int<uint32_t>())};
    case MetaType::I32: return {t, int64_t(random_int<int32_t>())};
    case MetaType::U64: return {t, uint64_t(rng()())};
    case MetaType::I64: return {t, int64_t(rng()())};
    case MetaType::F32: return {t, double(random_floats(1, -1e6f, 1e6f)[0])};
    case MetaType::F64: return {t, std::uniform_real_distribution<double>(-1e300, 1e300)(rng())};
    case MetaType::BOOL: return MetaValue::boolean(rng()() % 2);
    case MetaType::STRING: return MetaValue::str(random_string(20));
    case MetaType::ARRAY: break;
  }
  throw Error("random_scalar: array");
}

const std::vector<MetaType> kScalarTypes = {
    MetaType::U8, MetaType::I8, MetaType::U16, MetaType::I16, MetaType::U32, MetaType::I32, MetaType::F32,
    MetaType::BOOL, MetaType::STRING, MetaType::U64, MetaType::I64, MetaType::F64};

Metadata every_type_metadata() {
  Metadata md;
  for (MetaType t : kScalarTypes) {
    md.set(std::string("scalar.") + meta_type_name(t), random_scalar(t));
    std::vector<MetaValue> values;
    size_t n = 1 + rng()() % 9;
    for (size_t i = 0; i < n; ++i) values.push_back(random_scalar(t));
    md.set(std::string("array.") + meta_type_name(t), MetaValue::array(t, values));
    md.set(std::string("empty_array.") + meta_type_name(t), MetaValue::array(t, {}));
  }
  md.set("extreme.i64_min", {MetaType::I64, std::numeric_limits<int64_t>::min()});
  md.set("extreme.u64_max", MetaValue::u64(std::numeric_limits<uint64_t>::max()));
  md.set("extreme.i8_min", {MetaType::I8, int64_t(-128)});
  md.set("empty_string", MetaValue::str(""));
  md.set("strings_with_empties", MetaValue::array(MetaType::STRING, {MetaValue::str(""), MetaValue::str("x"), MetaValue::str("")}));
  // Nested: an array of arrays of strings, with an empty inner array, and three levels deep.
  md.set("nested.strings", MetaValue::array(MetaType::ARRAY, {
      MetaValue::array(MetaType::STRING, {MetaValue::str(random_string(5)), MetaValue::str("")}),
      MetaValue::array(MetaType::STRING, {}),
  }));
  md.set("nested.deep", MetaValue::array(MetaType::ARRAY, {MetaValue::array(MetaType::ARRAY, {
      MetaValue::array(MetaType::I32, {random_scalar(MetaType::I32), random_scalar(MetaType::I32)})})}));
  md.set("nested.mixed_inner_types", MetaValue::array(MetaType::ARRAY, {
      MetaValue::array(MetaType::U8, {random_scalar(MetaType::U8)}),
      MetaValue::array(MetaType::F64, {random_scalar(MetaType::F64)})}));
  return md;
}

void expect_same_metadata(const Metadata& want, const Metadata& got) {
  ASSERT_EQ(want.entries().size(), got.entries().size());
  for (size_t i = 0; i < want.entries().size(); ++i) {
    EXPECT_EQ(want.entries()[i].first, got.entries()[i].first);
    EXPECT_TRUE(meta_equal(want.entries()[i].second, got.entries()[i].second))
        << "key " << want.entries()[i].first;
  }
}

TEST(GgufRoundTrip, EveryMetadataType) {
  TempDir dir;
  Metadata md = every_type_metadata();
  GgufWriter w;
  w.set_metadata(md);
  w.write(dir / "m.gguf");
  ModelFile f = open_gguf(dir / "m.gguf");
  EXPECT_EQ(f.gguf_version, 3u);
  EXPECT_EQ(f.format, FileFormat::Gguf);
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_EQ(f.file_bytes, std::filesystem::file_size(dir / "m.gguf"));
  expect_same_metadata(md, f.metadata);
}

struct TensorCase {
  DType type;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// A random shape of 1..4 dims whose rows are whole blocks, filled with random bytes.
TensorCase random_tensor(DType t) {
  const auto& i = info(t);
  std::uniform_int_distribution<int> nd(1, 4), small(1, 3), blocks(1, 3);
  TensorCase c{t, {}, {}};
  int n = nd(rng());
  for (int d = 0; d + 1 < n; ++d) c.shape.push_back(small(rng()));
  c.shape.push_back(i.block_elems * blocks(rng()) * (i.block_elems == 1 ? 7 : 1));
  size_t nbytes = row_bytes(t, c.shape.back());
  for (int d = 0; d + 1 < n; ++d) nbytes *= size_t(c.shape[d]);
  c.bytes = random_bytes(nbytes);
  return c;
}

const std::vector<DType> kAllTypes = {DType::F32, DType::F16, DType::BF16, DType::I32, DType::Q8_0,
                                      DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K, DType::Q6_K};

void round_trip_tensors(uint32_t alignment) {
  TempDir dir;
  std::vector<TensorCase> cases;
  GgufWriter w;
  if (alignment) w.set_alignment(alignment);
  w.set("general.name", MetaValue::str("t"));
  for (int rep = 0; rep < 2; ++rep)
    for (DType t : kAllTypes) cases.push_back(random_tensor(t));
  for (size_t k = 0; k < cases.size(); ++k)
    w.add_tensor("t." + std::to_string(k), cases[k].type, cases[k].shape, cases[k].bytes.data(), cases[k].bytes.size());
  w.write(dir / "t.gguf");

  const uint32_t align = alignment ? alignment : 32;
  ModelFile f = open_gguf(dir / "t.gguf");
  ASSERT_EQ(f.tensors.size(), cases.size());
  const auto* base = static_cast<const uint8_t*>(f.mappings.at(0)->data());
  for (size_t k = 0; k < cases.size(); ++k) {
    const TensorEntry& e = f.tensors[k];
    SCOPED_TRACE(e.name + " " + e.tensor.describe());
    EXPECT_EQ(e.name, "t." + std::to_string(k));  // insertion order
    EXPECT_EQ(e.tensor.type, cases[k].type);
    ASSERT_EQ(e.tensor.ndim, int(cases[k].shape.size()));
    for (int d = 0; d < e.tensor.ndim; ++d) EXPECT_EQ(e.tensor.shape[d], cases[k].shape[d]);
    EXPECT_EQ(e.nbytes, cases[k].bytes.size());
    EXPECT_EQ(e.file_offset % align, 0u);
    EXPECT_EQ(static_cast<const uint8_t*>(e.tensor.data), base + e.file_offset);  // zero copy
    EXPECT_EQ(std::memcmp(e.tensor.data, cases[k].bytes.data(), e.nbytes), 0);
    EXPECT_TRUE(e.tensor.is_contiguous());
  }
  EXPECT_EQ(&f.get("t.3"), &f.tensors[3]);
  EXPECT_EQ(f.find("absent"), nullptr);
  expect_error([&] { f.get("absent"); }, {"'absent'", "not found"});
}

TEST(GgufRoundTrip, TensorsOfEveryTypeDefaultAlignment) { round_trip_tensors(0); }
TEST(GgufRoundTrip, TensorsOfEveryTypeCustomAlignment) {
  for (uint32_t a : {1u, 8u, 64u, 256u}) {
    SCOPED_TRACE("alignment " + std::to_string(a));
    round_trip_tensors(a);
  }
}

// The writer's bytes equal a file encoded field by field per the GGUF layout llama.cpp writes.
TEST(GgufRoundTrip, WriterMatchesHandEncodedLayout) {
  TempDir dir;
  auto w0 = random_bytes(3 * 2 * 4);  // f32 [3, 2]
  auto w1 = random_bytes(34);         // one q8_0 block, [32]
  uint32_t u = random_int<uint32_t>();
  GgufWriter w;
  w.set("general.architecture", MetaValue::str("llama"));
  w.set("x.count", MetaValue::u32(u));
  w.set("x.list", MetaValue::array(MetaType::STRING, {MetaValue::str("ab"), MetaValue::str("")}));
  w.add_tensor("w0", DType::F32, {3, 2}, w0.data(), w0.size());
  w.add_tensor("w1", DType::Q8_0, {32}, w1.data(), w1.size());
  w.write(dir / "w.gguf");

  Bytes e;
  e.raw("GGUF").put<uint32_t>(3).put<uint64_t>(2).put<uint64_t>(3);
  e.str("general.architecture").put<uint32_t>(8).str("llama");
  e.str("x.count").put<uint32_t>(4).put<uint32_t>(u);
  e.str("x.list").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(2).str("ab").str("");
  e.str("w0").put<uint32_t>(2).put<int64_t>(2).put<int64_t>(3).put<uint32_t>(0).put<uint64_t>(0);
  e.str("w1").put<uint32_t>(1).put<int64_t>(32).put<uint32_t>(8).put<uint64_t>(32);  // 24 padded to 32
  e.pad(32).raw(w0.data(), w0.size()).pad(32).raw(w1.data(), w1.size()).pad(32);
  EXPECT_EQ(read_bytes(dir / "w.gguf"), e.b);
}

// ggml stores ne[] innermost first; a hand-written v2 file with ne=[in, out] reads as [out, in].
TEST(GgufRoundTrip, ReadsHandWrittenVersion2File) {
  auto data = random_bytes(4 * 5 * 4);
  Bytes b;
  b.raw("GGUF").put<uint32_t>(2).put<uint64_t>(1).put<uint64_t>(2);
  b.str("general.architecture").put<uint32_t>(8).str("gpt2");
  b.str("general.alignment").put<uint32_t>(4).put<uint32_t>(16);
  b.str("linear.weight").put<uint32_t>(2).put<int64_t>(4).put<int64_t>(5).put<uint32_t>(0).put<uint64_t>(0);
  b.pad(16).raw(data.data(), data.size());
  ModelFile f = parse_gguf(MappedFile::from_bytes(b.b.data(), b.size(), "v2.gguf"));
  EXPECT_EQ(f.gguf_version, 2u);
  EXPECT_EQ(f.metadata.get_string("general.architecture"), "gpt2");
  ASSERT_EQ(f.tensors.size(), 1u);
  const Tensor& t = f.tensors[0].tensor;
  EXPECT_EQ(t.ndim, 2);
  EXPECT_EQ(t.shape[0], 5);  // out
  EXPECT_EQ(t.shape[1], 4);  // in: contiguous
  EXPECT_EQ(f.tensors[0].file_offset, b.size() - data.size());
  EXPECT_EQ(std::memcmp(t.row(2), data.data() + 2 * 4 * 4, 16), 0);
}

TEST(GgufRoundTrip, WriterRejectsInconsistentInput) {
  GgufWriter w;
  auto d = random_bytes(64);
  expect_error([&] { w.add_tensor("a", DType::F32, {4, 4}, d.data(), 60); }, {"'a'", "60"});
  expect_error([&] { w.add_tensor("q", DType::Q4_0, {2, 16}, d.data(), 36); }, {"block"});
  expect_error([&] { w.add_tensor("s", DType::F32, {}, d.data(), 0); }, {"'s'", "dimensions"});
  w.add_tensor("b", DType::F32, {16}, d.data(), 64);
  expect_error([&] { w.add_tensor("b", DType::F32, {16}, d.data(), 64); }, {"duplicate", "'b'"});
  expect_error([&] { w.set_alignment(24); }, {"24", "power of two"});
  GgufWriter bad;
  bad.set("k", MetaValue::array(MetaType::U32, {MetaValue::str("x")}));
  TempDir dir;
  expect_error([&] { bad.write(dir / "bad.gguf"); }, {"'k'", "u32", "string"});
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.gguf"));
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.gguf.tmp"));
  GgufWriter range;
  range.set("r", {MetaType::U8, uint64_t(300)});
  expect_error([&] { range.write(dir / "r.gguf"); }, {"'r'", "300", "u8"});
}

// A 128k-token vocabulary (tokens, scores, types, merges) must parse well under a second.
TEST(GgufRoundTrip, LargeVocabularyParsesQuickly) {
  const size_t n = 128 * 1024;
  std::vector<MetaValue> tokens, scores, types, merges;
  tokens.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    tokens.push_back(MetaValue::str("tok" + std::to_string(i) + random_string(6)));
    scores.push_back(MetaValue::f32(float(i)));
    types.push_back(MetaValue::i32(int32_t(i % 6)));
    merges.push_back(MetaValue::str("a b" + std::to_string(i)));
  }
  GgufWriter w;
  w.set("tokenizer.ggml.tokens", MetaValue::array(MetaType::STRING, tokens));
  w.set("tokenizer.ggml.scores", MetaValue::array(MetaType::F32, scores));
  w.set("tokenizer.ggml.token_type", MetaValue::array(MetaType::I32, types));
  w.set("tokenizer.ggml.merges", MetaValue::array(MetaType::STRING, merges));
  TempDir dir;
  w.write(dir / "vocab.gguf");
  auto t0 = std::chrono::steady_clock::now();
  ModelFile f = open_gguf(dir / "vocab.gguf");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("parsed 4 x %zu-entry arrays in %.1f ms\n", n, secs * 1e3);
  // A guard against pathological (quadratic) parsing, not a speed target: ~40 ms is typical here.
  EXPECT_LT(secs, 5.0);
  auto got = f.metadata.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(got.size(), n);
  size_t k = rng()() % n;
  EXPECT_EQ(got[k], std::get<std::string>(tokens[k].value));
}

TEST(MappedFileTest, EmptyMissingAndInMemory) {
  TempDir dir;
  write_bytes(dir / "empty", {});
  MappedFile e(dir / "empty");
  EXPECT_EQ(e.size(), 0u);
  expect_error([&] { open_gguf(dir / "empty"); }, {"empty", "magic"});
  expect_error([&] { MappedFile m(dir / "missing.gguf"); }, {"missing.gguf"});
  expect_error([&] { MappedFile m(dir.path()); }, {"not a regular file"});
  auto bytes = random_bytes(100);
  write_bytes(dir / "r", bytes);
  MappedFile m(dir / "r");
  ASSERT_EQ(m.size(), 100u);
  EXPECT_EQ(std::memcmp(m.data(), bytes.data(), 100), 0);
  auto mem = MappedFile::from_bytes(bytes.data(), bytes.size(), "buf");
  EXPECT_EQ(mem->path(), "buf");
  EXPECT_EQ(std::memcmp(mem->data(), bytes.data(), 100), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(mem->data()) % 64, 0u);
}

}  // namespace
}  // namespace llmr
