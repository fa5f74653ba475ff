// The CPU backend repacks q8_0 matrices at load (Q8_0R) where its AVX-512 kernels run: the default
// model (q8_0) generates the same greedy tokens with repacking as without, from the same logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/matmul_kernels.h"
#include "model/kv_cache.h"
#include "model/loaded_model.h"
#include "model/transformer.h"

namespace llmr {
namespace {

std::vector<int32_t> greedy(Transformer& model, const ModelConfig& config, const std::vector<int32_t>& prompt,
                            int steps, std::vector<float>& logits_seen) {
  KvCache cache(config, 64, DType::F32);
  std::vector<int32_t> out;
  std::vector<int32_t> in = prompt;
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

}  // namespace
}  // namespace llmr
