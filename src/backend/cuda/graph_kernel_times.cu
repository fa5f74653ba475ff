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

// Events for timing, freed on every path out, errors included.
struct Timer {
  cudaEvent_t start = nullptr, stop = nullptr;
  Timer() {
    cuda_check(cudaEventCreate(&start), "time_kernels", "cudaEventCreate");
    cuda_check(cudaEventCreate(&stop), "time_kernels", "cudaEventCreate");
  }
  ~Timer() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // Microseconds of what launch() queues on `stream`, by events around it.
  template <typename Launch>
  float microseconds(cudaStream_t stream, Launch&& launch) {
    cuda_check(cudaEventRecord(start, stream), "time_kernels", "cudaEventRecord");
    launch();
    cuda_check(cudaEventRecord(stop, stream), "time_kernels", "cudaEventRecord");
    cuda_check(cudaEventSynchronize(stop), "time_kernels", "cudaEventSynchronize");
    float ms = 0;
    cuda_check(cudaEventElapsedTime(&ms, start, stop), "time_kernels", "cudaEventElapsedTime");
    return 1000.f * ms;
  }
};

double median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (double(v[n / 2 - 1]) + v[n / 2]) / 2;
}

// The kernel nodes in dependency order, with their launch parameters.
std::vector<std::pair<cudaGraphNode_t, cudaKernelNodeParams>> kernel_nodes(cudaGraph_t graph) {
  std::vector<std::pair<cudaGraphNode_t, cudaKernelNodeParams>> out;
  for (cudaGraphNode_t node : ordered_nodes(graph)) {
    cudaGraphNodeType type;
    cuda_check(cudaGraphNodeGetType(node, &type), "time_kernels", "cudaGraphNodeGetType");
    if (type != cudaGraphNodeTypeKernel) continue;
    cudaKernelNodeParams p{};
    cuda_check(cudaGraphKernelNodeGetParams(node, &p), "time_kernels", "cudaGraphKernelNodeGetParams");
    out.emplace_back(node, p);
  }
  return out;
}

int64_t blocks_of(const cudaKernelNodeParams& p) { return int64_t(p.gridDim.x) * p.gridDim.y * p.gridDim.z; }
int threads_of(const cudaKernelNodeParams& p) { return int(p.blockDim.x * p.blockDim.y * p.blockDim.z); }

// Nodes disabled in an instantiated graph for the guard's life, enabled again on every path out.
class DisabledNodes {
 public:
  DisabledNodes(cudaGraphExec_t exec, const std::vector<cudaGraphNode_t>& nodes) : exec_(exec), nodes_(nodes) {
    for (cudaGraphNode_t n : nodes_)
      cuda_check(cudaGraphNodeSetEnabled(exec_, n, 0), "knockout_kernels", "cudaGraphNodeSetEnabled");
  }
  ~DisabledNodes() {
    for (cudaGraphNode_t n : nodes_) cudaGraphNodeSetEnabled(exec_, n, 1);
  }
  DisabledNodes(const DisabledNodes&) = delete;
  DisabledNodes& operator=(const DisabledNodes&) = delete;

 private:
  cudaGraphExec_t exec_;
  std::vector<cudaGraphNode_t> nodes_;
};

}  // namespace

std::vector<KernelTime> time_graph_kernels(cudaGraph_t graph, cudaStream_t stream, int reps) {
  reps = std::max(1, reps);
  int device = 0, l2_bytes = 0;
  cuda_check(cudaGetDevice(&device), "time_kernels", "cudaGetDevice");
  cuda_check(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device), "time_kernels", "L2 size");
  const size_t flush_bytes = std::max<size_t>(size_t(l2_bytes) * 4, size_t(64) << 20);
  struct Flush {  // freed on every path out
    void* p = nullptr;
    ~Flush() {
      if (p) cudaFree(p);
    }
  } flush;
  cuda_check(cudaMalloc(&flush.p, flush_bytes), "time_kernels", "cudaMalloc (cache flush)");
  Timer timer;

  std::vector<KernelTime> times;
  for (const auto& [node, p] : kernel_nodes(graph)) {
    std::vector<float> us;
    for (int r = 0; r < reps; ++r) {
      cuda_check(cudaMemsetAsync(flush.p, r & 0xFF, flush_bytes, stream), "time_kernels", "cache flush");
      us.push_back(timer.microseconds(stream, [&] {
        // Alone, not as a programmatic dependent: its wait on the kernel before returns at once.
        cuda_check(cudaLaunchKernel(p.func, p.gridDim, p.blockDim, p.kernelParams, p.sharedMemBytes, stream),
                   "time_kernels", "cudaLaunchKernel");
      }));
    }
    times.push_back(KernelTime{kernel_name(p.func), blocks_of(p), threads_of(p), median(std::move(us))});
  }
  return times;
}

std::vector<KernelKnockout> knockout_graph_kernels(cudaGraph_t graph, cudaGraphExec_t exec, cudaStream_t stream,
                                                   int reps) {
  reps = std::max(1, reps);
  struct Group {
    const void* func;
    dim3 grid, block;
    std::vector<cudaGraphNode_t> nodes;
    KernelKnockout k;
  };
  std::vector<Group> groups;
  for (const auto& [node, p] : kernel_nodes(graph)) {
    auto same = [&](const Group& g) {
      return g.func == p.func && g.grid.x == p.gridDim.x && g.grid.y == p.gridDim.y && g.grid.z == p.gridDim.z &&
             g.block.x == p.blockDim.x && g.block.y == p.blockDim.y && g.block.z == p.blockDim.z;
    };
    auto it = std::find_if(groups.begin(), groups.end(), same);
    if (it == groups.end()) {
      it = groups.insert(groups.end(), Group{p.func, p.gridDim, p.blockDim, {}, {}});
      it->k.name = kernel_name(p.func);
      it->k.blocks = blocks_of(p);
      it->k.threads = threads_of(p);
    }
    it->nodes.push_back(node);
    it->k.count += 1;
  }
  Timer timer;
  // A sample: four replays queued back to back, as generation queues its steps, per replay.
  constexpr int kPerSample = 4;
  auto replays = [&] {
    std::vector<float> us;
    for (int r = 0; r < reps; ++r)
      us.push_back(timer.microseconds(stream, [&] {
        for (int i = 0; i < kPerSample; ++i)
          cuda_check(cudaGraphLaunch(exec, stream), "knockout_kernels", "cudaGraphLaunch");
      }) / kPerSample);
    return median(std::move(us));
  };
  for (int i = 0; i < 3; ++i) cuda_check(cudaGraphLaunch(exec, stream), "knockout_kernels", "cudaGraphLaunch");
  std::vector<KernelKnockout> out;
  for (Group& g : groups) {  // the step with them just before the step without, against drift
    g.k.step_us = replays();
    DisabledNodes off(exec, g.nodes);
    g.k.without_us = replays();
    out.push_back(g.k);
  }
  return out;
}

}  // namespace llmr::cuda_ops
