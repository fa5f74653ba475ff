// CpuBackend::matmul: activations quantized to 8 bits once per call (for quantized weights), then
// output rows split across the pool; each weight row is decoded once per tile of kTokenTile tokens
// while a group of tokens' activations stays in cache; each thread reads its rows as several streams.
#include <xmmintrin.h>

#include <algorithm>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/matmul_kernels.h"
#include "core/error.h"
#include "ops/matmul_checks.h"
#include "tensor/q4_0_repack.h"
#include "tensor/q4_k_repack.h"
#include "tensor/q8_0_repack.h"

namespace llmr::cpu {
namespace {

constexpr int64_t kTokenGroup = 64;  // tokens whose activations are reused across a chunk of rows
constexpr int64_t kPanelMinTokens = 4;  // below this the panel decode costs more than it saves
constexpr int kStreams = 4;  // row streams each thread reads at once (see the row loop)

RowDotFn kernel_for(Level level, DType type) {
  RowDotFn fn = nullptr;
  switch (level) {
    case Level::Avx512: fn = row_dot_avx512(type); break;
    case Level::Avx2: fn = row_dot_avx2(type); break;
    case Level::Scalar: fn = row_dot_scalar(type); break;
  }
  check(fn != nullptr, std::string("matmul: no ") + level_name(level) + " kernel for " + name(type));
  return fn;
}

}  // namespace

const char* level_name(Level level) {
  switch (level) {
    case Level::Avx512: return "avx512";
    case Level::Avx2: return "avx2";
    default: return "scalar";
  }
}

Level best_level() {
  const auto& f = cpu_features();
  if (f.avx512_vnni) return Level::Avx512;
  if (f.avx2) return Level::Avx2;
  return Level::Scalar;
}

bool uses_int8_activations(DType type) {
  return type == DType::Q8_0 || type == DType::Q8_0R || type == DType::Q4_0 || type == DType::Q4_0R || type == DType::Q4_KR || type == DType::Q4_1 || type == DType::Q4_K ||
         type == DType::Q5_K || type == DType::Q6_K;
}

void matmul_at_level(Level level, const Tensor& x, const Tensor& w, const Tensor* bias,
                     const Tensor& y, ThreadPool* pool) {
  const int64_t T = x.shape[0], n = x.shape[1], n_out = w.shape[0];
  if (T == 0 || n_out == 0) return;
  // Q8_0R / Q4_0R / Q4_KR: AVX-512 reads them as panels for every T; lower levels unpack each row to plain.
  const bool repacked = w.type == DType::Q8_0R || w.type == DType::Q4_0R || w.type == DType::Q4_KR;
  const DType plain_type = w.type == DType::Q8_0R   ? DType::Q8_0
                           : w.type == DType::Q4_0R ? DType::Q4_0
                           : w.type == DType::Q4_KR ? DType::Q4_K
                                                    : w.type;
  if (repacked)
    check(n_out % kQ8RRows == 0 && w.stride[0] == int64_t(row_bytes(w.type, n)),
          "matmul: " + std::string(name(w.type)) + " weight " + w.describe() + " is not whole contiguous groups of 16 rows");
  const RowDotFn dot = kernel_for(level, plain_type);
  const bool int8 = uses_int8_activations(w.type);
  auto for_range = [&](int64_t count, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    if (pool) pool->parallel_for(count, grain, fn);
    else fn(0, count);
  };

  // Token activations as one contiguous array: ActBlocks, or the f32 rows themselves when dense.
  const void* act = x.data;
  int64_t act_stride = x.stride[0] / int64_t(sizeof(float));
  std::vector<ActBlock> blocks;
  if (int8) {
    const int64_t nb = n / 32;
    const int64_t stride = act_stride_blocks(nb);
    blocks.resize(size_t(T * stride));
    for_range(T, 4, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        ActBlock* xb = blocks.data() + t * stride;
        if (level == Level::Avx512) quantize_activations_avx512(x.row<float>(t), xb, n);
        else quantize_activations(x.row<float>(t), xb, n);
        float* heads = act_heads(xb, nb);
        for (int64_t c = 0; c < nb; ++c) {
          heads[c] = xb[c].d;
          heads[nb + c] = xb[c].s;
          int32_t sum = 0;
          for (int8_t q : xb[c].qs) sum += q;
          reinterpret_cast<int32_t*>(heads)[2 * nb + c] = -128 * sum;
        }
      }
    });
    act = blocks.data();
    act_stride = stride;
  } else if (x.stride[0] % int64_t(sizeof(float)) != 0) {
    throw Error("matmul: x " + x.describe() + " has a row stride that is not a whole number of floats");
  }
  const size_t unit = int8 ? sizeof(ActBlock) : sizeof(float);
  const float* b = bias ? static_cast<const float*>(bias->data) : nullptr;

  // Many tokens at AVX-512: panels of 16 rows, each decoded once and dotted with every token.
  const PanelFn panel = level == Level::Avx512 && (T >= kPanelMinTokens || repacked) ? panel_avx512(w.type) : nullptr;
  if (panel) {
    const int64_t panels = (n_out + kPanelRows - 1) / kPanelRows;
    const auto* xb = static_cast<const ActBlock*>(act);
    float* y0 = static_cast<float*>(y.data);
    const int64_t y_stride = y.stride[0] / int64_t(sizeof(float));
    check(y.stride[0] % int64_t(sizeof(float)) == 0 && y.stride[1] == int64_t(sizeof(float)),
          "matmul: y " + y.describe() + " rows are not contiguous floats");
    if (repacked && T == 1) {
      // One token: each thread's groups as kStreams contiguous parts read side by side (see below).
      for_range(panels, 1, [&](int64_t p0, int64_t p1) {
        const int64_t streams = std::min<int64_t>(kStreams, p1 - p0), part = (p1 - p0 + streams - 1) / streams;
        for (int64_t i = 0; i < part; ++i) {
          const void* groups[kStreams];
          float* ys[kStreams];
          const float* bs[kStreams];
          int count = 0;
          for (int64_t s = 0; s < streams; ++s) {
            const int64_t p = p0 + s * part + i;
            if (p >= std::min(p1, p0 + (s + 1) * part)) continue;
            groups[count] = w.row(p * kPanelRows);
            ys[count] = y0 + p * kPanelRows;
            bs[count++] = b ? b + p * kPanelRows : nullptr;
          }
          if (w.type == DType::Q8_0R) q8r_gemv_avx512(groups, count, xb, n, ys, bs);
          else if (w.type == DType::Q4_0R) q4r_gemv_avx512(groups, count, xb, n, ys, bs);
          else q4kr_gemv_avx512(groups, count, xb, n, ys, bs);
        }
      });
      return;
    }
    for_range(panels, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t r0 = p * kPanelRows;
        const int rows = int(std::min<int64_t>(kPanelRows, n_out - r0));
        panel(w.row(r0), size_t(w.stride[0]), rows, xb, act_stride, T, n, y0 + r0, y_stride, b ? b + r0 : nullptr);
      }
    });
    return;
  }

  // Small chunks of rows keep all threads busy for T = 1; larger T has work enough per row.
  const int64_t grain = std::max<int64_t>(1, 16 / std::min<int64_t>(T, 16));
  const int64_t row_size = int64_t(row_bytes(w.type, n));
  for_range(n_out, grain, [&](int64_t r0, int64_t r1) {
    float out[kTokenTile];
    thread_local std::vector<quant::BlockQ8_0> plain;  // a repacked row unpacked (levels below AVX-512)
    if (repacked && plain.size() < size_t(n / 32) + 1) plain.resize(size_t(n / 32) + 1);  // room for any (q4_k: 4.5 bytes per element)
    // The chunk as kStreams contiguous parts read in turn, a row of each: several sequential
    // streams in flight at once pull more from DRAM per core than one.
    const int64_t streams = std::min<int64_t>(kStreams, r1 - r0);
    const int64_t part = (r1 - r0 + streams - 1) / streams;
    for (int64_t g = 0; g < T; g += kTokenGroup) {
      const int64_t g_end = std::min(T, g + kTokenGroup);
      for (int64_t i = 0; i < part; ++i) {
        for (int64_t s = 0; s < streams; ++s) {
          const int64_t r = r0 + s * part + i, end = std::min(r1, r0 + (s + 1) * part);
          if (r >= end) continue;
          if (w.type == DType::Q8_0R) unpack_q8_0r_row(w, r, plain.data());
          else if (w.type == DType::Q4_0R) unpack_q4_0r_row(w, r, reinterpret_cast<quant::BlockQ4_0*>(plain.data()));
          else if (w.type == DType::Q4_KR) unpack_q4_kr_row(w, r, reinterpret_cast<quant::BlockQ4_K*>(plain.data()));
          const void* wrow = repacked ? static_cast<const void*>(plain.data()) : w.row(r);
          // Weights stream from memory once: this stream's next row, fetched while the others run.
          if (r + 1 < end && !repacked) {
            const char* ahead = static_cast<const char*>(w.row(r + 1));
            for (int64_t off = 0; off < row_size; off += 64) _mm_prefetch(ahead + off, _MM_HINT_T0);
          }
          const float bias_r = b ? b[r] : 0.f;
          for (int64_t t = g; t < g_end; t += kTokenTile) {
            const int nt = int(std::min<int64_t>(kTokenTile, g_end - t));
            dot(wrow, static_cast<const char*>(act) + size_t(t * act_stride) * unit, act_stride, nt, n, out);
            for (int j = 0; j < nt; ++j) y.row<float>(t + j)[r] = out[j] + bias_r;
          }
        }
      }
    }
  });
}

}  // namespace llmr::cpu

namespace llmr {

void CpuBackend::matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  check_matmul_args(x, w, bias, y);
  cpu::matmul_at_level(cpu::best_level(), x, w, bias, y, &pool_);
}

}  // namespace llmr
