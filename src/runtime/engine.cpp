#include "runtime/engine.h"

#include <chrono>

#include "backend/cpu/cpu_backend.h"
#include "ops/reference/reference_backend.h"
#ifdef LLMR_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace llmr {

Engine::Engine(const EngineOptions& options) : options_(options) {
  const auto t0 = std::chrono::steady_clock::now();
  if (options.device == "cpu") backend_ = std::make_unique<CpuBackend>(options.threads);
  else if (options.device == "reference") backend_ = std::make_unique<ReferenceBackend>();
#ifdef LLMR_HAVE_CUDA
  else if (options.device == "cuda") backend_ = make_cuda_backend();
  else throw Error("unknown device '" + options.device + "' (this build has: cpu, cuda, reference)");
#else
  else if (options.device == "cuda") throw Error("this build of llmr has no CUDA backend (configure with -DLLMR_CUDA=ON)");
  else throw Error("unknown device '" + options.device + "' (this build has: cpu, reference)");
#endif

  model_ = load_model(options.model_path);
  if (model_->file.format == FileFormat::Gguf) {
    tokenizer_ = Tokenizer::from_gguf(model_->file.metadata);
  } else if (std::filesystem::exists(options.model_path / "tokenizer.json")) {
    tokenizer_ = Tokenizer::from_hf_dir(options.model_path);
  }
  if (tokenizer_)
    check(tokenizer_->vocab_size() <= model_->config.n_vocab,
          "the tokenizer has " + std::to_string(tokenizer_->vocab_size()) + " tokens, more than the model's " +
              std::to_string(model_->config.n_vocab));
  n_ctx_ = options.n_ctx > 0 ? options.n_ctx : std::min<int64_t>(model_->config.n_ctx_train, 4096);
  transformer_ = std::make_unique<Transformer>(model_->config, model_->weights, *backend_);
  load_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

Engine::~Engine() = default;

std::unique_ptr<KvCache> Engine::new_cache(int64_t n_ctx) const {
  return std::make_unique<KvCache>(model_->config, n_ctx > 0 ? n_ctx : n_ctx_, options_.kv_type, backend_.get());
}

}  // namespace llmr
