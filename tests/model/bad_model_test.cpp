// Model files whose tensors do not fit their own config are refused with an error naming the fault.
#include <gtest/gtest.h>

#include <unistd.h>

#include "fixture_util.h"
#include "format/gguf_writer.h"
#include "model/gguf_export.h"
#include "model/loaded_model.h"

namespace llmr {
namespace {

std::filesystem::path temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("llmr-bad-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

// Rewrites a good GGUF with one change applied by `edit` to the metadata or the tensor list.
struct Rewrite {
  Metadata metadata;
  struct T {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    size_t nbytes;
  };
  std::vector<T> tensors;
};

std::string load_error(const std::function<void(Rewrite&)>& edit) {
  static const auto good = [] {
    auto p = temp_path("good.gguf");
    convert_hf_to_gguf(testing::fixtures_dir() / "qwen2", p, DType::F32);
    return p;
  }();
  ModelFile file = open_gguf(good);
  Rewrite r{file.metadata, {}};
  for (const auto& t : file.tensors)
    r.tensors.push_back({t.name, t.tensor.type, std::vector<int64_t>(t.tensor.shape.begin(), t.tensor.shape.begin() + t.tensor.ndim),
                         t.tensor.data, t.nbytes});
  edit(r);
  GgufWriter w;
  w.set_metadata(r.metadata);
  for (const auto& t : r.tensors) w.add_tensor(t.name, t.type, t.shape, t.data, t.nbytes);
  auto path = temp_path("bad.gguf");
  w.write(path);
  try {
    load_model(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(BadModel, MissingTensorIsNamed) {
  auto msg = load_error([](Rewrite& r) {
    std::erase_if(r.tensors, [](const auto& t) { return t.name == "blk.1.ffn_up.weight"; });
  });
  EXPECT_NE(msg.find("blk.1.ffn_up.weight"), std::string::npos) << msg;
}

TEST(BadModel, ShapeThatDoesNotMatchTheConfigIsNamed) {
  auto msg = load_error([](Rewrite& r) { r.metadata.set("qwen2.feed_forward_length", MetaValue::u32(321)); });
  EXPECT_NE(msg.find("ffn_gate"), std::string::npos) << msg;
  EXPECT_NE(msg.find("321"), std::string::npos) << msg;
}

TEST(BadModel, HeadCountsThatDoNotDivideAreRefused) {
  auto msg = load_error([](Rewrite& r) { r.metadata.set("qwen2.attention.head_count_kv", MetaValue::u32(3)); });
  EXPECT_NE(msg.find("head"), std::string::npos) << msg;
}

TEST(BadModel, AbsurdSizesAreRefusedBeforeAllocating) {
  auto msg = load_error([](Rewrite& r) { r.metadata.set("qwen2.block_count", MetaValue::u32(4000000000u)); });
  EXPECT_NE(msg.find("block count"), std::string::npos) << msg;
  msg = load_error([](Rewrite& r) { r.metadata.set("qwen2.embedding_length", MetaValue::u32(0)); });
  EXPECT_NE(msg.find("embedding"), std::string::npos) << msg;
}

TEST(BadModel, UnknownArchitectureIsNamed) {
  auto msg = load_error([](Rewrite& r) { r.metadata.set("general.architecture", MetaValue::str("mamba")); });
  EXPECT_NE(msg.find("mamba"), std::string::npos) << msg;
}

TEST(BadModel, WrongTypedKeyIsNamed) {
  auto msg = load_error([](Rewrite& r) { r.metadata.set("qwen2.block_count", MetaValue::str("two")); });
  EXPECT_NE(msg.find("qwen2.block_count"), std::string::npos) << msg;
}

TEST(BadModel, HfConfigMismatchIsNamed) {
  auto dir = temp_path("hf-bad");
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(testing::fixtures_dir() / "llama2/model.safetensors", dir / "model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  std::ifstream in(testing::fixtures_dir() / "llama2/config.json");
  auto cfg = nlohmann::json::parse(in);
  cfg["hidden_size"] = 96;
  std::ofstream(dir / "config.json") << cfg.dump();
  try {
    load_model(dir);
    FAIL() << "a config that does not match the tensors loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
  cfg["model_type"] = "gpt_neox";
  std::ofstream(dir / "config.json") << cfg.dump();
  try {
    load_model(dir);
    FAIL() << "an unsupported model_type loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gpt_neox"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace llmr
