#include "model/synthetic_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "backend/cpu/thread_pool.h"
#include "core/error.h"
#include "format/gguf_writer.h"
#include "model/gguf_export.h"
#include "model/tensor_names.h"
#include "tensor/half.h"
#include "tensor/quant.h"
#include "tensor/quant_blocks.h"
#include "tensor/quant_impl.h"

namespace llmr {
namespace {

struct NamedShape {
  const char* name;
  Architecture arch;
  int64_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
  double rope_theta, rms_eps;
};

// Published configs (config.json of each model); llama3-1b is Llama 3.2 1B with an untied output.
constexpr NamedShape kShapes[] = {
    {"llama3-8b", Architecture::Llama, 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0, 1e-5},
    {"llama3-1b", Architecture::Llama, 2048, 16, 32, 8, 8192, 128256, 131072, 500000.0, 1e-5},
    {"llama2-7b", Architecture::Llama, 4096, 32, 32, 32, 11008, 32000, 4096, 10000.0, 1e-5},
    {"qwen2-7b", Architecture::Qwen2, 3584, 28, 28, 4, 18944, 152064, 32768, 1000000.0, 1e-6},
    // A few MB, for tests: ff 640 is not a whole number of 256-blocks, so k-quants fall back there.
    {"tiny", Architecture::Llama, 256, 2, 4, 2, 640, 512, 2048, 10000.0, 1e-5},
    {"tiny-qwen2", Architecture::Qwen2, 256, 2, 4, 2, 640, 512, 2048, 1000000.0, 1e-6},
};

uint64_t mix64(uint64_t x) {  // splitmix64's finalizer: a bijection with full avalanche
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t tensor_key(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the name, so values do not depend on write order
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
  return mix64(seed ^ mix64(h));
}

constexpr float kStd = 0.02f;
// Four 16-bit uniforms summed (Irwin-Hall, within 3.5 sigma), centred and scaled to std kStd.
inline float weight_from_key(uint64_t key, uint64_t index) {
  const uint64_t h = mix64(key + index * 0x9e3779b97f4a7c15ULL);
  const int64_t sum = int64_t(h & 0xffff) + int64_t((h >> 16) & 0xffff) + int64_t((h >> 32) & 0xffff) +
                      int64_t(h >> 48);
  // Each uniform on {0..65535} has variance (65536^2 - 1) / 12, four of them 65536^2 / 3.
  constexpr float scale = 1.7320508f / 65536.0f * kStd;
  return float(sum - 2 * 65535) * scale;
}

// q4_k by each sub-block's min and max, without the reference quantizer's 21-step refit search:
// that search costs minutes on a 1.5 B model, and random weights need a valid encoding, not the
// closest one. Same block layout and scale packing as quantize_row.
void encode_q4_k_minmax(const float* x, void* dst, int64_t n) {
  auto* blocks = static_cast<quant::BlockQ4_K*>(dst);
  for (int64_t i = 0; i < n / quant::kQKK; ++i, x += quant::kQKK) {
    quant::BlockQ4_K& b = blocks[i];
    float scales[8], mins[8], d[8], min[8];
    for (int j = 0; j < 8; ++j) {
      float lo = 0, hi = 0;  // the range includes 0, so mins are >= 0 as the format stores them
      for (int l = 0; l < 32; ++l) lo = std::min(lo, x[32 * j + l]), hi = std::max(hi, x[32 * j + l]);
      scales[j] = (hi - lo) / 15;
      mins[j] = -lo;
    }
    quant::pack_q4_k_scales(b, scales, mins, d, min);
    uint8_t levels[quant::kQKK];
    for (int j = 0; j < 8; ++j)
      for (int l = 0; l < 32; ++l) {
        const long q = d[j] > 0 ? std::lround((x[32 * j + l] + min[j]) / d[j]) : 0;
        levels[32 * j + l] = uint8_t(std::clamp(q, 0L, 15L));
      }
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) b.qs[32 * c + l] = uint8_t(levels[64 * c + l] | (levels[64 * c + 32 + l] << 4));
  }
}

void encode_row(DType type, const float* x, void* dst, int64_t n) {
  if (type == DType::Q4_K) encode_q4_k_minmax(x, dst, n);
  else quantize_row(type, x, dst, n);
}

// Fills a [rows, cols] tensor of `type`: each row made in f32 and encoded, rows spread over threads.
void fill_matrix(void* dst, DType type, int64_t rows, int64_t cols, uint64_t key, cpu::ThreadPool& pool) {
  const size_t rb = row_bytes(type, cols);
  pool.parallel_for(rows, std::max<int64_t>(1, 16384 / cols), [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const uint64_t base = uint64_t(r) * uint64_t(cols);
      for (int64_t c = 0; c < cols; ++c) row[size_t(c)] = weight_from_key(key, base + uint64_t(c));
      encode_row(type, row.data(), static_cast<char*>(dst) + size_t(r) * rb, cols);
    }
  });
}

}  // namespace

ModelConfig synthetic_shape(const std::string& name) {
  for (const auto& s : kShapes) {
    if (name != s.name) continue;
    ModelConfig c;
    c.arch = s.arch;
    c.n_embd = s.n_embd;
    c.n_layer = s.n_layer;
    c.n_head = s.n_head;
    c.n_head_kv = s.n_head_kv;
    c.head_dim = s.n_embd / s.n_head;
    c.rope_dims = c.head_dim;
    c.n_ff = s.n_ff;
    c.n_vocab = s.n_vocab;
    c.n_ctx_train = s.n_ctx;
    c.rope_theta = s.rope_theta;
    c.rms_eps = s.rms_eps;
    c.rope_layout = s.arch == Architecture::Llama ? RopeLayout::Interleaved : RopeLayout::NeoX;
    c.qkv_bias = s.arch == Architecture::Qwen2;
    c.validate();
    return c;
  }
  std::string names;
  for (const auto& n : synthetic_shape_names()) names += (names.empty() ? "" : ", ") + n;
  throw Error("unknown model shape '" + name + "' (known: " + names + ")");
}

std::vector<std::string> synthetic_shape_names() {
  std::vector<std::string> names;
  for (const auto& s : kShapes) names.emplace_back(s.name);
  return names;
}

float synthetic_weight(uint64_t seed, const std::string& tensor, uint64_t index) {
  return weight_from_key(tensor_key(seed, tensor), index);
}

int64_t tokenizer_token_count(const Metadata& md) {
  const auto model = md.string_or("tokenizer.ggml.model");
  if (!model || *model == "no_vocab" || *model == "none" || !md.has("tokenizer.ggml.tokens")) return 0;
  return int64_t(md.get_array("tokenizer.ggml.tokens").values.size());
}

Metadata synthetic_vocab_from(const Metadata& source, int64_t n_vocab) {
  const int64_t n = tokenizer_token_count(source);
  check(n > 0, "synth --vocab-from: the source model has no tokenizer (tokenizer.ggml.model is absent or no_vocab)");
  check(n <= n_vocab, "synth --vocab-from: the source tokenizer has " + std::to_string(n) + " tokens, more than the " +
                          std::to_string(n_vocab) + " rows of the shape's vocabulary");
  Metadata out;
  for (const auto& [key, value] : source.entries())
    if (key.rfind("tokenizer.", 0) == 0) out.set(key, value);
  // Per-token arrays must cover the source's tokens exactly, or padding would misalign them.
  auto pad = [&](const char* key, MetaType element, auto pad_for_id) {
    std::vector<MetaValue> values;
    if (source.find(key)) {
      const MetaArray& a = source.get_array(key);
      check(int64_t(a.values.size()) == n, std::string("synth --vocab-from: ") + key + " has " +
                                               std::to_string(a.values.size()) + " entries for " + std::to_string(n) +
                                               " tokens");
      check(a.element_type == element, std::string("synth --vocab-from: ") + key + " holds " +
                                           meta_type_name(a.element_type) + ", not " + meta_type_name(element));
      values = a.values;
    } else if (element == MetaType::I32) {  // no types: the source's tokens are normal (1)
      values.assign(size_t(n), MetaValue::i32(1));
    } else {
      return;
    }
    for (int64_t id = n; id < n_vocab; ++id) values.push_back(pad_for_id(id));
    out.set(key, MetaValue::array(element, std::move(values)));
  };
  pad("tokenizer.ggml.tokens", MetaType::STRING, [](int64_t id) { return MetaValue::str("[PAD" + std::to_string(id) + "]"); });
  // GGUF token type 3 = CONTROL: skipped when decoding, never made by encoding plain text.
  pad("tokenizer.ggml.token_type", MetaType::I32, [](int64_t) { return MetaValue::i32(3); });
  // llama.cpp's converter scores its pads -1000.
  pad("tokenizer.ggml.scores", MetaType::F32, [](int64_t) { return MetaValue::f32(-1000.0f); });
  return out;
}

SyntheticModelInfo write_synthetic_model(const ModelConfig& c, DType type, uint64_t seed,
                                         const std::filesystem::path& out, int threads, const Metadata* vocab) {
  const auto t0 = std::chrono::steady_clock::now();
  c.validate();
  check(c.arch != Architecture::Qwen3, "synth: qwen3 shapes are not supported (no q/k norm weights made)");
  check(type != DType::I32, "synth: i32 is not a weight type (use f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q5_k, q6_k)");
  check(!c.tied_embeddings, "synth: shapes are written with an untied output matrix");
  GgufWriter writer;
  Metadata md;
  config_to_gguf(c, md);
  md.set("general.name", MetaValue::str("llmr synthetic"));
  if (info(type).quantized) md.set("general.quantization_version", MetaValue::u32(2));
  if (vocab) {
    check(tokenizer_token_count(*vocab) == c.n_vocab,
          "synth: the tokenizer has " + std::to_string(tokenizer_token_count(*vocab)) + " tokens for a vocabulary of " +
              std::to_string(c.n_vocab) + " rows (pad it with synthetic_vocab_from)");
    for (const auto& [key, value] : vocab->entries()) md.set(key, value);
  } else {
    md.set("tokenizer.ggml.model", MetaValue::str("no_vocab"));
  }
  writer.set_metadata(md);

  cpu::ThreadPool pool(threads);
  SyntheticModelInfo result;
  // Shapes are row-major [out, in]; the fill runs when the writer reaches the tensor.
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    const DType st = storage_type_for({rows, cols}, type);
    const uint64_t key = tensor_key(seed, name);
    writer.add_tensor(name, st, {rows, cols}, [&pool, st, rows, cols, key](void* dst) {
      fill_matrix(dst, st, rows, cols, key, pool);
    });
    result.parameters += rows * cols;
  };
  auto vector = [&](const std::string& name, int64_t n, bool ones) {
    const uint64_t key = tensor_key(seed, name);
    writer.add_tensor(name, DType::F32, {n}, [n, key, ones](void* dst) {
      auto* f = static_cast<float*>(dst);
      for (int64_t i = 0; i < n; ++i) f[i] = ones ? 1.0f : weight_from_key(key, uint64_t(i));
    });
    result.parameters += n;
  };

  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  matrix("token_embd.weight", c.n_vocab, c.n_embd);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    vector(layer_tensor(l, "attn_norm.weight"), c.n_embd, true);
    matrix(layer_tensor(l, "attn_q.weight"), q_dim, c.n_embd);
    matrix(layer_tensor(l, "attn_k.weight"), kv_dim, c.n_embd);
    matrix(layer_tensor(l, "attn_v.weight"), kv_dim, c.n_embd);
    if (c.qkv_bias) {
      vector(layer_tensor(l, "attn_q.bias"), q_dim, false);
      vector(layer_tensor(l, "attn_k.bias"), kv_dim, false);
      vector(layer_tensor(l, "attn_v.bias"), kv_dim, false);
    }
    matrix(layer_tensor(l, "attn_output.weight"), c.n_embd, q_dim);
    vector(layer_tensor(l, "ffn_norm.weight"), c.n_embd, true);
    matrix(layer_tensor(l, "ffn_gate.weight"), c.n_ff, c.n_embd);
    matrix(layer_tensor(l, "ffn_up.weight"), c.n_ff, c.n_embd);
    matrix(layer_tensor(l, "ffn_down.weight"), c.n_embd, c.n_ff);
  }
  vector("output_norm.weight", c.n_embd, true);
  matrix("output.weight", c.n_vocab, c.n_embd);

  writer.write(out);
  result.file_bytes = std::filesystem::file_size(out);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace llmr
