#pragma once
// A non-owning view of a tensor: type, row-major shape, byte strides and a data pointer.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"
#include "tensor/dtype.h"

namespace llmr {

enum class Device { Host, Cuda };

constexpr int kMaxDims = 4;

struct Tensor {
  DType type = DType::F32;
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};   // row-major: shape[ndim-1] is the contiguous dimension
  std::array<int64_t, kMaxDims> stride{};  // bytes between consecutive indices of each dimension
  void* data = nullptr;
  Device device = Device::Host;

  // A contiguous view of the given shape over data.
  static Tensor view(void* data, DType type, std::initializer_list<int64_t> shape,
                     Device device = Device::Host);
  static Tensor view(void* data, DType type, const std::vector<int64_t>& shape,
                     Device device = Device::Host);

  int64_t cols() const { return ndim ? shape[ndim - 1] : 1; }
  // Number of rows when all but the last dimension are flattened.
  int64_t rows() const;
  int64_t numel() const { return rows() * cols(); }
  // Bytes from one row to the next; valid when leading dimensions are flattenable.
  int64_t row_stride() const { return ndim >= 2 ? stride[ndim - 2] : int64_t(row_bytes(type, cols())); }
  bool is_contiguous() const;

  template <typename T = void>
  T* row(int64_t r) const {
    return reinterpret_cast<T*>(static_cast<char*>(data) + r * row_stride());
  }
  // A 2-D view [rows, cols] with the same row stride; throws if leading dims are not flattenable.
  Tensor as_matrix() const;
  // Rows [begin, begin+count) of a 2-D-flattenable tensor.
  Tensor slice_rows(int64_t begin, int64_t count) const;
  // Columns [begin, begin+count) of a 2-D-flattenable tensor of a type of one element a block (f32,
  // f16, bf16, i32), with the same row stride.
  Tensor slice_cols(int64_t begin, int64_t count) const;

  std::string describe() const;  // "f32[4, 64]"
};

// Owns host memory for a tensor (64-byte aligned); tests, scratch buffers and converted weights.
class HostBuffer {
 public:
  HostBuffer() = default;
  HostBuffer(DType type, std::vector<int64_t> shape);
  Tensor tensor() const { return tensor_; }
  void* data() const { return tensor_.data; }
  size_t bytes() const { return bytes_.size() * sizeof(Chunk); }

 private:
  struct alignas(64) Chunk { unsigned char b[64]; };
  std::vector<Chunk> bytes_;
  Tensor tensor_;
};

}  // namespace llmr
