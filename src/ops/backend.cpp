#include "ops/backend.h"

#include <algorithm>
#include <cstring>

#include "ops/op_checks.h"

namespace llmr {
namespace {

class HostMemory final : public Buffer {
 public:
  HostMemory(DType type, const std::vector<int64_t>& shape) : buffer_(type, shape) { tensor_ = buffer_.tensor(); }

 private:
  HostBuffer buffer_;
};

class HostView final : public Buffer {
 public:
  explicit HostView(const Tensor& t) { tensor_ = t; }
};

}  // namespace

std::unique_ptr<Buffer> alloc_host(DType type, const std::vector<int64_t>& shape) {
  return std::make_unique<HostMemory>(type, shape);
}

std::unique_ptr<Buffer> Backend::alloc(DType type, const std::vector<int64_t>& shape) { return alloc_host(type, shape); }

std::unique_ptr<Buffer> Backend::upload(const Tensor& host) { return std::make_unique<HostView>(host); }

void Backend::download(const Tensor& src, void* host) {
  check(src.is_contiguous(), "download: tensor " + src.describe() + " is not contiguous");
  std::memcpy(host, src.data, size_t(src.rows()) * row_bytes(src.type, src.cols()));
}

namespace {

// The values of a host I32 index tensor, checked to be `count` contiguous entries.
std::span<const int32_t> host_indices(const char* op, const char* what, const Tensor& t, int64_t count) {
  op_checks::index_tensor(op, what, t, count);
  op_checks::check_device(op, what, t, Device::Host);
  return {static_cast<const int32_t*>(t.data), size_t(count)};
}

}  // namespace

void Backend::rms_norm_matmul(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h, const Tensor& w,
                              const Tensor& y) {
  rms_norm(x, norm_w, eps, h);
  matmul(h, w, nullptr, y);
}

void Backend::attention_matmul_add(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                   const Tensor& positions, const AttentionSpec& spec, const Tensor& attn,
                                   const Tensor& w, const Tensor& x) {
  attention_from(q, k_cache, v_cache, positions, spec, attn);
  matmul_add(attn, w, x);
}

void Backend::matmul_add(const Tensor& x, const Tensor& w, const Tensor& y) {
  check(y.ndim == 2 && x.ndim == 2, "matmul_add: x " + x.describe() + " and y " + y.describe() +
                                                        " must be matrices");
  const auto product = alloc(DType::F32, {y.shape[0], y.shape[1]});
  matmul(x, w, nullptr, product->tensor());
  add(y, product->tensor(), y);
}

void Backend::swiglu_matmul_add(const Tensor& gate, const Tensor& up, const Tensor& w, const Tensor& y) {
  check(gate.ndim == 2, "swiglu_matmul_add: gate " + gate.describe() + " must be a matrix");
  const auto act = alloc(DType::F32, {gate.shape[0], gate.shape[1]});
  swiglu(gate, up, act->tensor());
  matmul_add(act->tensor(), w, y);
}

void Backend::rope_store_kv(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                            const RopeSpec& spec, const Tensor& k_cache, const Tensor& v_cache) {
  check(spec.head_dim > 0 && q.cols() % spec.head_dim == 0 && k.cols() % spec.head_dim == 0,
        "rope_store_kv: q " + q.describe() + " and k " + k.describe() + " are not whole heads of " +
            std::to_string(spec.head_dim));
  rope_from(q, int(q.cols() / spec.head_dim), positions, spec);
  rope_from(k, int(k.cols() / spec.head_dim), positions, spec);
  store_rows(k, k_cache, positions);
  store_rows(v, v_cache, positions);
}

void Backend::rms_norm_matmul_rope_store_kv(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& h,
                                            const Tensor& wqkv, const Tensor& qkv, int64_t kv_dim,
                                            const Tensor& positions, const RopeSpec& spec, const Tensor& k_cache,
                                            const Tensor& v_cache) {
  check(qkv.ndim == 2 && kv_dim > 0 && 2 * kv_dim < qkv.cols(),
        "rms_norm_matmul_rope_store_kv: qkv " + qkv.describe() + " has no q, k and v of " + std::to_string(kv_dim) +
            " columns for k and v");
  rms_norm_matmul(x, norm_w, eps, h, wqkv, qkv);
  const int64_t q_dim = qkv.cols() - 2 * kv_dim;
  rope_store_kv(qkv.slice_cols(0, q_dim), qkv.slice_cols(q_dim, kv_dim), qkv.slice_cols(q_dim + kv_dim, kv_dim),
                positions, spec, k_cache, v_cache);
}

void Backend::store_rows(const Tensor& src, const Tensor& dst, const Tensor& positions) {
  op_checks::store_rows(src, dst, positions);
  const auto pos = host_indices("store_rows", "positions", positions, src.rows());
  for (int64_t t = 0; t < src.rows(); ++t) {
    check(pos[size_t(t)] >= 0 && pos[size_t(t)] < dst.rows(),
          "store_rows: position " + std::to_string(pos[size_t(t)]) + " of row " + std::to_string(t) +
              " is outside dst " + dst.describe());
    copy(src.slice_rows(t, 1), dst.slice_rows(pos[size_t(t)], 1));
  }
}

void Backend::sample(const Tensor& logits, std::span<const SampleRow> rows, std::span<int32_t> out) {
  op_checks::sample(logits, rows, out);
  RowSampler sampler;
  std::vector<float> row;  // a downloaded row, when the logits are not in host memory
  const auto n = size_t(logits.cols());
  for (size_t r = 0; r < rows.size(); ++r) {
    void* data = logits.slice_rows(int64_t(r), 1).data;
    std::span<const float> values{static_cast<const float*>(data), n};
    if (logits.device != Device::Host) {
      row.resize(n);
      download(Tensor::view(data, DType::F32, {1, int64_t(n)}, logits.device), row.data());
      values = row;
    }
    out[r] = sampler.sample(values, rows[r]);
  }
}

void Backend::embedding_from(const Tensor& table, const Tensor& ids, const Tensor& out) {
  embedding(table, host_indices("embedding", "ids", ids, ids.numel()), out);
}

void Backend::rope_from(const Tensor& x, int n_heads, const Tensor& positions, const RopeSpec& spec) {
  rope(x, n_heads, host_indices("rope", "positions", positions, x.rows()), spec);
}

void Backend::attention_from(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& positions,
                             const AttentionSpec& spec, const Tensor& out) {
  attention(q, k_cache, v_cache, host_indices("attention", "positions", positions, q.rows()), spec, out);
}

void Backend::attention_paged(const Tensor& q, const Tensor& k_pool, const Tensor& v_pool, const Tensor& positions,
                              const Tensor& block_table, int64_t block_size, const AttentionSpec& spec,
                              const Tensor& out) {
  op_checks::attention_paged(q, k_pool, v_pool, positions, block_table, block_size, spec, out);
  const int64_t T = q.rows(), width = block_table.cols(), pool_blocks = k_pool.rows() / block_size;
  const auto pos = host_indices("attention_paged", "positions", positions, T);
  op_checks::check_device("attention_paged", "block_table", block_table, Device::Host);
  const auto* table = static_cast<const int32_t*>(block_table.data);
  for (int64_t t0 = 0; t0 < T;) {
    // The run of rows [t0, t1) shares one block table: one sequence's chunk.
    const int32_t* blocks = table + t0 * width;
    int64_t t1 = t0 + 1;
    while (t1 < T && std::equal(blocks, blocks + width, table + t1 * width)) ++t1;
    int32_t last = 0;
    for (int64_t t = t0; t < t1; ++t) {
      check(pos[size_t(t)] >= 0 && pos[size_t(t)] / block_size < width,
            "attention_paged: position " + std::to_string(pos[size_t(t)]) + " of row " + std::to_string(t) +
                " is outside its block table of " + std::to_string(width) + " blocks");
      last = std::max(last, pos[size_t(t)]);
    }
    const int64_t rows = int64_t(last) + 1;
    HostBuffer keys(k_pool.type, {rows, k_pool.cols()}), values(v_pool.type, {rows, v_pool.cols()});
    for (int64_t b = 0; b * block_size < rows; ++b) {
      check(blocks[b] >= 0 && blocks[b] < pool_blocks, "attention_paged: block " + std::to_string(blocks[b]) +
                                                           " is outside the pool of " + std::to_string(pool_blocks));
      const int64_t n = std::min(block_size, rows - b * block_size);
      copy(k_pool.slice_rows(int64_t(blocks[b]) * block_size, n), keys.tensor().slice_rows(b * block_size, n));
      copy(v_pool.slice_rows(int64_t(blocks[b]) * block_size, n), values.tensor().slice_rows(b * block_size, n));
    }
    attention(q.slice_rows(t0, t1 - t0), keys.tensor(), values.tensor(), pos.subspan(size_t(t0), size_t(t1 - t0)),
              spec, out.slice_rows(t0, t1 - t0));
    t0 = t1;
  }
}

void Backend::copy_from_host_input(const Tensor& host, const Tensor& dst) {
  check(host.is_contiguous() && dst.is_contiguous() && host.type == dst.type && host.numel() == dst.numel(),
        "copy_from_host_input: " + host.describe() + " does not match " + dst.describe());
  std::memcpy(dst.data, host.data, size_t(host.rows()) * row_bytes(host.type, host.cols()));
}

std::unique_ptr<Replay> Backend::end_capture() {
  throw Error(name() + ": this backend cannot record ops for replay");
}

}  // namespace llmr
