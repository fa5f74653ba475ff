// CudaBackend's recording of queued ops as a CUDA graph (stream capture) and its replay, plus the
// pinned host inputs such a graph reads at each replay (a host-to-device memcpy node out of pinned
// memory copies the values the host holds when the node runs, not those of capture time).
#include <vector>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/graph_kernel_times.h"
#include "backend/cuda/host_mapped.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/norm_handoff.h"

namespace llmr {
using cuda_detail::cuda_check;

namespace {

// Page-locked host memory holding one tensor, mapped into the device's address space (the same
// address under unified addressing), so kernels may also write it (written_from_device).
class PinnedBuffer final : public Buffer {
 public:
  PinnedBuffer(DType type, const std::vector<int64_t>& shape) {
    Tensor t = Tensor::view(nullptr, type, shape, Device::Host);
    const size_t bytes = std::max<size_t>(1, size_t(t.rows()) * row_bytes(type, t.cols()));
    cuda_check(cudaHostAlloc(&ptr_, bytes, cudaHostAllocMapped), "cuda host input", "cudaHostAlloc");
    t.data = ptr_;
    tensor_ = t;
  }
  ~PinnedBuffer() override { cudaFreeHost(ptr_); }

 private:
  void* ptr_ = nullptr;
};

// An instantiated graph replayed on the backend's stream; the graph itself is kept for time_kernels
// and knockout_kernels.
class GraphReplay final : public Replay {
 public:
  // sums_before / sums_after: the next norm sum slot (norm_handoff.h) as the recording began and ended.
  GraphReplay(cudaGraph_t graph, cudaGraphExec_t exec, cudaStream_t stream, int64_t kernels, int sums_before,
              int sums_after)
      : graph_(graph), exec_(exec), stream_(stream), kernels_(kernels), sums_before_(sums_before),
        sums_after_(sums_after) {}
  ~GraphReplay() override {
    cudaStreamSynchronize(stream_);  // a queued replay may still run
    cudaGraphExecDestroy(exec_);
    cudaGraphDestroy(graph_);
  }
  void replay() override {
    cuda_ops::release_held_product(stream_);  // work queued before the replay runs before it
    cuda_ops::replay_norm_sums(stream_, sums_before_, sums_after_);
    cuda_check(cudaGraphLaunch(exec_, stream_), "cuda graph", "cudaGraphLaunch");
  }
  int64_t kernels() const override { return kernels_; }
  // Kernels run alone or left out leave the norm sums anyhow: both are cleared after.
  std::vector<KernelTime> time_kernels(int reps) override {
    cuda_ops::release_held_product(stream_);
    auto times = cuda_ops::time_graph_kernels(graph_, stream_, reps);
    cuda_ops::reset_norm_sums(stream_);
    return times;
  }
  std::vector<KernelKnockout> knockout_kernels(int reps) override {
    cuda_ops::release_held_product(stream_);
    auto knockouts = cuda_ops::knockout_graph_kernels(graph_, exec_, stream_, reps);
    cuda_ops::reset_norm_sums(stream_);
    return knockouts;
  }

 private:
  cudaGraph_t graph_;
  cudaGraphExec_t exec_;
  cudaStream_t stream_;
  int64_t kernels_;
  int sums_before_, sums_after_;
};

// The kernel nodes of a recorded graph.
int64_t count_kernels(cudaGraph_t graph) {
  size_t n = 0;
  if (cudaGraphGetNodes(graph, nullptr, &n) != cudaSuccess) return 0;
  std::vector<cudaGraphNode_t> nodes(n);
  if (n && cudaGraphGetNodes(graph, nodes.data(), &n) != cudaSuccess) return 0;
  int64_t kernels = 0;
  for (cudaGraphNode_t node : nodes) {
    cudaGraphNodeType type;
    if (cudaGraphNodeGetType(node, &type) == cudaSuccess && type == cudaGraphNodeTypeKernel) ++kernels;
  }
  return kernels;
}

}  // namespace

std::unique_ptr<Buffer> CudaBackend::alloc_host_input(DType type, const std::vector<int64_t>& shape) {
  return std::make_unique<PinnedBuffer>(type, shape);
}

// The same address under unified addressing: a recorded step's output head stores its logits over the
// bus as it makes them, and the 513 KB download after the step (14 us on the H200, a Llama-3 vocabulary)
// goes. LLMR_CUDA_LOGITS_TO_HOST=0 (read at every call, so as a step is recorded): no view, so the logits
// are downloaded.
Tensor CudaBackend::written_from_device(const Tensor& host) {
  if (!cuda_ops::switch_on("LLMR_CUDA_LOGITS_TO_HOST") || host.device != Device::Host || !host.data) return {};
  void* device_ptr = nullptr;
  // Fails for host memory that is not pinned and mapped (not from alloc_host_input): none then.
  if (cudaHostGetDevicePointer(&device_ptr, host.data, 0) != cudaSuccess) {
    cudaGetLastError();  // the failed query is no error of later work
    return {};
  }
  Tensor view = host;
  view.data = device_ptr;
  view.device = Device::Cuda;
  cuda_ops::note_host_mapped(device_ptr, size_t(host.rows()) * size_t(host.row_stride()));
  return view;
}

void CudaBackend::copy_from_host_input(const Tensor& host, const Tensor& dst) {
  check(host.device == Device::Host && dst.device == Device::Cuda && host.is_contiguous() && dst.is_contiguous() &&
            host.type == dst.type && host.numel() == dst.numel(),
        "cuda copy_from_host_input: " + host.describe() + " does not match " + dst.describe());
  const size_t bytes = size_t(host.rows()) * row_bytes(host.type, host.cols());
  if (bytes == 0) return;
  // No wait: the host memory is pinned and the caller keeps it, unchanged, until the copy has run.
  cuda_check(cudaMemcpyAsync(dst.data, host.data, bytes, cudaMemcpyHostToDevice, stream()), "cuda copy_from_host_input",
             "cudaMemcpyAsync host to device");
}

bool CudaBackend::begin_capture() {
  check(!capturing_, "cuda graph: a capture is already open");
  cuda_check(cudaSetDevice(device_), "cuda graph", "cudaSetDevice");
  cuda_check(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeRelaxed), "cuda graph", "cudaStreamBeginCapture");
  capturing_ = true;
  capture_norm_sums_slot_ = cuda_ops::norm_sums_next_slot(stream_);
  return true;
}

std::unique_ptr<Replay> CudaBackend::end_capture() {
  check(capturing_, "cuda graph: end_capture without begin_capture");
  capturing_ = false;
  const cudaStream_t s = stream();  // a held product launched into the recording
  // The recorded producers moved the next norm sum slot, but none has run: back, on every path out.
  const int sums_after = cuda_ops::norm_sums_next_slot(s);
  cuda_ops::restore_norm_sums_slot(s, capture_norm_sums_slot_);
  cudaGraph_t graph = nullptr;
  cuda_check(cudaStreamEndCapture(s, &graph), "cuda graph", "cudaStreamEndCapture");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
  const int64_t kernels = count_kernels(graph);
  if (status != cudaSuccess) cudaGraphDestroy(graph);
  cuda_check(status, "cuda graph", "cudaGraphInstantiate");
  return std::make_unique<GraphReplay>(graph, exec, stream_, kernels, capture_norm_sums_slot_, sums_after);
}

void CudaBackend::abort_capture() {
  if (!capturing_) return;
  capturing_ = false;
  cuda_ops::drop_held_product(stream_);  // it belonged to the capture thrown away
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream_, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
  cudaGetLastError();  // the failed capture's error is the caller's to report, not the next call's
  cuda_ops::restore_norm_sums_slot(stream_, capture_norm_sums_slot_);  // nothing recorded ran
}

void CudaBackend::check_not_capturing(const char* op) const {
  check(!capturing_, std::string(op) + ": cannot run while a CUDA graph is being captured (it would wait on the "
                                       "stream or bake host values into the graph)");
}

}  // namespace llmr
