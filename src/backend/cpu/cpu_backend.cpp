#include "backend/cpu/cpu_backend.h"

#include <cstdlib>
#include <cstring>

namespace llmr {

namespace {
bool repack_requested() {
  const char* v = std::getenv("LLMR_CPU_REPACK");
  return !(v && std::strcmp(v, "0") == 0);
}
}  // namespace

CpuBackend::CpuBackend(int n_threads) : pool_(n_threads), repack_weights_(repack_requested()) {}

}  // namespace llmr
