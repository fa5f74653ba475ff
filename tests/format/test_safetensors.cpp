// safetensors files and Hugging Face directories: round trips, shards, and hostile input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "format/gguf_writer.h"
#include "format/mapped_file.h"
#include "format/model_file.h"
#include "format/safetensors.h"
#include "format/safetensors_writer.h"
#include "format_test_util.h"

namespace llmr {
namespace {

using namespace llmr::testing;

struct Owned {
  std::string name;
  DType type;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  SafetensorsTensor view() const { return {name, type, shape, bytes.data(), bytes.size()}; }
};

Owned random_tensor(const std::string& name, DType t, std::vector<int64_t> shape) {
  size_t n = 1;
  for (auto d : shape) n *= size_t(d);
  return {name, t, shape, random_bytes(n * info(t).block_bytes)};
}

void write_all(const std::filesystem::path& p, const std::vector<Owned>& ts,
               const std::map<std::string, std::string>& md = {}) {
  std::vector<SafetensorsTensor> v;
  for (const auto& t : ts) v.push_back(t.view());
  write_safetensors(p, v, md);
}

void expect_tensor(const ModelFile& f, const Owned& want) {
  const TensorEntry& e = f.get(want.name);
  SCOPED_TRACE(want.name);
  EXPECT_EQ(e.tensor.type, want.type);
  std::vector<int64_t> shape = want.shape.empty() ? std::vector<int64_t>{1} : want.shape;
  ASSERT_EQ(e.tensor.ndim, int(shape.size()));
  for (int d = 0; d < e.tensor.ndim; ++d) EXPECT_EQ(e.tensor.shape[d], shape[d]);
  ASSERT_EQ(e.nbytes, want.bytes.size());
  if (e.nbytes) {
    EXPECT_EQ(std::memcmp(e.tensor.data, want.bytes.data(), e.nbytes), 0);
  }
}

// A file from raw header text and data bytes, for hostile headers.
Bytes st_bytes(const std::string& header, size_t data_bytes, uint64_t claimed_len = 0) {
  Bytes b;
  b.put<uint64_t>(claimed_len ? claimed_len : header.size()).raw(header);
  auto d = random_bytes(data_bytes);
  return b.raw(d.data(), d.size());
}

ModelFile parse(const Bytes& b) {
  return parse_safetensors(MappedFile::from_bytes(b.b.data(), b.size(), "bad.safetensors"));
}

void expect_bad(const std::string& header, size_t data, std::initializer_list<std::string> frags) {
  std::string msg = expect_error([&] { parse(st_bytes(header, data)); }, frags);
  EXPECT_EQ(msg.rfind("bad.safetensors: ", 0), 0u) << msg;
}

TEST(Safetensors, RoundTripEveryDtypeAndMetadata) {
  TempDir dir;
  std::vector<Owned> ts = {random_tensor("a.weight", DType::F32, {3, 5}),
                           random_tensor("b.weight", DType::F16, {2, 3, 4}),
                           random_tensor("c.norm", DType::BF16, {7}),
                           random_tensor("d.scalar", DType::F32, {}),
                           random_tensor("e.four", DType::BF16, {2, 1, 2, 3}),
                           random_tensor("f.empty", DType::F16, {0, 4})};
  write_all(dir / "m.safetensors", ts, {{"format", "pt"}, {"note", "h\u00e9llo"}});
  ModelFile f = parse_safetensors(MappedFile::open(dir / "m.safetensors"));
  EXPECT_EQ(f.format, FileFormat::Safetensors);
  ASSERT_EQ(f.tensors.size(), ts.size());
  for (const auto& t : ts) expect_tensor(f, t);
  EXPECT_EQ(f.metadata.get_string("format"), "pt");
  EXPECT_EQ(f.metadata.get_string("note"), "h\u00e9llo");
  EXPECT_EQ(f.file_bytes, std::filesystem::file_size(dir / "m.safetensors"));
  // Tensors are listed in file order, and file_offset is absolute.
  const auto* base = f.mappings[0]->data();
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    EXPECT_EQ(static_cast<const uint8_t*>(f.tensors[i].tensor.data), base + f.tensors[i].file_offset);
    if (i) {
      EXPECT_LE(f.tensors[i - 1].file_offset, f.tensors[i].file_offset);
    }
  }
}

TEST(Safetensors, BadHeaders) {
  expect_bad("{not json", 0, {"not valid JSON"});
  expect_bad("[1, 2]", 0, {"not a JSON object"});
  expect_bad(R"({"w": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}})", 16, {"tensor 'w'", "unsupported dtype I64"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}})", 8, {"tensor 'w'", "past the data section"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 8, {"tensor 'w'", "reversed"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 16, {"tensor 'w'", "8 bytes", "need 12"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [-3], "data_offsets": [0, 8]}})", 16, {"tensor 'w'", "shape"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]}})", 16, {"tensor 'w'", "shape"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [1,1,1,1,1], "data_offsets": [0, 4]}})", 16, {"tensor 'w'", "5 dimensions"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 16,
             {"tensor 'w'", "overflows"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [2305843009213693952, 4], "data_offsets": [0, 4]}})", 16,
             {"tensor 'w'", "overflows"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, -8]}})", 16, {"tensor 'w'", "data_offsets[1]"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [2]}})", 16, {"tensor 'w'", "data_offsets"});
  expect_bad(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", 16, {"tensor 'w'", "dtype"});
  expect_bad(R"({"w": 5})", 16, {"tensor 'w'", "not an object"});
  expect_bad(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                 "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 16, {"'w'", "twice"});
  expect_bad(R"({"__metadata__": {"k": 1}})", 0, {"__metadata__", "'k'", "not a string"});
  expect_bad(R"({"__metadata__": [1]})", 0, {"__metadata__", "not an object"});
  expect_bad(R"({"w": {"dtype": [[[[[[[[[[[[1]]]]]]]]]]]]}})", 0, {"nests deeper"});
  expect_bad("{\"w\xff\": {}}", 0, {"not valid JSON"});  // invalid UTF-8
}

TEST(Safetensors, HeaderLengthAbsurdOrPastTheEnd) {
  std::string h = R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  expect_error([&] { parse(st_bytes(h, 4, uint64_t(1) << 40)); }, {"header length", "exceeds the limit"});
  expect_error([&] { parse(st_bytes(h, 4, h.size() + 5)); }, {"header length", "past the end"});
  expect_error([&] { parse(st_bytes("", 0, 0)); }, {"not valid JSON"});
  Bytes tiny;
  tiny.put<uint32_t>(2);
  expect_error([&] { parse(tiny); }, {"too short"});
}

TEST(Safetensors, TruncatedAtEveryByte) {
  TempDir dir;
  write_all(dir / "ok.safetensors", {random_tensor("x", DType::F32, {2, 2}), random_tensor("y", DType::F16, {3})});
  auto bytes = read_bytes(dir / "ok.safetensors");
  EXPECT_NO_THROW(parse_safetensors(MappedFile::from_bytes(bytes.data(), bytes.size())));
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(parse_safetensors(MappedFile::from_bytes(bytes.data(), n)), Error) << "prefix " << n;
}

std::string index_json(const std::map<std::string, std::string>& weight_map) {
  std::string s = R"({"metadata": {"total_size": 1}, "weight_map": {)";
  bool first = true;
  for (const auto& [k, v] : weight_map) {
    s += (first ? "" : ", ") + ("\"" + k + "\": \"" + v + "\"");
    first = false;
  }
  return s + "}}";
}

TEST(HfDirectory, SingleFile) {
  TempDir dir;
  write_text(dir / "config.json", R"({"model_type": "llama", "hidden_size": 8})");
  std::vector<Owned> ts = {random_tensor("model.embed_tokens.weight", DType::BF16, {10, 8}),
                           random_tensor("model.norm.weight", DType::F32, {8})};
  write_all(dir / "model.safetensors", ts);
  for (const ModelFile& f : {open_hf_directory(dir.path()), open_model_file(dir.path())}) {
    EXPECT_EQ(f.format, FileFormat::Safetensors);
    EXPECT_EQ(f.path, dir.path());
    EXPECT_NE(f.hf_config_json.find("\"llama\""), std::string::npos);
    for (const auto& t : ts) expect_tensor(f, t);
    EXPECT_EQ(f.file_bytes, std::filesystem::file_size(dir / "model.safetensors"));
  }
}

void make_sharded(const TempDir& dir, std::vector<Owned>& a, std::vector<Owned>& b) {
  write_text(dir / "config.json", R"({"model_type": "qwen3"})");
  a = {random_tensor("l0.q.weight", DType::BF16, {4, 8}), random_tensor("l0.k.weight", DType::BF16, {2, 8})};
  b = {random_tensor("l1.q.weight", DType::F16, {4, 8}), random_tensor("norm.weight", DType::F32, {8})};
  write_all(dir / "model-00001-of-00002.safetensors", a, {{"format", "pt"}});
  write_all(dir / "model-00002-of-00002.safetensors", b);
}

std::map<std::string, std::string> weight_map(const std::vector<Owned>& a, const std::vector<Owned>& b) {
  std::map<std::string, std::string> m;
  for (const auto& t : a) m[t.name] = "model-00001-of-00002.safetensors";
  for (const auto& t : b) m[t.name] = "model-00002-of-00002.safetensors";
  return m;
}

TEST(HfDirectory, Sharded) {
  TempDir dir;
  std::vector<Owned> a, b;
  make_sharded(dir, a, b);
  write_text(dir / "model.safetensors.index.json", index_json(weight_map(a, b)));
  ModelFile f = open_model_file(dir.path());
  ASSERT_EQ(f.tensors.size(), 4u);
  for (const auto& t : a) expect_tensor(f, t);
  for (const auto& t : b) expect_tensor(f, t);
  EXPECT_EQ(f.mappings.size(), 2u);
  EXPECT_EQ(f.metadata.get_string("format"), "pt");
  EXPECT_EQ(f.file_bytes, std::filesystem::file_size(dir / "model-00001-of-00002.safetensors") +
                              std::filesystem::file_size(dir / "model-00002-of-00002.safetensors"));
}

TEST(HfDirectory, BadDirectories) {
  TempDir dir;
  std::vector<Owned> a, b;
  make_sharded(dir, a, b);
  auto wm = weight_map(a, b);
  expect_error([&] { open_hf_directory(dir.path()); }, {"neither model.safetensors nor model.safetensors.index.json"});

  auto missing = wm;
  missing["extra.weight"] = "model-00003-of-00003.safetensors";
  write_text(dir / "model.safetensors.index.json", index_json(missing));
  expect_error([&] { open_hf_directory(dir.path()); }, {"model-00003-of-00003.safetensors", "missing"});

  auto escape = wm;
  escape["x"] = "../model-00001-of-00002.safetensors";
  write_text(dir / "model.safetensors.index.json", index_json(escape));
  expect_error([&] { open_hf_directory(dir.path()); }, {"not a plain file name"});

  auto absent = wm;
  absent["ghost.weight"] = "model-00002-of-00002.safetensors";
  write_text(dir / "model.safetensors.index.json", index_json(absent));
  expect_error([&] { open_hf_directory(dir.path()); }, {"'ghost.weight'", "in no shard"});

  auto moved = wm;
  moved["norm.weight"] = "model-00001-of-00002.safetensors";
  write_text(dir / "model.safetensors.index.json", index_json(moved));
  expect_error([&] { open_hf_directory(dir.path()); }, {"'norm.weight'", "model-00002-of-00002.safetensors"});

  write_text(dir / "model.safetensors.index.json", R"({"weight_map": [1]})");
  expect_error([&] { open_hf_directory(dir.path()); }, {"weight_map"});
  write_text(dir / "model.safetensors.index.json", "{");
  expect_error([&] { open_hf_directory(dir.path()); }, {"model.safetensors.index.json", "not valid JSON"});

  // The same tensor in both shards.
  write_all(dir / "model-00002-of-00002.safetensors", {b[0], a[1]});
  write_text(dir / "model.safetensors.index.json", index_json(wm));
  expect_error([&] { open_hf_directory(dir.path()); },
               {"'l0.k.weight'", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"});

  write_text(dir / "config.json", "[1, 2]");
  expect_error([&] { open_hf_directory(dir.path()); }, {"config.json", "not a JSON object"});
  write_text(dir / "config.json", "{\"a\": ");
  expect_error([&] { open_hf_directory(dir.path()); }, {"config.json", "not valid JSON"});
  std::filesystem::remove(dir / "config.json");
  expect_error([&] { open_hf_directory(dir.path()); }, {"config.json", "missing"});
}

TEST(OpenModelFile, DispatchesOnDirectoryOrMagic) {
  TempDir dir;
  auto d = random_bytes(16);
  GgufWriter w;
  w.set("general.architecture", MetaValue::str("llama"));
  w.add_tensor("t", DType::F32, {4}, d.data(), d.size());
  w.write(dir / "m.gguf");
  ModelFile g = open_model_file(dir / "m.gguf");
  EXPECT_EQ(g.format, FileFormat::Gguf);
  EXPECT_EQ(g.get("t").nbytes, 16u);

  write_bytes(dir / "junk.bin", random_bytes(100));
  expect_error([&] { open_model_file(dir / "junk.bin"); }, {"junk.bin", "neither a GGUF file"});
  write_all(dir / "lone.safetensors", {random_tensor("x", DType::F32, {2})});
  expect_error([&] { open_model_file(dir / "lone.safetensors"); }, {"lone.safetensors", "config.json"});
  expect_error([&] { open_model_file(dir / "nothing"); }, {"nothing", "no such file"});
  expect_error([&] { open_model_file(dir.path()); }, {"config.json"});
}

}  // namespace
}  // namespace llmr

namespace llmr {
namespace {

// The fixture models were written by transformers itself: real-world files, independent of our writer.
TEST(HfDirectory, OpensTransformersWrittenFixtures) {
  const std::filesystem::path root = std::filesystem::path(LLMR_SOURCE_DIR) / "tests/fixtures";
  int opened = 0;
  for (const auto& d : std::filesystem::directory_iterator(root)) {
    if (!std::filesystem::exists(d.path() / "model.safetensors")) continue;
    SCOPED_TRACE(d.path().string());
    ModelFile f = open_model_file(d.path());
    ++opened;
    auto config = nlohmann::json::parse(f.hf_config_json);
    const int64_t hidden = config.at("hidden_size").get<int64_t>();
    const int64_t vocab = config.at("vocab_size").get<int64_t>();
    const TensorEntry& emb = f.get("model.embed_tokens.weight");
    ASSERT_EQ(emb.tensor.ndim, 2);
    EXPECT_EQ(emb.tensor.shape[0], vocab);
    EXPECT_EQ(emb.tensor.shape[1], hidden);
    const TensorEntry& q = f.get("model.layers.0.self_attn.q_proj.weight");
    EXPECT_EQ(q.tensor.cols(), hidden);  // [out, in]
    EXPECT_EQ(f.metadata.get_string("format"), "pt");
    EXPECT_GE(f.tensors.size(), size_t(2 + 9 * config.at("num_hidden_layers").get<int>()));
  }
  EXPECT_GT(opened, 0);
}

}  // namespace
}  // namespace llmr
