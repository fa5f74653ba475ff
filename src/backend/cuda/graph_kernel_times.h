#pragma once
// The kernels of a recorded CUDA graph timed one by one (Replay::time_kernels) and knocked out of
// the graph by group (Replay::knockout_kernels).
#include <cuda_runtime.h>

#include <vector>

#include "ops/backend.h"

namespace llmr::cuda_ops {

// The graph's kernel nodes in dependency order, each launched alone on `stream` `reps` times after
// an L2-sized write that empties the cache: the median of each, by CUDA events.
std::vector<KernelTime> time_graph_kernels(cudaGraph_t graph, cudaStream_t stream, int reps);

// The instantiated graph `exec` (of `graph`) replayed with and then without each group of its kernel
// nodes (same function and launch shape; disabled, then enabled again): medians of `reps` samples of
// four replays queued back to back, per replay.
std::vector<KernelKnockout> knockout_graph_kernels(cudaGraph_t graph, cudaGraphExec_t exec, cudaStream_t stream,
                                                   int reps);

}  // namespace llmr::cuda_ops
