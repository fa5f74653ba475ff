// Synthetic models: the named shapes match the published parameter counts, weights have the
// stated distribution, and a written file loads, binds and runs with the expected types.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "backend/cpu/cpu_backend.h"
#include "model/loaded_model.h"
#include "model/synthetic_model.h"
#include "model/transformer.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

using namespace llmr::testing;

// Parameters of an untied decoder-only model, counted independently of the writer.
int64_t parameter_count(const ModelConfig& c) {
  const int64_t q = c.n_head * c.head_dim, kv = c.n_head_kv * c.head_dim;
  int64_t layer = 2 * c.n_embd + c.n_embd * (q + 2 * kv) + q * c.n_embd + 3 * c.n_embd * c.n_ff;
  if (c.qkv_bias) layer += q + 2 * kv;
  return 2 * c.n_vocab * c.n_embd + c.n_embd + c.n_layer * layer;
}

// Published totals: Meta-Llama-3-8B 8,030,261,248; Llama-2-7b 6,738,415,616; Qwen2-7B
// 7,615,616,512; Llama-3.2-1B 1,235,814,400 tied, plus an untied 128256 x 2048 output.
TEST(SyntheticShape, MatchesPublishedParameterCounts) {
  EXPECT_EQ(parameter_count(synthetic_shape("llama3-8b")), 8'030'261'248);
  EXPECT_EQ(parameter_count(synthetic_shape("llama2-7b")), 6'738'415'616);
  EXPECT_EQ(parameter_count(synthetic_shape("qwen2-7b")), 7'615'616'512);
  EXPECT_EQ(parameter_count(synthetic_shape("llama3-1b")), 1'235'814'400 + 128256 * 2048);
  EXPECT_EQ(synthetic_shape("qwen2-7b").rope_theta, 1e6);
  EXPECT_EQ(synthetic_shape("llama3-8b").n_head_kv, 8);
  EXPECT_TRUE(synthetic_shape("qwen2-7b").qkv_bias);
  EXPECT_FALSE(synthetic_shape("llama3-1b").qkv_bias);
}

TEST(SyntheticShape, UnknownNameListsKnownOnes) {
  try {
    synthetic_shape("llama9-1t");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("llama9-1t"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("llama3-8b"), std::string::npos) << e.what();
  }
}

TEST(SyntheticWeight, NormalLikeWithStd002) {
  const uint64_t seed = rng()();
  const size_t n = 1 << 20;
  double sum = 0, sq = 0, fourth = 0, max_abs = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = synthetic_weight(seed, "blk.0.attn_q.weight", i);
    sum += x, sq += x * x, fourth += x * x * x * x, max_abs = std::max(max_abs, std::abs(x));
  }
  const double mean = sum / n, var = sq / n - mean * mean;
  // Standard error of the mean is 0.02/sqrt(n) = 2e-5; of the std about 1.4e-5: bounds at ~10 sigma.
  EXPECT_NEAR(mean, 0.0, 2e-4);
  EXPECT_NEAR(std::sqrt(var), 0.02, 2e-4);
  // Irwin-Hall(4) kurtosis is 3 - 1.2/4 = 2.7 (a normal's is 3): close to normal, not uniform (1.8).
  EXPECT_NEAR(fourth / n / (var * var), 2.7, 0.05);
  EXPECT_LE(max_abs, 0.02 * std::sqrt(12.0));
  EXPECT_GT(max_abs, 0.02 * 2.5);
}

TEST(SyntheticWeight, PureFunctionOfSeedTensorIndex) {
  const uint64_t seed = rng()();
  const uint64_t i = rng()() % 1000000;
  EXPECT_EQ(synthetic_weight(seed, "output.weight", i), synthetic_weight(seed, "output.weight", i));
  int same_seed = 0, same_tensor = 0, same_index = 0;
  for (uint64_t k = 0; k < 64; ++k) {
    const float x = synthetic_weight(seed, "output.weight", i + k);
    same_seed += x == synthetic_weight(seed + 1, "output.weight", i + k);
    same_tensor += x == synthetic_weight(seed, "token_embd.weight", i + k);
    same_index += x == synthetic_weight(seed, "output.weight", i + k + 1);
  }
  // Values come in steps of 0.02*sqrt(3)/65536, so equal draws happen but rarely.
  EXPECT_LT(same_seed, 4);
  EXPECT_LT(same_tensor, 4);
  EXPECT_LT(same_index, 4);
}

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("llmr-synth-" + std::to_string(getpid()) + "-" + std::to_string(rng()()) + "-" + name);
}

std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct Written {
  std::filesystem::path path;
  ~Written() { std::filesystem::remove(path); }
};

// The file loads through the normal path; types follow storage_type_for; stored values decode to
// the generator's values within the type's rounding; a forward pass gives finite logits.
void check_written_model(const std::string& shape, DType type, float tolerance) {
  SCOPED_TRACE(shape + " " + name(type));
  const uint64_t seed = rng()();
  Written file{temp_path(shape + ".gguf")};
  const ModelConfig c = synthetic_shape(shape);
  const SyntheticModelInfo made = write_synthetic_model(c, type, seed, file.path, 2);
  EXPECT_EQ(made.parameters, parameter_count(c));
  EXPECT_EQ(made.file_bytes, std::filesystem::file_size(file.path));

  auto model = load_model(file.path);
  EXPECT_EQ(model->file.metadata.get_string("tokenizer.ggml.model"), "no_vocab");
  const std::string arch = architecture_name(c.arch);
  EXPECT_EQ(model->file.metadata.get_int(arch + ".vocab_size"), c.n_vocab);
  EXPECT_EQ(model->config.n_layer, c.n_layer);
  EXPECT_EQ(model->config.n_head_kv, c.n_head_kv);
  EXPECT_EQ(model->config.qkv_bias, c.qkv_bias);

  int64_t params = 0;
  for (const auto& e : model->file.tensors) {
    int64_t n = 1;
    for (int d = 0; d < e.tensor.ndim; ++d) n *= e.tensor.shape[d];
    params += n;
    if (e.tensor.ndim == 1) {
      EXPECT_EQ(e.tensor.type, DType::F32) << e.name;
      const float first = static_cast<const float*>(e.tensor.data)[0];
      if (e.name.find("norm") != std::string::npos) EXPECT_EQ(first, 1.0f) << e.name;
      else EXPECT_NEAR(first, synthetic_weight(seed, e.name, 0), 1e-7) << e.name;
      continue;
    }
    // The only row length here that is not whole 256-blocks is ffn_down's (n_ff = 640).
    const bool whole = e.tensor.cols() % info(type).block_elems == 0;
    EXPECT_EQ(e.tensor.type, whole ? type : DType::Q8_0) << e.name;
    // Decode a random row and compare with the generator.
    const int64_t r = int64_t(rng()() % uint64_t(e.tensor.rows())), cols = e.tensor.cols();
    std::vector<float> row(static_cast<size_t>(cols)), want(static_cast<size_t>(cols));
    dequantize_row(e.tensor.type, e.tensor.row(r), row.data(), cols);
    double err = 0;
    for (int64_t j = 0; j < cols; ++j) {
      want[size_t(j)] = synthetic_weight(seed, e.name, uint64_t(r * cols + j));
      err = std::max(err, double(std::abs(row[size_t(j)] - want[size_t(j)])));
    }
    EXPECT_LE(err, tolerance) << e.name << " row " << r;
  }
  EXPECT_EQ(params, parameter_count(c));

  CpuBackend backend(2);
  Transformer t(model->config, model->weights, backend);
  KvCache cache(model->config, 16, DType::F16, &backend);
  std::vector<int32_t> ids = {1, int32_t(c.n_vocab - 1), 7};
  Tensor logits = t.forward(ids, 0, cache);
  double norm = 0;
  for (int64_t v = 0; v < c.n_vocab; ++v) {
    ASSERT_TRUE(std::isfinite(logits.row<float>(0)[v]));
    norm += std::abs(logits.row<float>(0)[v]);
  }
  EXPECT_GT(norm, 0.0);
}

// Tolerances for weights within |x| <= 0.07 (0.02 * sqrt(12)): q8_0 rounds to half a step of
// max/127; q4_0 to a full step of max/8 (the clamp at +7); q4_k/q6_k to about half a step of
// range/15 and range/63 plus the rounding of their scales; f16 to 2^-11 relative.
TEST(SyntheticModel, TinyLlamaQ8_0) { check_written_model("tiny", DType::Q8_0, 0.07f / 127); }
TEST(SyntheticModel, TinyLlamaQ4_0) { check_written_model("tiny", DType::Q4_0, 0.07f / 8); }
TEST(SyntheticModel, TinyLlamaQ4_K) { check_written_model("tiny", DType::Q4_K, 0.07f / 8); }
TEST(SyntheticModel, TinyQwen2F16) { check_written_model("tiny-qwen2", DType::F16, 1e-4f); }
TEST(SyntheticModel, TinyQwen2Q6_K) { check_written_model("tiny-qwen2", DType::Q6_K, 0.07f / 32); }

TEST(SyntheticModel, SameSeedSameFileOtherSeedOtherFile) {
  const uint64_t seed = rng()();
  Written a{temp_path("a.gguf")}, b{temp_path("b.gguf")}, c{temp_path("c.gguf")};
  write_synthetic_model(synthetic_shape("tiny"), DType::Q4_0, seed, a.path, 2);
  write_synthetic_model(synthetic_shape("tiny"), DType::Q4_0, seed, b.path, 1);  // thread count is irrelevant
  write_synthetic_model(synthetic_shape("tiny"), DType::Q4_0, seed + 1, c.path, 2);
  const std::string x = file_text(a.path);
  EXPECT_GT(x.size(), 500000u);
  EXPECT_TRUE(x == file_text(b.path));
  EXPECT_FALSE(x == file_text(c.path));
}

}  // namespace
}  // namespace llmr
