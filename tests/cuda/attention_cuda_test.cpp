// GPU attention paths against ReferenceBackend on fresh random inputs: the flash-decoding kernel
// for T <= 8 plus its merge (every lane layout, caches of 1 to 4096 rows) and for prompts (many
// (token, head) blocks), the previous split-K kernel (LLMR_CUDA_OLD_KERNELS=1 / =prefill), GQA ratios 4 and 8 and MQA, f16 and f32 caches, consecutive positions (passed as a
// kernel parameter) and scattered ones (staged on the device); q8_0 caches on every path.
// Tolerance: the kernels compute in f32 (dots, online softmax with rescaling, merges) against a
// double reference: |got - want| <= 2e-5 + 1e-4 |want|, as the CPU battery asks; f32 rounding over
// 4096 keys stays near 1e-6 relative.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "ops/reference/reference_backend.h"
#include "test_util.h"

namespace llmr {
namespace {

Backend& gpu() {
  static std::unique_ptr<Backend> b = make_cuda_backend();
  return *b;
}

struct Case {
  int64_t T, n_ctx;
  int n_head, n_kv_head, head_dim;
  int32_t first_pos;  // -1: scattered positions
};

HostBuffer random_tensor(DType type, int64_t rows, int64_t cols, float lo, float hi) {
  HostBuffer b(type, {rows, cols});
  const auto v = testing::random_floats(size_t(rows * cols), lo, hi);
  testing::fill(b.tensor(), [&](int64_t i) { return v[size_t(i)]; });
  return b;
}

void run_case(const Case& c, DType kv_type) {
  const std::string what = "T " + std::to_string(c.T) + " ctx " + std::to_string(c.n_ctx) + " heads " +
                           std::to_string(c.n_head) + "/" + std::to_string(c.n_kv_head) + " hd " +
                           std::to_string(c.head_dim) + " " + name(kv_type) +
                           (c.first_pos < 0 ? " scattered" : " from " + std::to_string(c.first_pos));
  SCOPED_TRACE(what);
  const AttentionSpec spec{c.n_head, c.n_kv_head, c.head_dim, 1.f / std::sqrt(float(c.head_dim))};
  const int64_t qc = int64_t(c.n_head) * c.head_dim, kvc = int64_t(c.n_kv_head) * c.head_dim;
  HostBuffer q = random_tensor(DType::F32, c.T, qc, -3.f, 3.f);  // sharp softmax, far from uniform
  HostBuffer k = random_tensor(kv_type, c.n_ctx, kvc, -1.f, 1.f);
  HostBuffer v = random_tensor(kv_type, c.n_ctx, kvc, -2.f, 2.f);
  HostBuffer want(DType::F32, {c.T, qc});
  std::vector<int32_t> pos(size_t(c.T));
  std::uniform_int_distribution<int32_t> any(0, int32_t(c.n_ctx - 1));
  for (int64_t t = 0; t < c.T; ++t) pos[size_t(t)] = c.first_pos < 0 ? any(testing::rng()) : c.first_pos + int32_t(t);
  ReferenceBackend().attention(q.tensor(), k.tensor(), v.tensor(), pos, spec, want.tensor());

  Backend& be = gpu();
  std::vector<float> poison(size_t(c.T * qc), std::nanf(""));
  HostBuffer out_init(DType::F32, {c.T, qc});
  std::memcpy(out_init.data(), poison.data(), poison.size() * 4);
  auto dq = be.upload(q.tensor()), dk = be.upload(k.tensor()), dv = be.upload(v.tensor());
  auto dout = be.upload(out_init.tensor());
  be.attention(dq->tensor(), dk->tensor(), dv->tensor(), pos, spec, dout->tensor());
  std::vector<float> got(size_t(c.T * qc));
  be.download(dout->tensor(), got.data());
  be.synchronize();
  for (int64_t t = 0; t < c.T; ++t)
    for (int64_t i = 0; i < qc; ++i) {
      const double e = want.tensor().row<float>(t)[i], g = got[size_t(t * qc + i)];
      ASSERT_TRUE(std::fabs(g - e) <= 2e-5 + 1e-4 * std::fabs(e))
          << "out[" << t << "][" << i << "] = " << g << ", want " << e;
    }
}

TEST(CudaAttention, DecodeOverLongCachesSplitsKeys) {
  for (DType kv : {DType::F16, DType::F32}) {
    run_case({1, 4096, 32, 8, 128, 4095}, kv);  // Llama-3-8B: GQA 4, full cache
    run_case({1, 4096, 32, 4, 128, 2999}, kv);  // GQA 8: two head groups of 4 per KV head
    run_case({1, 4096, 16, 1, 64, 4000}, kv);   // MQA
    run_case({1, 512, 32, 8, 128, 511}, kv);
    run_case({2, 1500, 8, 2, 80, 700}, kv);      // two tokens, head_dim not a multiple of 32
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// The flash-decoding kernel (T <= 8) over every layout it picks: f16 rows in 16-byte vectors
// (lane groups of 4..32 lanes for head_dim 32..256), f32 rows in float4s (one or two chunks per
// lane), the scalar layout (odd head_dim); one head per warp (MHA) or four (GQA 2/4/8, MQA);
// caches of 1, 17, 512 and 4096 rows (one split up to 64 splits plus the merge).
TEST(CudaAttention, DecodeKernelShapes) {
  for (DType kv : {DType::F16, DType::F32}) {
    for (int64_t T : {1, 2, 8}) {
      run_case({T, T, 8, 2, 128, 0}, kv);           // the first T tokens: caches of 1..8 rows
      run_case({T, 17 + T, 8, 8, 64, 17}, kv);      // MHA, 17 keys before
      run_case({T, 512, 32, 8, 128, int32_t(512 - T)}, kv);
      run_case({T, 4096, 32, 4, 128, int32_t(4096 - T)}, kv);  // GQA 8
      run_case({T, 600, 8, 1, 256, 300}, kv);       // MQA, largest head_dim
      run_case({T, 300, 6, 2, 33, 250}, kv);        // odd head_dim: scalar layout, GQA 3
      run_case({T, 200, 4, 4, 96, 150}, kv);        // f16: 12 of 16 lanes; f32: 24 of 32
      run_case({T, 100, 4, 2, 32, 80}, kv);         // smallest lane groups
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  run_case({1, 1, 4, 1, 128, 0}, DType::F16);  // a single key
}

// LLMR_CUDA_OLD_KERNELS=1 (or =prefill, for T > 8 only) keeps the previous kernel reachable for
// comparison runs: it must still agree with the reference.
TEST(CudaAttention, OldKernelsStillAgree) {
  ::setenv("LLMR_CUDA_OLD_KERNELS", "1", 1);
  run_case({1, 4096, 32, 8, 128, 4095}, DType::F16);
  run_case({2, 700, 8, 2, 80, 500}, DType::F32);
  run_case({100, 300, 8, 2, 128, 150}, DType::F16);
  ::setenv("LLMR_CUDA_OLD_KERNELS", "prefill", 1);  // the previous kernel for prompts only
  run_case({100, 300, 8, 2, 128, 150}, DType::F16);
  run_case({33, 100, 6, 3, 17, 60}, DType::F32);
  ::unsetenv("LLMR_CUDA_OLD_KERNELS");
}

// The f32 prompt path (f16 prompts with head_dim 64/128 take the tensor-core kernel by default, at a
// looser bound: tests/cuda/attention_mma_cuda_test.cpp), so LLMR_CUDA_FLASH_MMA=0 here.
TEST(CudaAttention, PrefillOneSplitPerBlock) {
  ::setenv("LLMR_CUDA_FLASH_MMA", "0", 1);
  run_case({512, 512, 8, 2, 128, 0}, DType::F16);   // a whole 512-token prompt, GQA 4
  run_case({256, 1024, 16, 2, 64, 600}, DType::F16); // continuing a prompt, GQA 8
  run_case({64, 300, 8, 1, 96, 200}, DType::F32);   // MQA
  run_case({40, 2048, 4, 4, 256, 2000}, DType::F16); // largest head_dim
  run_case({33, 100, 6, 3, 17, 60}, DType::F32);    // odd head_dim
  ::unsetenv("LLMR_CUDA_FLASH_MMA");
}

// q8_0 caches (--kv-type q8_0): the flash-decoding kernel reads a block's scale and 8 levels per lane
// (head_dim 32..256, every lane-group width), for decode steps and for prompts (with
// LLMR_CUDA_FLASH_MMA=0; the tensor-core kernel's q8_0 battery is in attention_mma_cuda_test.cpp);
// the previous kernel reads them element by element,
// and serves q8_0 keys beside f16 values. The reference dequantizes the same bytes, so the f32 bound
// above holds.
void run_mixed(const Case& c, DType k_type, DType v_type);

TEST(CudaAttention, Q8CachesOnEveryPath) {
  for (int64_t T : {1, 3, 8}) {
    run_case({T, T, 8, 2, 128, 0}, DType::Q8_0);
    run_case({T, 4096, 32, 8, 128, int32_t(4096 - T)}, DType::Q8_0);  // Llama-3-8B heads, long cache
    run_case({T, 600, 8, 1, 256, 300}, DType::Q8_0);                   // MQA, largest head_dim
    run_case({T, 200, 4, 4, 96, 150}, DType::Q8_0);                    // 12 of 16 lanes
    run_case({T, 100, 4, 2, 32, 80}, DType::Q8_0);                     // lane groups of 4
    run_case({T, 300, 6, 2, 64, 250}, DType::Q8_0);                    // GQA 3
    if (::testing::Test::HasFatalFailure()) return;
  }
  ::setenv("LLMR_CUDA_FLASH_MMA", "0", 1);  // the tensor-core kernel has its own, looser battery
  run_case({512, 512, 8, 2, 128, 0}, DType::Q8_0);    // a whole prompt
  run_case({100, 700, 16, 2, 64, 600}, DType::Q8_0);  // a prompt continuing a cache
  ::unsetenv("LLMR_CUDA_FLASH_MMA");
  run_case({7, 4096, 32, 8, 128, -1}, DType::Q8_0);   // scattered positions
  ::setenv("LLMR_CUDA_OLD_KERNELS", "1", 1);
  run_case({1, 4096, 32, 8, 128, 4095}, DType::Q8_0);
  run_case({100, 300, 8, 2, 128, 150}, DType::Q8_0);
  ::unsetenv("LLMR_CUDA_OLD_KERNELS");
  run_mixed({2, 500, 8, 2, 64, 400}, DType::Q8_0, DType::F16);
  run_mixed({2, 500, 8, 2, 64, 400}, DType::F32, DType::Q8_0);
}

void run_mixed(const Case& c, DType k_type, DType v_type) {
  SCOPED_TRACE(std::string("k ") + name(k_type) + " v " + name(v_type));
  const AttentionSpec spec{c.n_head, c.n_kv_head, c.head_dim, 1.f / std::sqrt(float(c.head_dim))};
  const int64_t qc = int64_t(c.n_head) * c.head_dim, kvc = int64_t(c.n_kv_head) * c.head_dim;
  HostBuffer q = random_tensor(DType::F32, c.T, qc, -3.f, 3.f), want(DType::F32, {c.T, qc});
  HostBuffer k = random_tensor(k_type, c.n_ctx, kvc, -1.f, 1.f), v = random_tensor(v_type, c.n_ctx, kvc, -2.f, 2.f);
  std::vector<int32_t> pos(size_t(c.T));
  for (int64_t t = 0; t < c.T; ++t) pos[size_t(t)] = c.first_pos + int32_t(t);
  ReferenceBackend().attention(q.tensor(), k.tensor(), v.tensor(), pos, spec, want.tensor());
  Backend& be = gpu();
  HostBuffer out_init(DType::F32, {c.T, qc});  // NaN: an element the kernel leaves unwritten fails
  testing::fill(out_init.tensor(), [](int64_t) { return std::nanf(""); });
  auto dq = be.upload(q.tensor()), dk = be.upload(k.tensor()), dv = be.upload(v.tensor());
  auto dout = be.upload(out_init.tensor());
  be.attention(dq->tensor(), dk->tensor(), dv->tensor(), pos, spec, dout->tensor());
  std::vector<float> got(size_t(c.T * qc));
  be.download(dout->tensor(), got.data());
  be.synchronize();
  for (int64_t i = 0; i < c.T * qc; ++i) {
    const double e = want.tensor().row<float>(i / qc)[i % qc], g = got[size_t(i)];
    ASSERT_TRUE(std::fabs(g - e) <= 2e-5 + 1e-4 * std::fabs(e)) << "out[" << i / qc << "][" << i % qc << "] = " << g << ", want " << e;
  }
}

TEST(CudaAttention, ScatteredPositionsAreStaged) {
  run_case({7, 4096, 32, 8, 128, -1}, DType::F16);
  run_case({3, 64, 4, 1, 32, -1}, DType::F32);
}

TEST(CudaAttention, HeadDimOverLimitIsAnError) {
  const AttentionSpec spec{1, 1, 512, 0.04f};
  auto q = gpu().alloc(DType::F32, {1, 512}), k = gpu().alloc(DType::F16, {4, 512});
  auto v = gpu().alloc(DType::F16, {4, 512}), out = gpu().alloc(DType::F32, {1, 512});
  const std::vector<int32_t> pos = {3};
  try {
    gpu().attention(q->tensor(), k->tensor(), v->tensor(), pos, spec, out->tensor());
    ADD_FAILURE() << "no Error for head_dim 512";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("head_dim 512"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace llmr
