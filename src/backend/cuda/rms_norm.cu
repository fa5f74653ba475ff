// CudaBackend::rms_norm and rms_norm_residual. One block per row, one pass over memory: the row is
// loaded once (16-byte accesses where aligned) into registers, the sum of squares is reduced with warp
// shuffles, and y is written from the registers. Rows whose squares overflow or underflow f32 are
// renormalised by a power of two from the same registers. Rows wider than the registers hold
// (> 16384 elements) take a loop that reads x again.
#include <cmath>

#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/float_types.cuh"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/quantize_xblock.cuh"
#include "backend/cuda/rms_norm_quantize.h"
#include "ops/op_checks.h"

namespace llmr {
namespace cuda_detail {
namespace {

struct RmsArgs {
  const char* x;
  const char* r;  // residual (null for plain rms_norm)
  char* sum;      // x + residual as stored (may alias x or r)
  char* y;
  int64_t x_stride, r_stride, sum_stride, y_stride;
  const float* w;
  int n;
  float eps;
  cuda_ops::XBlock* xq;  // rms_norm_quantize only: XBlocks out ([rows][n / 32]) instead of y
};

// A sum of squares this large and finite lost nothing to underflow worth counting (n <= 2^31 terms
// below 2^-149 each) and nothing to overflow.
__device__ __forceinline__ bool sum_is_safe(float ss) { return isfinite(ss) && ss >= 0x1p-100f; }

// The power of two that brings amax into [0.5, 1), within f32's normal exponents.
__device__ __forceinline__ float rescale_factor(float amax) {
  int e = 0;
  if (amax > 0.f && isfinite(amax)) frexpf(amax, &e);
  return ldexpf(1.f, max(-126, min(126, -e)));
}

// 1/sqrt(mean square + eps) of the rescaled row, times the scale, so y = v * scale * inv.
__device__ __forceinline__ float rescaled_inverse(float ss_scaled, float scale, int n, float eps) {
  const double inner = double(ss_scaled) / double(n) + double(eps) * double(scale) * double(scale);
  return float(1.0 / sqrt(inner));
}

// w[i*VEC .. i*VEC+VEC) as 16-byte loads when VEC is a multiple of 4 (w 16-byte aligned), else singly.
template <int VEC>
__device__ __forceinline__ void load_weights(const float* w, int i, float (&out)[VEC]) {
  if constexpr (VEC % 4 == 0) {
#pragma unroll
    for (int q = 0; q < VEC / 4; ++q) {
      const float4 f = reinterpret_cast<const float4*>(w)[i * (VEC / 4) + q];
      out[4 * q] = f.x, out[4 * q + 1] = f.y, out[4 * q + 2] = f.z, out[4 * q + 3] = f.w;
    }
  } else {
#pragma unroll
    for (int j = 0; j < VEC; ++j) out[j] = w[i * VEC + j];
  }
}

// QUANT: the row goes out as XBlocks (f32, VEC = 4: a lane group of 8 holds one block of 32).
template <typename T, int VEC, int MAXV, bool RES, bool QUANT = false>
__global__ void __launch_bounds__(1024) rms_norm_in_registers(RmsArgs a) {
  using P = Pack<T, VEC>;
  static_assert(!QUANT || VEC == 4, "an XBlock is 8 lanes of 4");
  const int nv = a.n / VEC;
  // The norm's weights do not depend on the kernel before: loaded before waiting for it.
  float wv[MAXV][VEC];
#pragma unroll
  for (int k = 0; k < MAXV; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if (i < nv) load_weights<VEC>(a.w, i, wv[k]);
  }
  cuda_ops::pdl_wait();
  cuda_ops::pdl_release();
  const int64_t row = blockIdx.x;
  const P* xr = reinterpret_cast<const P*>(a.x + row * a.x_stride);
  const P* rr = RES ? reinterpret_cast<const P*>(a.r + row * a.r_stride) : nullptr;
  P* sr = RES ? reinterpret_cast<P*>(a.sum + row * a.sum_stride) : nullptr;
  P* yr = reinterpret_cast<P*>(a.y + row * a.y_stride);

  // All loads issued before any use, so MAXV accesses per thread are in flight at once.
  P px[MAXV], pr[MAXV];
#pragma unroll
  for (int k = 0; k < MAXV; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if (i < nv) {
      px[k] = xr[i];
      if constexpr (RES) pr[k] = rr[i];
    }
  }
  float v[MAXV][VEC];
  float ss = 0.f;
#pragma unroll
  for (int k = 0; k < MAXV; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if (i < nv) {
      if constexpr (RES) {
        P ps;
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          // One f32 add rounded to the stored type; the norm is of the sum as stored.
          ps.v[j] = T::store(__fadd_rn(T::load(px[k].v[j]), T::load(pr[k].v[j])));
          v[k][j] = T::load(ps.v[j]);
        }
        sr[i] = ps;
      } else {
#pragma unroll
        for (int j = 0; j < VEC; ++j) v[k][j] = T::load(px[k].v[j]);
      }
#pragma unroll
      for (int j = 0; j < VEC; ++j) ss += v[k][j] * v[k][j];
    } else {
#pragma unroll
      for (int j = 0; j < VEC; ++j) v[k][j] = 0.f;
    }
  }
  ss = block_reduce(ss, SumOp{}, 0.f);

  float scale = 1.f, inv;
  if (sum_is_safe(ss)) {  // the same value in every thread: the branch is uniform
    inv = 1.f / sqrtf(ss / float(a.n) + a.eps);
  } else {
    float amax = 0.f;
#pragma unroll
    for (int k = 0; k < MAXV; ++k)
#pragma unroll
      for (int j = 0; j < VEC; ++j) amax = fmaxf(amax, fabsf(v[k][j]));
    scale = rescale_factor(block_reduce(amax, MaxOp{}, 0.f));
    float ss2 = 0.f;
#pragma unroll
    for (int k = 0; k < MAXV; ++k)
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        const float t = v[k][j] * scale;
        ss2 += t * t;
      }
    inv = rescaled_inverse(block_reduce(ss2, SumOp{}, 0.f), scale, a.n, a.eps);
  }

#pragma unroll
  for (int k = 0; k < MAXV; ++k) {
    const int i = threadIdx.x + k * blockDim.x;
    if constexpr (QUANT) {
      // i < nv is the same for a whole lane group (nv is a multiple of 8)
      float y[VEC];
#pragma unroll
      for (int j = 0; j < VEC; ++j) y[j] = i < nv ? v[k][j] * scale * inv * wv[k][j] : 0.f;
      cuda_ops::quantize_block_8x4(y, a.xq + row * (a.n / 32) + i / 8, i < nv);
    } else if (i < nv) {
      P py;
#pragma unroll
      for (int j = 0; j < VEC; ++j) py.v[j] = T::store(v[k][j] * scale * inv * wv[k][j]);
      yr[i] = py;
    }
  }
}

// Rows too wide for registers: pass 1 sums (and stores x + residual), pass 2 re-reads and writes y.
template <typename T, bool RES>
__global__ void __launch_bounds__(1024) rms_norm_wide(RmsArgs a) {
  using S = typename T::Storage;
  cuda_ops::pdl_wait();
  cuda_ops::pdl_release();
  const int64_t row = blockIdx.x;
  const S* xr = reinterpret_cast<const S*>(a.x + row * a.x_stride);
  const S* rr = RES ? reinterpret_cast<const S*>(a.r + row * a.r_stride) : nullptr;
  S* sr = RES ? reinterpret_cast<S*>(a.sum + row * a.sum_stride) : nullptr;
  S* yr = reinterpret_cast<S*>(a.y + row * a.y_stride);
  const S* src = RES ? sr : xr;  // pass 2 reads the stored sum
  float ss = 0.f;
  for (int i = threadIdx.x; i < a.n; i += blockDim.x) {
    float v;
    if constexpr (RES) {
      const S s = T::store(__fadd_rn(T::load(xr[i]), T::load(rr[i])));
      sr[i] = s;
      v = T::load(s);
    } else {
      v = T::load(xr[i]);
    }
    ss += v * v;
  }
  ss = block_reduce(ss, SumOp{}, 0.f);  // its barrier also orders pass 1's stores before pass 2's loads
  float scale = 1.f, inv;
  if (sum_is_safe(ss)) {
    inv = 1.f / sqrtf(ss / float(a.n) + a.eps);
  } else {
    float amax = 0.f;
    for (int i = threadIdx.x; i < a.n; i += blockDim.x) amax = fmaxf(amax, fabsf(T::load(src[i])));
    scale = rescale_factor(block_reduce(amax, MaxOp{}, 0.f));
    float ss2 = 0.f;
    for (int i = threadIdx.x; i < a.n; i += blockDim.x) {
      const float t = T::load(src[i]) * scale;
      ss2 += t * t;
    }
    inv = rescaled_inverse(block_reduce(ss2, SumOp{}, 0.f), scale, a.n, a.eps);
  }
  for (int i = threadIdx.x; i < a.n; i += blockDim.x) yr[i] = T::store(T::load(src[i]) * scale * inv * a.w[i]);
}

constexpr int kMaxThreads = 1024;
constexpr int kFloatsPerThread = 16;  // of the row, in registers: 16384 elements per block at most

// Up to four accesses in flight per thread; at least one warp, at most 1024 threads. The block size
// fixes the order of the sum of squares: rms_norm_quantize takes the same one.
int block_threads(int64_t units, int per_thread) {
  const int64_t target = std::min(4, per_thread);
  return int(std::min<int64_t>(kMaxThreads, std::max<int64_t>(32, round_up((units + target - 1) / target, 32))));
}

template <typename T, bool RES>
void launch_rms_norm(const RmsArgs& a, int64_t rows, const Tensor* const* ts, int n_ts, cudaStream_t stream,
                     const char* op) {
  if (rows == 0) return;
  constexpr int kVec = kVec16<T>;
  constexpr int kMaxVecs = kFloatsPerThread / kVec;
  bool vector = a.n % kVec == 0 && reinterpret_cast<uintptr_t>(a.w) % 16 == 0;
  for (int i = 0; i < n_ts; ++i) vector = vector && rows_aligned(*ts[i], 16);
  const int64_t units = vector ? a.n / kVec : a.n;
  const int per_thread = vector ? kMaxVecs : kFloatsPerThread;
  if (units > int64_t(kMaxThreads) * per_thread) {
    cuda_ops::launch_pdl(rms_norm_wide<T, RES>, dim3(unsigned(rows)), dim3(kMaxThreads), 0, stream, op, "rms_norm_wide", a);
    return;
  }
  const int threads = block_threads(units, per_thread);
  if (vector)
    cuda_ops::launch_pdl(rms_norm_in_registers<T, kVec, kMaxVecs, RES>, dim3(unsigned(rows)), dim3(threads), 0, stream, op,
                         "rms_norm_in_registers", a);
  else
    cuda_ops::launch_pdl(rms_norm_in_registers<T, 1, kFloatsPerThread, RES>, dim3(unsigned(rows)), dim3(threads), 0,
                         stream, op, "rms_norm_in_registers", a);
}

RmsArgs make_args(const Tensor& x, const Tensor* r, const Tensor* sum, const Tensor& w, float eps, const Tensor& y) {
  check(x.cols() < (int64_t(1) << 30), "rms_norm: rows of " + x.describe() + " are too long for the CUDA kernel");
  RmsArgs a{};
  a.x = static_cast<const char*>(x.data);
  a.x_stride = x.row_stride();
  if (r) {
    a.r = static_cast<const char*>(r->data);
    a.r_stride = r->row_stride();
    a.sum = static_cast<char*>(sum->data);
    a.sum_stride = sum->row_stride();
  }
  a.y = static_cast<char*>(y.data);
  a.y_stride = y.row_stride();
  a.w = static_cast<const float*>(w.data);
  a.n = int(x.cols());
  a.eps = eps;
  return a;
}

}  // namespace
}  // namespace cuda_detail

namespace cuda_ops {

bool rms_norm_quantize(const Tensor& x, const Tensor& w, float eps, XBlock* out, cudaStream_t stream) {
  using namespace cuda_detail;
  using T = F32;
  constexpr int kVec = 4, kMaxVecs = kFloatsPerThread / kVec;
  if (x.type != DType::F32 || x.cols() % 32 || x.cols() > int64_t(kMaxThreads) * kFloatsPerThread ||
      reinterpret_cast<uintptr_t>(w.data) % 16 || !rows_aligned(x, 16))
    return false;
  RmsArgs a = make_args(x, nullptr, nullptr, w, eps, x);
  a.y = nullptr;
  a.xq = out;
  launch_pdl(rms_norm_in_registers<T, kVec, kMaxVecs, false, true>, dim3(unsigned(x.rows())),
             dim3(block_threads(x.cols() / kVec, kMaxVecs)), 0, stream, "rms_norm_matmul", "rms_norm_in_registers", a);
  return true;
}

}  // namespace cuda_ops

void CudaBackend::rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) {
  using namespace cuda_detail;
  op_checks::rms_norm(x, w, eps, y);
  check_on_device("rms_norm", {{"x", &x}, {"w", &w}, {"y", &y}});
  const RmsArgs a = make_args(x, nullptr, nullptr, w, eps, y);
  const Tensor* ts[] = {&x, &y};
  dispatch_float_type(x.type, [&](auto t) {
    launch_rms_norm<decltype(t), false>(a, x.rows(), ts, 2, stream(), "rms_norm");
  });
}

void CudaBackend::rms_norm_residual(const Tensor& x, const Tensor& residual, const Tensor& w, float eps,
                                    const Tensor& sum, const Tensor& y) {
  using namespace cuda_detail;
  op_checks::rms_norm_residual(x, residual, w, eps, sum, y);
  check_on_device("rms_norm_residual", {{"x", &x}, {"residual", &residual}, {"w", &w}, {"sum", &sum}, {"y", &y}});
  const RmsArgs a = make_args(x, &residual, &sum, w, eps, y);
  const Tensor* ts[] = {&x, &residual, &sum, &y};
  dispatch_float_type(x.type, [&](auto t) {
    launch_rms_norm<decltype(t), true>(a, x.rows(), ts, 4, stream(), "rms_norm_residual");
  });
}

}  // namespace llmr
