// The CPU backend repacks q8_0 / q4_0 / q4_k matrices at load (Q8_0R / Q4_0R / Q4_KR) where its AVX-512
// kernels run: the default model (q8_0) and synthetic q4_0 / q4_k models generate the same greedy tokens
// with repacking as without, from the same logits' bits.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/matmul_kernels.h"
#include "model/kv_cache.h"
#include "model/loaded_model.h"
#include "model/synthetic_model.h"
#include "model/transformer.h"
#include "test_util.h"

namespace llmr {
namespace {

std::vector<int32_t> greedy(Transformer& model, const ModelConfig& config, const std::vector<int32_t>& prompt,
                               int steps, std::vector<float>& logits_seen) {
  KvCache cache(config, 64, DType::F32);
  std::vector<int32_t> out, in = prompt;
  int64_t pos = 0;
  for (int s = 0; s < steps; ++s) {
    const Tensor logits = model.forward(in, pos, cache);
    const float* row = logits.row<float>(logits.rows() - 1);
    logits_seen.insert(logits_seen.end(), row, row + logits.cols());
    pos += int64_t(in.size());
    const int32_t next = int32_t(std::max_element(row, row + logits.cols()) - row);
    out.push_back(next);
    in = {next};
  }
  return out;
}

void check_repacked_model(DType type, DType packed_type) {
  SCOPED_TRACE(name(type));
  const auto path = std::filesystem::temp_directory_path() /
                    ("llmr-q4r-" + std::to_string(getpid()) + "-" + std::to_string(testing::rng()()) + ".gguf");
  write_synthetic_model(synthetic_shape("tiny"), type, testing::rng()(), path, 2);
  auto m = load_model(path);
  std::filesystem::remove(path);  // the mapping keeps the data
  ASSERT_EQ(m->weights.layers.at(0).wq.type, type);
  CpuBackend packed_cpu(2), plain_cpu(2);
  packed_cpu.set_repack_weights(true);
  plain_cpu.set_repack_weights(false);
  // the packed backend really takes the new layout where AVX-512 VNNI runs
  const bool avx512 = cpu::best_level() == cpu::Level::Avx512;
  EXPECT_EQ(packed_cpu.upload_matmul_weight(m->weights.layers.at(0).wq)->tensor().type,
            avx512 ? packed_type : type);
  Transformer packed(m->config, m->weights, packed_cpu), plain(m->config, m->weights, plain_cpu);
  const std::vector<int32_t> prompt = {1, 450, 29, 101, 7, 300, 42, 18, 5};  // T = 9: the panel path
  std::vector<float> lp, lq;
  const auto want = greedy(plain, m->config, prompt, 16, lp);  // then T = 1: the gemv path
  const auto got = greedy(packed, m->config, prompt, 16, lq);
  EXPECT_EQ(got, want);
  ASSERT_EQ(lp.size(), lq.size());
  EXPECT_EQ(std::memcmp(lp.data(), lq.data(), lp.size() * sizeof(float)), 0) << "logits differ";
  // the logits are not degenerate (they vary within a step and between steps)
  const size_t V = lp.size() / 16;
  EXPECT_NE(*std::max_element(lp.begin(), lp.begin() + V), *std::min_element(lp.begin(), lp.begin() + V));
  EXPECT_NE(std::memcmp(lp.data(), lp.data() + V, V * sizeof(float)), 0);
}

TEST(Q8_0RepackModel, GreedyTokensEqualThePlainLayout) {
  auto m = load_model(std::filesystem::path(LLMR_SOURCE_DIR) / "models/default.gguf");
  ASSERT_EQ(m->weights.layers.at(0).wq.type, DType::Q8_0);
  CpuBackend packed_cpu(2), plain_cpu(2);
  packed_cpu.set_repack_weights(true);
  plain_cpu.set_repack_weights(false);
  Transformer packed(m->config, m->weights, packed_cpu), plain(m->config, m->weights, plain_cpu);
  const std::vector<int32_t> prompt = {1, 450, 2987, 1001, 7, 300, 42, 18, 5};  // T = 9: the panel path
  std::vector<float> lp, lq;
  const auto want = greedy(plain, m->config, prompt, 24, lp);
  const auto got = greedy(packed, m->config, prompt, 24, lq);
  EXPECT_EQ(got, want);
  // the repacked kernels keep the plain kernels' float order: the logits are the same bits
  ASSERT_EQ(lp.size(), lq.size());
  EXPECT_EQ(std::memcmp(lp.data(), lq.data(), lp.size() * sizeof(float)), 0);
  // with a distinct generation (not all one token), so the comparison means something
  EXPECT_GT(std::count_if(want.begin(), want.end(), [&](int32_t t) { return t != want[0]; }), 0);
}

TEST(Q4RepackModel, Q4_0GreedyTokensAndLogitsEqualThePlainLayout) { check_repacked_model(DType::Q4_0, DType::Q4_0R); }
TEST(Q4RepackModel, Q4_KGreedyTokensAndLogitsEqualThePlainLayout) { check_repacked_model(DType::Q4_K, DType::Q4_KR); }

}  // namespace
}  // namespace llmr
