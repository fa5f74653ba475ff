// llmr inspect: what a model file holds.
#include <cstdio>
#include <filesystem>
#include <map>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/model_path.h"
#include "model/loaded_model.h"

namespace llmr::cli {
namespace {

std::string tokenizer_kind(const LoadedModel& m) {
  if (m.file.format == FileFormat::Gguf) {
    auto kind = m.file.metadata.string_or("tokenizer.ggml.model");
    if (!kind) return "none";
    if (*kind == "llama") return "sentencepiece-bpe (llama)";
    if (*kind == "gpt2") return "byte-level-bpe (gpt2, pre: " + m.file.metadata.string_or("tokenizer.ggml.pre").value_or("default") + ")";
    return *kind;
  }
  return std::filesystem::exists(m.file.path / "tokenizer.json") ? "tokenizer.json" : "none";
}

bool has_chat_template(const LoadedModel& m) {
  if (m.file.format == FileFormat::Gguf) return m.file.metadata.has("tokenizer.chat_template");
  return std::filesystem::exists(m.file.path / "tokenizer_config.json");
}

int inspect(const std::vector<std::string>& argv) {
  Args args(argv, {"-m"}, {});
  std::filesystem::path path = !args.positional().empty() ? std::filesystem::path(args.positional()[0]) : model_path(args);
  auto m = load_model(path);
  const ModelConfig& c = m->config;
  int64_t params = 0;
  std::map<std::string, int64_t> by_type;
  for (const auto& t : m->file.tensors) {
    params += t.tensor.numel();
    by_type[name(t.tensor.type)] += 1;
  }
  std::printf("file:            %s (%s%s, %.2f MB)\n", path.c_str(),
              m->file.format == FileFormat::Gguf ? "gguf v" : "safetensors",
              m->file.format == FileFormat::Gguf ? std::to_string(m->file.gguf_version).c_str() : "",
              double(m->file.file_bytes) / 1e6);
  std::printf("architecture:    %s\n", architecture_name(c.arch));
  std::printf("parameters:      %lld (%.3f B)\n", (long long)params, double(params) / 1e9);
  std::printf("vocab:           %lld\n", (long long)c.n_vocab);
  std::printf("embedding:       %lld\n", (long long)c.n_embd);
  std::printf("layers:          %lld\n", (long long)c.n_layer);
  std::printf("heads:           %lld (kv %lld, head dim %lld)\n", (long long)c.n_head, (long long)c.n_head_kv,
              (long long)c.head_dim);
  std::printf("feed-forward:    %lld\n", (long long)c.n_ff);
  std::printf("context (train): %lld\n", (long long)c.n_ctx_train);
  std::printf("rms eps:         %g\n", c.rms_eps);
  std::printf("rope:            theta %g, %lld dims, %s, scaling %s%s\n", c.rope_theta, (long long)c.rope_dims,
              c.rope_layout == RopeLayout::NeoX ? "neox" : "interleaved", c.rope_scaling.type.c_str(),
              m->weights.rope_freq_factors.empty() ? "" : " (rope_freqs tensor)");
  std::printf("tied embeddings: %s\n", c.tied_embeddings ? "yes" : "no");
  std::printf("tokenizer:       %s\n", tokenizer_kind(*m).c_str());
  std::printf("chat template:   %s\n", has_chat_template(*m) ? "yes" : "no");
  std::printf("tensors:         %zu (", m->file.tensors.size());
  bool first = true;
  for (const auto& [t, n] : by_type) {
    std::printf("%s%lld %s", first ? "" : ", ", (long long)n, t.c_str());
    first = false;
  }
  std::printf(")\n");
  for (const auto& t : m->file.tensors)
    std::printf("  %-40s %-6s %s\n", t.name.c_str(), name(t.tensor.type), t.tensor.describe().c_str() + std::string(name(t.tensor.type)).size());
  return 0;
}

RegisterCommand reg({"inspect", "architecture, hyperparameters and tensors of a model file", &inspect});

}  // namespace
}  // namespace llmr::cli
