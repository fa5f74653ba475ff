#include "ops/backend.h"

#include <cstring>

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

}  // namespace llmr
