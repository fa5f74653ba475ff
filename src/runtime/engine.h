#pragma once
// A model ready to run: file, weights, tokenizer (when the model has one), backend and transformer.
// The command line and the server start from here.
#include <filesystem>
#include <memory>
#include <string>

#include "model/loaded_model.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace llmr {

struct EngineOptions {
  std::filesystem::path model_path;
  std::string device = "cpu";  // cpu | cuda | reference
  int threads = 0;             // 0 = physical cores
  int64_t n_ctx = 0;           // 0 = the model's training context, capped at 4096
  DType kv_type = DType::F16;
};

class Engine {
 public:
  explicit Engine(const EngineOptions& options);
  ~Engine();

  const ModelConfig& config() const { return model_->config; }
  const LoadedModel& model() const { return *model_; }
  Transformer& transformer() { return *transformer_; }
  Backend& backend() { return *backend_; }
  // Null for models without a text tokenizer (no_vocab GGUF files, bare fixtures).
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  int64_t n_ctx() const { return n_ctx_; }
  // A KV cache in the backend's memory, of n_ctx tokens (0 = the engine's context size).
  std::unique_ptr<KvCache> new_cache(int64_t n_ctx = 0) const;
  double load_seconds() const { return load_seconds_; }

 private:
  EngineOptions options_;
  std::unique_ptr<LoadedModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Transformer> transformer_;
  int64_t n_ctx_ = 0;
  double load_seconds_ = 0;
};

}  // namespace llmr
