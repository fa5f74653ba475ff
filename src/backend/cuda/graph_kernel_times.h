#pragma once
// The kernels of a recorded CUDA graph timed one by one (Replay::time_kernels).
#include <cuda_runtime.h>

#include <vector>

#include "ops/backend.h"

namespace llmr::cuda_ops {

// The graph's kernel nodes in dependency order, each launched alone on `stream` `reps` times after
// an L2-sized write that empties the cache: the median of each, by CUDA events.
std::vector<KernelTime> time_graph_kernels(cudaGraph_t graph, cudaStream_t stream, int reps);

}  // namespace llmr::cuda_ops
