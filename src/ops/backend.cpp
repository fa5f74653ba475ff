#include "ops/backend.h"

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

void Backend::copy_from_host_input(const Tensor& host, const Tensor& dst) {
  check(host.is_contiguous() && dst.is_contiguous() && host.type == dst.type && host.numel() == dst.numel(),
        "copy_from_host_input: " + host.describe() + " does not match " + dst.describe());
  std::memcpy(dst.data, host.data, size_t(host.rows()) * row_bytes(host.type, host.cols()));
}

std::unique_ptr<Replay> Backend::end_capture() {
  throw Error(name() + ": this backend cannot record ops for replay");
}

}  // namespace llmr
