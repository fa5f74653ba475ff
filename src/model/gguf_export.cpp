#include "model/gguf_export.h"

#include <memory>
#include <vector>

#include "format/gguf_writer.h"
#include "format/model_file.h"
#include "model/loaded_model.h"
#include "model/tensor_names.h"
#include "tensor/quant.h"
#include "tokenizer/tokenizer.h"

namespace llmr {
namespace {

// Re-encoded tensor bytes, alive until the writer has written them.
using Bytes = std::vector<unsigned char>;

Bytes encode_matrix(const Tensor& src, int64_t rows, int64_t cols, DType type,
                    const std::vector<int64_t>* row_order) {
  Bytes out(row_bytes(type, cols) * size_t(rows));
  std::vector<float> row(static_cast<size_t>(cols));
  const size_t src_row = row_bytes(src.type, cols), dst_row = row_bytes(type, cols);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t from = row_order ? (*row_order)[size_t(r)] : r;
    dequantize_row(src.type, static_cast<const char*>(src.data) + size_t(from) * src_row, row.data(), cols);
    quantize_row(type, row.data(), out.data() + size_t(r) * dst_row, cols);
  }
  return out;
}

// llama.cpp stores llama q/k rows so that the rotated pairs sit next to each other (interleaved
// rope): within each head, new row 2i+j is old row j*(d/2)+i.
std::vector<int64_t> interleave_rows(int64_t rows, int64_t n_heads) {
  const int64_t d = rows / n_heads, half = d / 2;
  std::vector<int64_t> order(static_cast<size_t>(rows));
  for (int64_t h = 0; h < n_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) order[size_t(h * d + 2 * i + j)] = h * d + j * half + i;
  return order;
}

}  // namespace

DType storage_type_for(const std::vector<int64_t>& shape, DType target) {
  if (shape.size() < 2) return DType::F32;
  const int64_t cols = shape.back();
  if (cols % info(target).block_elems == 0) return target;
  if (cols % 32 == 0 && info(target).quantized) return DType::Q8_0;
  return DType::F16;
}

void convert_hf_to_gguf(const std::filesystem::path& hf_dir, const std::filesystem::path& out, DType type) {
  auto model = load_model(hf_dir);
  check(model->file.format == FileFormat::Safetensors, "convert: '" + hf_dir.string() + "' is not a Hugging Face directory");
  const ModelConfig& c = model->config;
  GgufWriter writer;
  Metadata md;
  config_to_gguf(c, md);
  md.set("general.name", MetaValue::str(hf_dir.filename().string()));
  if (info(type).quantized) md.set("general.quantization_version", MetaValue::u32(2));
  if (std::filesystem::exists(hf_dir / "tokenizer.json")) {
    write_tokenizer_to_gguf(hf_dir, md);
  } else {
    md.set("tokenizer.ggml.model", MetaValue::str("no_vocab"));
    if (c.bos_id >= 0) md.set("tokenizer.ggml.bos_token_id", MetaValue::u32(uint32_t(c.bos_id)));
    if (c.eos_id >= 0) md.set("tokenizer.ggml.eos_token_id", MetaValue::u32(uint32_t(c.eos_id)));
  }
  writer.set_metadata(md);

  std::vector<std::unique_ptr<Bytes>> keep;
  const bool permute = c.arch == Architecture::Llama;
  if (c.rope_scaling.type == "llama3") {
    // llama.cpp carries llama3 rope scaling as per-frequency divisors in a rope_freqs tensor.
    ModelConfig unscaled = c;
    unscaled.rope_scaling = RopeScaling{};
    const auto base = unscaled.rope_inv_freq(), scaled = c.rope_inv_freq();
    auto bytes = std::make_unique<Bytes>(base.size() * 4);
    auto* f = reinterpret_cast<float*>(bytes->data());
    for (size_t i = 0; i < base.size(); ++i) f[i] = base[i] / scaled[i];
    writer.add_tensor("rope_freqs.weight", DType::F32, {int64_t(base.size())}, bytes->data(), bytes->size());
    keep.push_back(std::move(bytes));
  }
  for (const auto& entry : model->file.tensors) {
    auto name = gguf_name_for_hf(entry.name);
    if (!name) continue;
    const Tensor& t = entry.tensor;
    std::vector<int64_t> shape(t.shape.begin(), t.shape.begin() + t.ndim);
    const DType st = storage_type_for(shape, type);
    const int64_t rows = t.rows(), cols = t.cols();
    std::vector<int64_t> order;
    if (permute && name->ends_with("attn_q.weight")) order = interleave_rows(rows, c.n_head);
    if (permute && name->ends_with("attn_k.weight")) order = interleave_rows(rows, c.n_head_kv);
    auto bytes = std::make_unique<Bytes>(encode_matrix(t, rows, cols, st, order.empty() ? nullptr : &order));
    writer.add_tensor(*name, st, shape, bytes->data(), bytes->size());
    keep.push_back(std::move(bytes));
  }
  writer.write(out);
}

void quantize_gguf(const std::filesystem::path& in, const std::filesystem::path& out, DType type) {
  ModelFile file = open_gguf(in);
  GgufWriter writer;
  writer.set_metadata(file.metadata);
  if (info(type).quantized) writer.set("general.quantization_version", MetaValue::u32(2));
  std::vector<std::unique_ptr<Bytes>> keep;
  for (const auto& entry : file.tensors) {
    const Tensor& t = entry.tensor;
    std::vector<int64_t> shape(t.shape.begin(), t.shape.begin() + t.ndim);
    const DType st = storage_type_for(shape, type);
    if (st == t.type || shape.size() < 2) {
      writer.add_tensor(entry.name, t.type, shape, t.data, entry.nbytes);
      continue;
    }
    auto bytes = std::make_unique<Bytes>(encode_matrix(t, t.rows(), t.cols(), st, nullptr));
    writer.add_tensor(entry.name, st, shape, bytes->data(), bytes->size());
    keep.push_back(std::move(bytes));
  }
  writer.write(out);
}

}  // namespace llmr
