// Generation with the tokens drawn on the GPU (Backend::sample on logits left in device memory)
// follows the seed as drawing on the host from the downloaded logits does: each fixture model on the
// CUDA backend, 24 tokens at the server's defaults, with nothing cut, and greedy, and (host path in
// both) with a repetition penalty. The two generators share one Transformer, so they see the same
// logits; a draw may differ only where u lies within summation rounding (~1e-7 relative) of a
// boundary of the running sums, which none of these few hundred draws should meet.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "model/fixture_util.h"
#include "model/kv_cache.h"
#include "model/loaded_model.h"
#include "model/transformer.h"
#include "runtime/generator.h"
#include "test_util.h"

namespace llmr::testing {
namespace {

TEST(CudaSampleGeneration, DeviceDrawsFollowTheSeedAsHostDraws) {
  auto backend = make_cuda_backend(0);
  for (const std::string& name : fixture_names()) {
    Fixture f = load_fixture(name);
    auto m = load_model(f.dir);
    Transformer tf(m->config, m->weights, *backend);
    const std::vector<int32_t> prompt = f.ids("prompt_ids");
    SamplingParams settings[4];
    settings[0].temperature = 0.8f;  // top-k 40, top-p 0.95, min-p 0.05
    settings[1] = {1.0f, 0, 1.0f, 0.0f, 1.0f, 64, 0};
    settings[2].temperature = 0;
    settings[3].repeat_penalty = 1.3f;
    for (SamplingParams p : settings) {
      p.seed = rng()();
      KvCache on_device_cache(m->config, 64, DType::F16, backend.get()), on_host_cache(m->config, 64, DType::F16, backend.get());
      Generator on_device(tf, on_device_cache, p, 16);
      Generator on_host([&](std::span<const int32_t> tokens, int64_t pos0) { return tf.forward(tokens, pos0, on_host_cache); },
                        m->config.n_vocab, on_host_cache.n_ctx(), p, 16);
      const auto a = on_device.generate(prompt, 24, nullptr);
      const auto b = on_host.generate(prompt, 24, nullptr);
      EXPECT_EQ(a, b) << name << " temperature " << p.temperature << " top_k " << p.top_k << " repeat_penalty "
                      << p.repeat_penalty << " seed " << p.seed;
    }
  }
}

}  // namespace
}  // namespace llmr::testing
