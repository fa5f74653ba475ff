// The tensor-core prompt attention (attention_prefill_mma.cu) against ReferenceBackend on fresh random
// inputs: T in {9, 64, 130, 512} x {0, 37} cache rows before the chunk x head_dim {64, 128} x GQA group
// {1, 4} x n_kv {1, 8}, consecutive positions (a kernel parameter) and scattered ones (on the device),
// called directly (it must accept every one of these shapes) and through CudaBackend::attention (the
// dispatch) with LLMR_CUDA_FLASH_MMA unset and =0.
// Tolerance: the kernel rounds Q (pre-scaled) and the softmax weights P to f16 (unit roundoff 2^-11),
// so each weight is off by up to ~1e-3 relative and an output by that much of the spread of V (here
// [-2, 2]): a host emulation of these roundings over these shapes gave at most 1e-3 and an RMS of
// 1.2e-4. We ask |got - want| <= 3e-3 + 3e-3 |want| per element and RMS <= 3e-4 per case, against
// 2e-5 + 1e-4 |want| for the f32 kernels (tests/cuda/attention_cuda_test.cpp), which reach ~1e-6.
// q8_0 caches: the kernel also rounds each dequantized K/V element (d * q, up to 18 bits) to f16,
// relative 2^-11 at most, which moves an output (an average of V rows in [-2, 2]) by under 1e-3 at
// worst and far less in RMS: the same bounds hold.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/matmul_kernels.h"
#include "ops/reference/reference_backend.h"
#include "test_util.h"

namespace llmr {
namespace {

constexpr double kAbsTol = 3e-3, kRelTol = 3e-3, kRmsTol = 3e-4;
constexpr float kPoison = -12345.f;  // written around the output rows; must survive

CudaBackend& cuda() {
  static CudaBackend be(0);
  return be;
}

struct Case {
  int64_t T;
  int prefix;  // cache rows before the chunk (a continued prompt)
  int head_dim, group, n_kv;
  bool scattered;      // positions drawn at random over the cache (staged on the device)
  int q_pad = 0;       // extra floats at the end of every q / out row (strided rows)
  int kv_pad = 0;      // extra elements at the end of every K / V row (whole blocks of 32 for q8_0)
  DType kv_type = DType::F16;
};

std::string describe(const Case& c) {
  return "T " + std::to_string(c.T) + " prefix " + std::to_string(c.prefix) + " hd " + std::to_string(c.head_dim) +
         " group " + std::to_string(c.group) + " n_kv " + std::to_string(c.n_kv) +
         (c.scattered ? " scattered" : " consecutive") + (c.q_pad ? " strided q/out" : "") +
         (c.kv_pad ? " strided kv" : "") + " " + name(c.kv_type);
}

// A [rows, cols + pad] host buffer of random values (pad columns too), and its [rows, cols] view.
struct Padded {
  HostBuffer buf;
  Tensor view;
};

Padded random_padded(DType type, int64_t rows, int64_t cols, int64_t pad, float lo, float hi) {
  Padded p{HostBuffer(type, {rows, cols + pad}), {}};
  const auto v = testing::random_floats(size_t(rows * (cols + pad)), lo, hi);
  testing::fill(p.buf.tensor(), [&](int64_t i) { return v[size_t(i)]; });
  p.view = p.buf.tensor();
  p.view.shape[1] = cols;
  return p;
}

// The same [rows, cols] view over a device copy of the whole padded buffer.
Tensor device_view(const Tensor& host_view, const Buffer& dev) {
  Tensor t = dev.tensor();
  t.shape[1] = host_view.shape[1];
  return t;
}

// Runs one case; `direct`: cuda_ops::attention_prefill_mma itself (must accept the shape), else
// CudaBackend::attention (whatever the dispatch picks).
void run_case(const Case& c, bool direct) {
  SCOPED_TRACE(describe(c) + (direct ? " direct" : " dispatch"));
  const int n_head = c.group * c.n_kv;
  const AttentionSpec spec{n_head, c.n_kv, c.head_dim, 1.f / std::sqrt(float(c.head_dim))};
  const int64_t qc = int64_t(n_head) * c.head_dim, kvc = int64_t(c.n_kv) * c.head_dim;
  const int64_t n_ctx = c.prefix + c.T;
  Padded q = random_padded(DType::F32, c.T, qc, c.q_pad, -3.f, 3.f);  // sharp softmax, far from uniform
  Padded k = random_padded(c.kv_type, n_ctx, kvc, c.kv_pad, -1.f, 1.f);
  Padded v = random_padded(c.kv_type, n_ctx, kvc, c.kv_pad, -2.f, 2.f);
  HostBuffer out_init(DType::F32, {c.T, qc + c.q_pad});
  testing::fill(out_init.tensor(), [](int64_t) { return kPoison; });
  std::vector<int32_t> pos(size_t(c.T));
  std::uniform_int_distribution<int32_t> any(0, int32_t(n_ctx - 1));
  for (int64_t t = 0; t < c.T; ++t) pos[size_t(t)] = c.scattered ? any(testing::rng()) : c.prefix + int32_t(t);
  HostBuffer want(DType::F32, {c.T, qc});
  ReferenceBackend().attention(q.view, k.view, v.view, pos, spec, want.tensor());

  CudaBackend& be = cuda();
  auto dq = be.upload(q.buf.tensor()), dk = be.upload(k.buf.tensor()), dv = be.upload(v.buf.tensor());
  auto dout = be.upload(out_init.tensor());
  const Tensor q_d = device_view(q.view, *dq), k_d = device_view(k.view, *dk), v_d = device_view(v.view, *dv);
  const Tensor out_d = device_view(q.view, *dout);
  if (direct) {
    HostBuffer pos_host(DType::I32, {c.T});
    std::memcpy(pos_host.data(), pos.data(), pos.size() * 4);
    auto dpos = be.upload(pos_host.tensor());
    const int32_t* dev_pos = c.scattered ? static_cast<const int32_t*>(dpos->tensor().data) : nullptr;
    ASSERT_TRUE(cuda_ops::attention_prefill_mma(q_d, k_d, v_d, pos, spec, out_d, be.stream(), dev_pos))
        << "the tensor-core kernel declined a shape it must serve";
    be.synchronize();
  } else {
    be.attention(q_d, k_d, v_d, pos, spec, out_d);
  }
  std::vector<float> got(size_t(c.T * (qc + c.q_pad)));
  be.download(dout->tensor(), got.data());
  be.synchronize();

  double sse = 0;
  for (int64_t t = 0; t < c.T; ++t) {
    const float* g = got.data() + t * (qc + c.q_pad);
    for (int64_t i = 0; i < qc; ++i) {
      const double e = want.tensor().row<float>(t)[i], err = std::fabs(double(g[i]) - e);
      ASSERT_TRUE(err <= kAbsTol + kRelTol * std::fabs(e)) << "out[" << t << "][" << i << "] = " << g[i] << ", want " << e;
      sse += err * err;
    }
    for (int64_t i = qc; i < qc + c.q_pad; ++i) ASSERT_EQ(g[i], kPoison) << "wrote past row " << t << " of out";
  }
  const double rms = std::sqrt(sse / double(c.T * qc));
  EXPECT_LE(rms, kRmsTol) << "RMS error over the case";
}

TEST(CudaAttentionMma, MatchesReferenceOverPromptShapes) {
  for (int64_t T : {9, 64, 130, 512})
    for (int prefix : {0, 37})
      for (int hd : {64, 128})
        for (int group : {1, 4})
          for (int n_kv : {1, 8})
            for (bool scattered : {false, true}) {
              run_case({T, prefix, hd, group, n_kv, scattered}, true);
              if (::testing::Test::HasFatalFailure()) return;
            }
}

// q8_0 caches (--kv-type q8_0): K/V tiles dequantized to f16 into the same shared tiles.
TEST(CudaAttentionMma, Q8CachesOverPromptShapes) {
  for (int64_t T : {9, 130, 512})
    for (int hd : {64, 128})
      for (int group : {1, 4}) {
        run_case({T, 37, hd, group, 8, false, 0, 0, DType::Q8_0}, true);
        run_case({T, 0, hd, group, 1, true, 0, 0, DType::Q8_0}, true);
        if (::testing::Test::HasFatalFailure()) return;
      }
  run_case({100, 20, 128, 4, 2, false, 3, 32, DType::Q8_0}, true);  // rows with a block of room after them
  run_case({300, 1000, 128, 4, 8, false, 0, 0, DType::Q8_0}, true);
  run_case({512, 0, 128, 4, 8, false, 0, 0, DType::Q8_0}, false);  // through the dispatch
}

// Strided q / out rows (odd padding: no vector loads possible) and K/V rows with room after them;
// GQA 8 (8 tokens per block) and GQA 3 (21 tokens per block, one padding row).
TEST(CudaAttentionMma, StridedRowsAndOtherGroups) {
  run_case({100, 20, 128, 4, 2, false, 3, 8}, true);
  run_case({77, 0, 64, 8, 2, true, 5, 16}, true);
  run_case({70, 5, 128, 3, 2, false}, true);
  run_case({300, 1000, 128, 4, 8, false}, true);  // a long cached prefix: many more keys than queries
}

// The dispatch in CudaBackend::attention: prompts (T > 8) with f16 caches take the tensor-core
// kernel by default, LLMR_CUDA_FLASH_MMA=0 turns it off (then the f32 kernel must meet its own,
// tighter bound), and shapes the kernel declines (head_dim 96, f32 caches) still agree.
TEST(CudaAttentionMma, DispatchOnOffAndFallbacks) {
  ::unsetenv("LLMR_CUDA_FLASH_MMA");
  run_case({512, 0, 128, 4, 8, false}, false);  // Llama-3-8B's attention shape
  run_case({130, 37, 64, 1, 8, true}, false);
  run_case({64, 10, 96, 4, 2, false}, false);   // head_dim 96: the f32 kernel
  ::setenv("LLMR_CUDA_FLASH_MMA", "0", 1);
  run_case({130, 37, 128, 4, 8, false}, false);
  ::unsetenv("LLMR_CUDA_FLASH_MMA");

  // Off, the result is the f32 kernel's: within its bound of the reference.
  const AttentionSpec spec{8, 2, 128, 1.f / std::sqrt(128.f)};
  const int64_t T = 40, qc = 8 * 128, kvc = 2 * 128;
  Padded q = random_padded(DType::F32, T, qc, 0, -3.f, 3.f);
  Padded k = random_padded(DType::F16, T, kvc, 0, -1.f, 1.f), v = random_padded(DType::F16, T, kvc, 0, -2.f, 2.f);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = int32_t(t);
  HostBuffer want(DType::F32, {T, qc});
  ReferenceBackend().attention(q.view, k.view, v.view, pos, spec, want.tensor());
  CudaBackend& be = cuda();
  auto dq = be.upload(q.view), dk = be.upload(k.view), dv = be.upload(v.view), dout = be.alloc(DType::F32, {T, qc});
  std::vector<float> got(size_t(T * qc));
  ::setenv("LLMR_CUDA_FLASH_MMA", "0", 1);
  be.attention(dq->tensor(), dk->tensor(), dv->tensor(), pos, spec, dout->tensor());
  ::unsetenv("LLMR_CUDA_FLASH_MMA");
  be.download(dout->tensor(), got.data());
  be.synchronize();
  for (int64_t i = 0; i < T * qc; ++i) {
    const double e = want.tensor().row<float>(i / qc)[i % qc];
    ASSERT_LE(std::fabs(got[size_t(i)] - e), 2e-5 + 1e-4 * std::fabs(e)) << "element " << i << " with the kernel off";
  }
}

// Shapes the kernel does not serve are declined (the caller falls back), never mis-computed.
TEST(CudaAttentionMma, DeclinesUnsupportedShapes) {
  CudaBackend& be = cuda();
  const std::vector<int32_t> pos(16, 0);
  auto q = be.alloc(DType::F32, {16, 4 * 96}), out = be.alloc(DType::F32, {16, 4 * 96});
  auto k16 = be.alloc(DType::F16, {16, 96}), v16 = be.alloc(DType::F16, {16, 96});
  EXPECT_FALSE(cuda_ops::attention_prefill_mma(q->tensor(), k16->tensor(), v16->tensor(), pos, {4, 1, 96, 0.1f},
                                               out->tensor(), be.stream(), nullptr));
  auto q2 = be.alloc(DType::F32, {16, 128}), out2 = be.alloc(DType::F32, {16, 128});
  auto k32 = be.alloc(DType::F32, {16, 128}), v32 = be.alloc(DType::F32, {16, 128});
  EXPECT_FALSE(cuda_ops::attention_prefill_mma(q2->tensor(), k32->tensor(), v32->tensor(), pos, {1, 1, 128, 0.1f},
                                               out2->tensor(), be.stream(), nullptr));
  ::setenv("LLMR_CUDA_FLASH_MMA", "0", 1);
  auto k2 = be.alloc(DType::F16, {16, 128}), v2 = be.alloc(DType::F16, {16, 128});
  EXPECT_FALSE(cuda_ops::attention_prefill_mma(q2->tensor(), k2->tensor(), v2->tensor(), pos, {1, 1, 128, 0.1f},
                                               out2->tensor(), be.stream(), nullptr));
  ::unsetenv("LLMR_CUDA_FLASH_MMA");
}

}  // namespace
}  // namespace llmr
