#pragma once
// Programmatic dependent launch (Hopper): a kernel launched with launch_pdl may start while the
// kernel before it on the stream is still running. It must call pdl_wait() before it reads what
// that kernel wrote or writes anything (and on every path, so its completion still implies the
// previous kernel's); pdl_release() lets the next kernel start launching early. Both are no-ops
// for kernels launched without the attribute. LLMR_CUDA_PDL=0 launches everything plainly.
// Every kernel here calls pdl_release() only after pdl_wait() (or not at all), so a kernel that has
// started finds the kernel two before it finished: what that one and earlier operations wrote may be
// read before the wait (attention_decode.cu reads the cache rows of earlier steps so, and a norm
// handoff's residual product the rows of y it adds into: gemv_xreg.h's XregNormOut).
#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/kernel_status.h"

namespace llmr::cuda_ops {

__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void pdl_release() { asm volatile("griddepcontrol.launch_dependents;"); }

bool pdl_enabled();  // pdl.cu

// Asks, once per kernel, for the L1 / shared memory split the kernels of F16's generation step share
// (pdl.cu), so that a programmatic dependent's blocks may join its predecessor's on a multiprocessor
// instead of waiting for it to empty and change split. The launchers of those kernels call it, and
// launch_pdl for every kernel where LLMR_CUDA_CARVEOUT_ALL=1 (read at every launch; experiments).
void share_small_carveout(const void* kernel, int threads, size_t dynamic_smem);
bool carveout_for_all();

// kernel<<<grid, block, smem, stream>>>(args...) as a programmatic dependent of the previous kernel.
template <typename... Params, typename... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, const char* op,
                const char* name, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_enabled() ? 1 : 0;
  if (carveout_for_all())
    share_small_carveout(reinterpret_cast<const void*>(kernel), int(block.x * block.y * block.z), smem);
  check_cuda(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...), op, name);
  check_launch(op, name);
}

}  // namespace llmr::cuda_ops
