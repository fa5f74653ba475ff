#include "model/model_config.h"

#include <cmath>

#include "core/error.h"

namespace llmr {

const char* architecture_name(Architecture a) {
  switch (a) {
    case Architecture::Llama: return "llama";
    case Architecture::Qwen2: return "qwen2";
    case Architecture::Qwen3: return "qwen3";
  }
  return "?";
}

void ModelConfig::validate() const {
  auto positive = [](int64_t v, int64_t max, const char* field) {
    check(v > 0 && v <= max, std::string("model config: ") + field + " = " + std::to_string(v) +
                                 " is out of range (1.." + std::to_string(max) + ")");
  };
  positive(n_vocab, 1 << 24, "vocab size");
  positive(n_embd, 1 << 17, "embedding length");
  positive(n_layer, 4096, "block count");
  positive(n_head, 4096, "attention head count");
  positive(n_head_kv, 4096, "attention head count (kv)");
  positive(head_dim, 4096, "head dimension");
  positive(n_ff, 1 << 20, "feed-forward length");
  positive(n_ctx_train, 1 << 24, "context length");
  check(n_head % n_head_kv == 0, "model config: head count " + std::to_string(n_head) +
                                     " is not a multiple of the kv head count " + std::to_string(n_head_kv));
  check(rope_dims > 0 && rope_dims <= head_dim && rope_dims % 2 == 0,
        "model config: rope dimension count " + std::to_string(rope_dims) + " does not fit head size " +
            std::to_string(head_dim));
  check(std::isfinite(rms_eps) && rms_eps > 0 && rms_eps < 1, "model config: rms epsilon out of range");
  check(std::isfinite(rope_theta) && rope_theta > 0, "model config: rope theta must be positive");
  check(std::isfinite(rope_scaling.factor) && rope_scaling.factor > 0, "model config: rope scaling factor must be positive");
}

std::vector<float> ModelConfig::rope_inv_freq(const std::vector<float>* freq_factors) const {
  const int64_t n = rope_dims / 2;
  std::vector<float> inv(n);
  for (int64_t i = 0; i < n; ++i) {
    double f = std::pow(rope_theta, -2.0 * double(i) / double(rope_dims));
    if (freq_factors) {
      f /= (*freq_factors)[i];
    } else if (rope_scaling.type == "linear") {
      f /= rope_scaling.factor;
    } else if (rope_scaling.type == "llama3") {
      // Llama 3.1: long wavelengths slow down by `factor`, short ones stay, a smooth ramp between.
      const double low_wavelen = rope_scaling.original_context / rope_scaling.low_freq_factor;
      const double high_wavelen = rope_scaling.original_context / rope_scaling.high_freq_factor;
      const double wavelen = 2 * M_PI / f;
      if (wavelen > low_wavelen) {
        f /= rope_scaling.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (rope_scaling.original_context / wavelen - rope_scaling.low_freq_factor) /
                              (rope_scaling.high_freq_factor - rope_scaling.low_freq_factor);
        f = (1 - smooth) * f / rope_scaling.factor + smooth * f;
      }
    }
    inv[i] = float(f);
  }
  return inv;
}

}  // namespace llmr
