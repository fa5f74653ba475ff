#pragma once
// What this processor can run, read once from CPUID; kernels pick their variant from it.
namespace llmr::cpu {

struct CpuFeatures {
  bool avx2 = false;      // with FMA and F16C
  bool avx512 = false;    // F, BW, VL, DQ
  bool avx512_vnni = false;
  bool avx512_bf16 = false;
};

const CpuFeatures& cpu_features();

}  // namespace llmr::cpu
