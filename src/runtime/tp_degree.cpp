#include "runtime/tp_generator.h"

#include <chrono>

#include "runtime/tp_nccl.h"

namespace llmr {
namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

TpGenerator::TpGenerator(TensorParallelTransformer& model, TpKvCache& cache, const SamplingParams& sampling,
                         int64_t batch)
    : model_(model), cache_(cache), sampler_(sampling), batch_(batch) {
  check(batch > 0, "batch size must be positive");
}

std::vector<int32_t> TpGenerator::generate(std::span<const int32_t> prompt, int64_t n_predict,
                                           const std::function<bool(int32_t)>& on_token,
                                           const std::function<bool(int32_t)>& is_end) {
  check(!prompt.empty(), "the prompt is empty");
  check(int64_t(prompt.size()) < cache_.n_ctx(),
        "the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
            std::to_string(cache_.n_ctx()));
  stats_ = GenerationStats{};
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::vector<int32_t> generated;
  const auto vocab = size_t(model_.config().n_vocab);

  auto t0 = std::chrono::steady_clock::now();
  Tensor logits;
  for (size_t begin = 0; begin < prompt.size(); begin += size_t(batch_)) {
    const size_t n = std::min(prompt.size() - begin, size_t(batch_));
    logits = model_.forward(prompt.subspan(begin, n), int64_t(begin), cache_);
  }
  stats_.prompt_tokens = int64_t(prompt.size());
  stats_.prompt_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n_predict; ++i) {
    const int32_t next = sampler_.sample({logits.row<float>(0), vocab}, history);
    generated.push_back(next);
    history.push_back(next);
    ++stats_.generated_tokens;
    const bool keep_going = on_token ? on_token(next) : true;
    if (!keep_going || (is_end && is_end(next))) break;
    if (int64_t(history.size()) >= cache_.n_ctx() || i + 1 == n_predict) break;
    logits = model_.forward({&history.back(), 1}, int64_t(history.size()) - 1, cache_);
  }
  stats_.generation_seconds = seconds_since(t0);
  return generated;
}

void check_tp_degree_available(int degree, const std::string& device) {
  check(degree >= 1, "--tp " + std::to_string(degree) + ": the tensor-parallel degree must be at least 1");
  if (degree == 1) return;
  const int gpus = visible_gpu_count();
  check(gpus >= degree, "--tp " + std::to_string(degree) + " needs " + std::to_string(degree) +
                            " GPUs; this machine has " + std::to_string(gpus));
  check(device == "cuda", "--tp " + std::to_string(degree) + " splits the model over " + std::to_string(degree) +
                              " GPUs: use --device cuda (on --device " + device + " only --tp 1 runs)");
  throw Error("--tp " + std::to_string(degree) +
              ": tensor parallelism over several GPUs needs the NCCL all-reduce, which is not implemented yet "
              "(see src/runtime/tp_nccl.h); --tp 1 runs the sharded path on one device");
}

}  // namespace llmr
