#include "backend/cpu/cpu_backend.h"

namespace llmr {

CpuBackend::CpuBackend(int n_threads) : pool_(n_threads) {}

}  // namespace llmr
