#include "runtime/generator.h"

namespace llmr {
namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Generator::Generator(ForwardStep step, int64_t n_vocab, int64_t n_ctx, const SamplingParams& sampling, int64_t batch)
    : step_(std::move(step)), n_vocab_(n_vocab), n_ctx_(n_ctx), sampler_(sampling), batch_(batch) {
  check(batch > 0, "batch size must be positive");
}

Generator::Generator(Transformer& model, KvCache& cache, const SamplingParams& sampling, int64_t batch)
    : Generator(ForwardStep{}, model.config().n_vocab, cache.n_ctx(), sampling, batch) {
  const LogitsAt at =
      sampler_.backend_can_sample() && sampler_.device_faster_alone() ? LogitsAt::Backend : LogitsAt::Host;
  step_ = [&model, &cache, at](std::span<const int32_t> tokens, int64_t pos0) {
    return model.forward(tokens, pos0, cache, false, at);
  };
  backend_ = &model.backend();
}

std::vector<int32_t> Generator::generate(std::span<const int32_t> prompt, int64_t n_predict,
                                         const std::function<bool(int32_t)>& on_token,
                                         const std::function<bool(int32_t)>& is_end) {
  check(!prompt.empty(), "the prompt is empty");
  check(int64_t(prompt.size()) < n_ctx_,
        "the prompt has " + std::to_string(prompt.size()) + " tokens; the context holds " +
            std::to_string(n_ctx_));
  stats_ = GenerationStats{};
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  std::vector<int32_t> generated;

  auto t0 = std::chrono::steady_clock::now();
  Tensor logits;
  for (size_t begin = 0; begin < prompt.size(); begin += size_t(batch_)) {
    const size_t n = std::min(prompt.size() - begin, size_t(batch_));
    logits = step_(prompt.subspan(begin, n), int64_t(begin));
  }
  stats_.prompt_tokens = int64_t(prompt.size());
  stats_.prompt_seconds = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n_predict; ++i) {
    const int32_t next = logits.device == Device::Host ? sampler_.sample({logits.row<float>(0), size_t(n_vocab_)}, history)
                                                       : sample_next(sampler_, *backend_, logits, history);
    generated.push_back(next);
    history.push_back(next);
    ++stats_.generated_tokens;
    const bool keep_going = on_token ? on_token(next) : true;
    if (!keep_going || (is_end && is_end(next))) break;
    if (int64_t(history.size()) >= n_ctx_ || i + 1 == n_predict) break;
    logits = step_({&history.back(), 1}, int64_t(history.size()) - 1);
  }
  stats_.generation_seconds = seconds_since(t0);
  return generated;
}

}  // namespace llmr
