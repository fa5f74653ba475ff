#include "tensor/tensor.h"

namespace llmr {

Tensor Tensor::view(void* data, DType type, std::initializer_list<int64_t> shape, Device device) {
  return view(data, type, std::vector<int64_t>(shape), device);
}

Tensor Tensor::view(void* data, DType type, const std::vector<int64_t>& shape, Device device) {
  check(!shape.empty() && shape.size() <= size_t(kMaxDims),
        "tensor must have 1 to 4 dimensions, got " + std::to_string(shape.size()));
  Tensor t;
  t.type = type;
  t.ndim = int(shape.size());
  t.data = data;
  t.device = device;
  for (int i = 0; i < t.ndim; ++i) {
    check(shape[i] >= 0, "negative tensor dimension");
    t.shape[i] = shape[i];
  }
  int64_t s = int64_t(row_bytes(type, t.shape[t.ndim - 1]));
  t.stride[t.ndim - 1] = int64_t(info(type).block_bytes);
  for (int i = t.ndim - 2; i >= 0; --i) {
    t.stride[i] = s;
    s *= t.shape[i];
  }
  return t;
}

int64_t Tensor::rows() const {
  int64_t r = 1;
  for (int i = 0; i + 1 < ndim; ++i) r *= shape[i];
  return r;
}

bool Tensor::is_contiguous() const {
  int64_t s = int64_t(row_bytes(type, cols()));
  for (int i = ndim - 2; i >= 0; --i) {
    if (stride[i] != s) return false;
    s *= shape[i];
  }
  return true;
}

Tensor Tensor::as_matrix() const {
  if (ndim == 2) return *this;
  Tensor m = *this;
  m.ndim = 2;
  m.shape = {rows(), cols(), 0, 0};
  if (ndim == 1) {
    m.stride = {int64_t(row_bytes(type, cols())), int64_t(info(type).block_bytes), 0, 0};
    return m;
  }
  for (int i = 0; i + 2 < ndim; ++i)
    check(stride[i] == stride[i + 1] * shape[i + 1], "tensor " + describe() + " cannot be flattened to rows");
  m.stride = {stride[ndim - 2], stride[ndim - 1], 0, 0};
  return m;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t count) const {
  Tensor m = as_matrix();
  check(begin >= 0 && count >= 0 && begin + count <= m.shape[0], "row slice out of range of " + describe());
  m.data = static_cast<char*>(m.data) + begin * m.stride[0];
  m.shape[0] = count;
  return m;
}

Tensor Tensor::slice_cols(int64_t begin, int64_t count) const {
  Tensor m = as_matrix();
  check(info(type).block_elems == 1 && begin >= 0 && count >= 0 && begin + count <= m.shape[1],
        "column slice [" + std::to_string(begin) + ", " + std::to_string(begin + count) + ") out of range of " +
            describe());
  m.data = static_cast<char*>(m.data) + begin * m.stride[1];
  m.shape[1] = count;
  return m;
}

std::string Tensor::describe() const {
  std::string s = std::string(name(type)) + "[";
  for (int i = 0; i < ndim; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

HostBuffer::HostBuffer(DType type, std::vector<int64_t> shape) {
  Tensor t = Tensor::view(nullptr, type, shape);
  size_t n = size_t(t.rows()) * row_bytes(type, t.cols());
  bytes_.resize((n + sizeof(Chunk) - 1) / sizeof(Chunk) + 1);
  t.data = bytes_.data();
  tensor_ = t;
}

}  // namespace llmr
