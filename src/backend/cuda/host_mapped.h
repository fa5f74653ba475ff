#pragma once
// Host memory that kernels write (CudaBackend::written_from_device: pinned, mapped): the GEMV
// launchers ask whether an output lies there, so that they store it over the bus in whole lines
// rather than a float at a time.
#include <cstddef>

namespace llmr::cuda_ops {

// Notes [p, p + bytes) as host memory kernels write (again: no second entry).
void note_host_mapped(const void* p, size_t bytes);
// Whether p lies in memory so noted.
bool host_mapped(const void* p);

}  // namespace llmr::cuda_ops
