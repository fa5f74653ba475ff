// CudaBackend::embedding: out[t] = table[ids[t]] dequantized to f32, for every weight type. One block
// per token; the ids travel in the kernel parameters. Each element is computed with the same f32
// operations in the same order as tensor/quant*.cpp (explicitly rounded, never fused into an FMA), so
// rows equal dequantize_row bit for bit.
#include <algorithm>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/float_types.cuh"
#include "ops/matmul_checks.h"
#include "ops/op_checks.h"
#include "tensor/quant_blocks.h"

namespace llmr {
namespace cuda_detail {
namespace {

using namespace quant;

constexpr int kEmbedRowsPerLaunch = 896;  // keeps the parameters under 4 KB

struct EmbedArgs {
  const char* table;
  int64_t table_stride;
  char* out;
  int64_t out_stride;
  int dim;
  int64_t vocab;
  const int32_t* dev_ids;  // ids in device memory (embedding_from), else the ones below
  int32_t ids[kEmbedRowsPerLaunch];
};

__device__ __forceinline__ float half_at(uint16_t h) { return F16::load(h); }

__device__ __forceinline__ void scale_min(int j, const uint8_t* s, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Element j of a row of the given type, as dequantize_row computes it.
template <DType kType>
__device__ __forceinline__ float element(const char* row, int j) {
  if constexpr (kType == DType::F32) {
    return reinterpret_cast<const float*>(row)[j];
  } else if constexpr (kType == DType::F16) {
    return F16::load(reinterpret_cast<const uint16_t*>(row)[j]);
  } else if constexpr (kType == DType::BF16) {
    return BF16::load(reinterpret_cast<const uint16_t*>(row)[j]);
  } else if constexpr (kType == DType::Q8_0) {
    const BlockQ8_0& b = reinterpret_cast<const BlockQ8_0*>(row)[j / kQK];
    return __fmul_rn(float(b.qs[j % kQK]), half_at(b.d));
  } else if constexpr (kType == DType::Q4_0) {
    const BlockQ4_0& b = reinterpret_cast<const BlockQ4_0*>(row)[j / kQK];
    const int e = j % kQK;
    const int q = e < kQK / 2 ? (b.qs[e] & 0xF) : (b.qs[e - kQK / 2] >> 4);
    return __fmul_rn(float(q - 8), half_at(b.d));
  } else if constexpr (kType == DType::Q4_1) {
    const BlockQ4_1& b = reinterpret_cast<const BlockQ4_1*>(row)[j / kQK];
    const int e = j % kQK;
    const int q = e < kQK / 2 ? (b.qs[e] & 0xF) : (b.qs[e - kQK / 2] >> 4);
    return __fadd_rn(__fmul_rn(float(q), half_at(b.d)), half_at(b.m));
  } else if constexpr (kType == DType::Q4_K || kType == DType::Q5_K) {
    using Block = std::conditional_t<kType == DType::Q4_K, BlockQ4_K, BlockQ5_K>;
    const Block& b = reinterpret_cast<const Block*>(row)[j / kQKK];
    const int e = j % kQKK, c = e / 64, l = e % 32, upper = (e % 64) / 32;
    int sc, m;
    scale_min(2 * c + upper, b.scales, sc, m);
    const float d = __fmul_rn(half_at(b.d), float(sc)), mn = __fmul_rn(half_at(b.dmin), float(m));
    int q = upper ? (b.qs[32 * c + l] >> 4) : (b.qs[32 * c + l] & 0xF);
    if constexpr (kType == DType::Q5_K) q += (b.qh[l] >> (2 * c + upper)) & 1 ? 16 : 0;
    return __fsub_rn(__fmul_rn(d, float(q)), mn);
  } else {  // Q6_K
    const BlockQ6_K& b = reinterpret_cast<const BlockQ6_K*>(row)[j / kQKK];
    const int e = j % kQKK, h = e / 128, k = (e % 128) / 32, l = e % 32;
    const uint8_t ql = b.ql[64 * h + l + 32 * (k & 1)];
    const int lo = k < 2 ? (ql & 0xF) : (ql >> 4);
    const int hi = (b.qh[32 * h + l] >> (2 * k)) & 3;
    const int sc = b.scales[8 * h + l / 16 + 2 * k];
    return __fmul_rn(__fmul_rn(half_at(b.d), float(sc)), float((lo | (hi << 4)) - 32));
  }
}

constexpr int kEmbedThreads = 256;
// Elements a thread loads before it stores any: the stores may alias the table as far as the compiler
// knows, so a loop of load-store pairs waited on memory once an element (a Llama-3-8B q4_0 row took
// 8.9 us; the generation step starts with it).
constexpr int kEmbedBatch = 16;

template <DType kType>
__global__ void __launch_bounds__(kEmbedThreads) embed_rows(const __grid_constant__ EmbedArgs a) {
  const int64_t id = a.dev_ids ? a.dev_ids[blockIdx.x] : a.ids[blockIdx.x];
  float* dst = reinterpret_cast<float*>(a.out + int64_t(blockIdx.x) * a.out_stride);
  if (id < 0 || id >= a.vocab) {  // only device ids can be (the host checks its own): zeros, never a wild read
    for (int j = threadIdx.x; j < a.dim; j += kEmbedThreads) dst[j] = 0.f;
    return;
  }
  const char* src = a.table + id * a.table_stride;
  for (int base = threadIdx.x; base < a.dim; base += kEmbedThreads * kEmbedBatch) {
    float v[kEmbedBatch];
#pragma unroll
    for (int k = 0; k < kEmbedBatch; ++k) {
      const int j = base + k * kEmbedThreads;
      v[k] = j < a.dim ? element<kType>(src, j) : 0.f;
    }
#pragma unroll
    for (int k = 0; k < kEmbedBatch; ++k)
      if (base + k * kEmbedThreads < a.dim) dst[base + k * kEmbedThreads] = v[k];
  }
}

template <DType kType>
void launch_embed(const EmbedArgs& a, int rows, cudaStream_t stream) {
  embed_rows<kType><<<unsigned(rows), kEmbedThreads, 0, stream>>>(a);
  check_launch("embedding", "embed_rows");
}

void launch_for_type(DType t, const EmbedArgs& a, int rows, cudaStream_t stream) {
  switch (t) {
    case DType::F32: return launch_embed<DType::F32>(a, rows, stream);
    case DType::F16: return launch_embed<DType::F16>(a, rows, stream);
    case DType::BF16: return launch_embed<DType::BF16>(a, rows, stream);
    case DType::Q8_0: return launch_embed<DType::Q8_0>(a, rows, stream);
    case DType::Q4_0: return launch_embed<DType::Q4_0>(a, rows, stream);
    case DType::Q4_1: return launch_embed<DType::Q4_1>(a, rows, stream);
    case DType::Q4_K: return launch_embed<DType::Q4_K>(a, rows, stream);
    case DType::Q5_K: return launch_embed<DType::Q5_K>(a, rows, stream);
    case DType::Q6_K: return launch_embed<DType::Q6_K>(a, rows, stream);
    default: throw Error(std::string("embedding: no CUDA kernel for table type ") + name(t));
  }
}

}  // namespace
}  // namespace cuda_detail

void CudaBackend::embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) {
  using namespace cuda_detail;
  check_on_device("embedding", {{"table", &table}, {"out", &out}});
  // The shared checks read shapes and ids only; they insist on host memory, so show them host views.
  Tensor table_view = table, out_view = out;
  table_view.device = out_view.device = Device::Host;
  check_embedding_args(table_view, ids, out_view);
  check(table.shape[1] < (int64_t(1) << 30), "embedding: rows of " + table.describe() + " are too long");
  EmbedArgs a{};
  a.table = static_cast<const char*>(table.data);
  a.table_stride = table.stride[0];
  a.out_stride = out.stride[0];
  a.dim = int(table.shape[1]);
  a.vocab = table.shape[0];
  for (size_t begin = 0; begin < ids.size(); begin += kEmbedRowsPerLaunch) {
    const size_t count = std::min<size_t>(kEmbedRowsPerLaunch, ids.size() - begin);
    std::copy(ids.begin() + begin, ids.begin() + begin + count, a.ids);
    a.out = static_cast<char*>(out.data) + int64_t(begin) * a.out_stride;
    launch_for_type(table.type, a, int(count), stream());
  }
}

void CudaBackend::embedding_from(const Tensor& table, const Tensor& ids, const Tensor& out) {
  using namespace cuda_detail;
  check_on_device("embedding", {{"table", &table}, {"ids", &ids}, {"out", &out}});
  const int64_t n = ids.numel();
  op_checks::index_tensor("embedding", "ids", ids, n);
  // The shared checks with ids all 0 (always valid): the real ones are read on the device.
  Tensor table_view = table, out_view = out;
  table_view.device = out_view.device = Device::Host;
  const std::vector<int32_t> zeros(size_t(n), 0);
  check_embedding_args(table_view, zeros, out_view);
  check(table.shape[1] < (int64_t(1) << 30), "embedding: rows of " + table.describe() + " are too long");
  EmbedArgs a{};
  a.table = static_cast<const char*>(table.data);
  a.table_stride = table.stride[0];
  a.out_stride = out.stride[0];
  a.dim = int(table.shape[1]);
  a.vocab = table.shape[0];
  for (int64_t begin = 0; begin < n; begin += kMaxGridY) {
    const int64_t count = std::min<int64_t>(kMaxGridY, n - begin);
    a.dev_ids = static_cast<const int32_t*>(ids.data) + begin;
    a.out = static_cast<char*>(out.data) + begin * a.out_stride;
    launch_for_type(table.type, a, int(count), stream());
  }
}

}  // namespace llmr
