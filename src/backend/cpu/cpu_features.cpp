#include "backend/cpu/cpu_features.h"

#include <cpuid.h>

#include <cstdlib>
#include <cstring>

namespace llmr::cpu {

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
    __builtin_cpu_init();
    // F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports does not know "f16c".
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
    f.avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    f.avx512 = f.avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    f.avx512_vnni = f.avx512 && __builtin_cpu_supports("avx512vnni");
    f.avx512_bf16 = f.avx512 && __builtin_cpu_supports("avx512bf16");
    // LLMR_CPU_LEVEL=scalar|avx2 caps the level, so tests can exercise every variant on one machine.
    if (const char* level = std::getenv("LLMR_CPU_LEVEL")) {
      if (std::strcmp(level, "scalar") == 0) f = CpuFeatures{};
      if (std::strcmp(level, "avx2") == 0) f.avx512 = f.avx512_vnni = f.avx512_bf16 = false;
    }
    return f;
  }();
  return features;
}

}  // namespace llmr::cpu
