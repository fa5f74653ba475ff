// Timing a recorded step's kernels one by one: which kernels a step's time goes to, without a
// profiler (the H200's sandbox may have no hardware counters).
#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/graph_kernel_times.h"

namespace llmr::cuda_ops {
using cuda_detail::cuda_check;

namespace {

// Nodes in dependency order (Kahn's algorithm; a captured stream gives a chain).
std::vector<cudaGraphNode_t> ordered_nodes(cudaGraph_t graph) {
  size_t n = 0;
  cuda_check(cudaGraphGetNodes(graph, nullptr, &n), "time_kernels", "cudaGraphGetNodes");
  std::vector<cudaGraphNode_t> nodes(n);
  if (n) cuda_check(cudaGraphGetNodes(graph, nodes.data(), &n), "time_kernels", "cudaGraphGetNodes");
  std::map<cudaGraphNode_t, std::vector<cudaGraphNode_t>> dependents;
  std::map<cudaGraphNode_t, size_t> waiting;
  for (cudaGraphNode_t node : nodes) waiting[node];
  // Edges with their data: a programmatic (PDL) edge makes the query without it fail as "lossy".
  size_t m = 0;
  cuda_check(cudaGraphGetEdges(graph, nullptr, nullptr, nullptr, &m), "time_kernels", "cudaGraphGetEdges");
  std::vector<cudaGraphNode_t> from(m), to(m);
  std::vector<cudaGraphEdgeData> edge_data(m);
  if (m)
    cuda_check(cudaGraphGetEdges(graph, from.data(), to.data(), edge_data.data(), &m), "time_kernels",
               "cudaGraphGetEdges");
  for (size_t e = 0; e < m; ++e) {
    ++waiting[to[e]];
    dependents[from[e]].push_back(to[e]);
  }
  std::vector<cudaGraphNode_t> order, ready;
  for (cudaGraphNode_t node : nodes)
    if (waiting[node] == 0) ready.push_back(node);
  while (!ready.empty()) {
    const cudaGraphNode_t node = ready.back();
    ready.pop_back();
    order.push_back(node);
    for (cudaGraphNode_t d : dependents[node])
      if (--waiting[d] == 0) ready.push_back(d);
  }
  return order;
}

// "gemv_xreg_kernel<(llmr::DType)12, 1, 2, 1, 2, 8>" from the mangled name: namespaces and the
// parameter list dropped, template arguments kept (they tell the variants apart).
std::string kernel_name(const void* func) {
  const char* mangled = nullptr;
  if (cudaFuncGetName(&mangled, func) != cudaSuccess || !mangled) {
    cudaGetLastError();
    return "(unnamed kernel)";
  }
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  std::string name = status == 0 && demangled ? demangled.get() : mangled;
  for (const std::string prefix : {"llmr::cuda_ops::", "(anonymous namespace)::", "llmr::"}) {
    for (size_t at; (at = name.find(prefix)) != std::string::npos;) name.erase(at, prefix.size());
  }
  // The parameter list: the last top-level "(...)".
  if (!name.empty() && name.back() == ')') {
    int depth = 0;
    for (size_t i = name.size(); i-- > 0;) {
      if (name[i] == ')') ++depth;
      if (name[i] == '(' && --depth == 0) {
        name.erase(i);
        break;
      }
    }
  }
  return name;
}

}  // namespace

std::vector<KernelTime> time_graph_kernels(cudaGraph_t graph, cudaStream_t stream, int reps) {
  reps = std::max(1, reps);
  int device = 0, l2_bytes = 0;
  cuda_check(cudaGetDevice(&device), "time_kernels", "cudaGetDevice");
  cuda_check(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device), "time_kernels", "L2 size");
  const size_t flush_bytes = std::max<size_t>(size_t(l2_bytes) * 4, size_t(64) << 20);
  // Freed on every path out, errors included.
  struct Scratch {
    void* flush = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;
    ~Scratch() {
      if (start) cudaEventDestroy(start);
      if (stop) cudaEventDestroy(stop);
      if (flush) cudaFree(flush);
    }
  } scratch;
  cuda_check(cudaMalloc(&scratch.flush, flush_bytes), "time_kernels", "cudaMalloc (cache flush)");
  cuda_check(cudaEventCreate(&scratch.start), "time_kernels", "cudaEventCreate");
  cuda_check(cudaEventCreate(&scratch.stop), "time_kernels", "cudaEventCreate");
  void* const flush = scratch.flush;
  const cudaEvent_t start = scratch.start, stop = scratch.stop;

  std::vector<KernelTime> times;
  for (cudaGraphNode_t node : ordered_nodes(graph)) {
    cudaGraphNodeType type;
    cuda_check(cudaGraphNodeGetType(node, &type), "time_kernels", "cudaGraphNodeGetType");
    if (type != cudaGraphNodeTypeKernel) continue;
    cudaKernelNodeParams p{};
    cuda_check(cudaGraphKernelNodeGetParams(node, &p), "time_kernels", "cudaGraphKernelNodeGetParams");
    std::vector<float> ms;
    for (int r = 0; r < reps; ++r) {
      cuda_check(cudaMemsetAsync(flush, r & 0xFF, flush_bytes, stream), "time_kernels", "cache flush");
      cuda_check(cudaEventRecord(start, stream), "time_kernels", "cudaEventRecord");
      // Alone, not as a programmatic dependent: its wait on the kernel before returns at once.
      cuda_check(cudaLaunchKernel(p.func, p.gridDim, p.blockDim, p.kernelParams, p.sharedMemBytes, stream),
                 "time_kernels", "cudaLaunchKernel");
      cuda_check(cudaEventRecord(stop, stream), "time_kernels", "cudaEventRecord");
      cuda_check(cudaEventSynchronize(stop), "time_kernels", "cudaEventSynchronize");
      float t = 0;
      cuda_check(cudaEventElapsedTime(&t, start, stop), "time_kernels", "cudaEventElapsedTime");
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    KernelTime k;
    k.name = kernel_name(p.func);
    k.blocks = int64_t(p.gridDim.x) * p.gridDim.y * p.gridDim.z;
    k.threads = int(p.blockDim.x * p.blockDim.y * p.blockDim.z);
    k.microseconds = 1000.0 * (reps % 2 ? ms[size_t(reps) / 2] : (ms[size_t(reps) / 2 - 1] + ms[size_t(reps) / 2]) / 2);
    times.push_back(std::move(k));
  }
  return times;
}

}  // namespace llmr::cuda_ops
