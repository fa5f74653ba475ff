// CudaBackend: construction (stream, cuBLAS handle), device memory as Buffers, host <-> device
// copies and the staging of small host arrays.
#include <cstring>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/norm_handoff.h"
#include "backend/cuda/stream_arena.h"

namespace llmr {
using cuda_detail::cuda_check;

namespace {

constexpr size_t kScratchBytes = size_t(1) << 20;
constexpr size_t kStageAlign = 256;
// Distinct rope tables kept (one per model in practice); past it the oldest goes.
constexpr size_t kMaxInvFreqTables = 256;

// Device memory holding one tensor (contiguous, device == Cuda).
class DeviceBuffer final : public Buffer {
 public:
  DeviceBuffer(DType type, const std::vector<int64_t>& shape) {
    Tensor t = Tensor::view(nullptr, type, shape, Device::Cuda);
    bytes_ = DeviceBytes(size_t(t.rows()) * row_bytes(type, t.cols()));
    t.data = bytes_.get();
    tensor_ = t;
  }

 private:
  DeviceBytes bytes_;
};

size_t tensor_bytes(const Tensor& t) { return size_t(t.rows()) * row_bytes(t.type, t.cols()); }

}  // namespace

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear it, so the next CUDA call does not report it again
    return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
  }
  if (count == 0) return "the driver reports no CUDA device";
  cudaDeviceProp props{};
  if (cudaGetDeviceProperties(&props, 0) != cudaSuccess) return "cannot read the properties of device 0";
  if (props.major < 9)
    return std::string("device 0 (") + props.name + ") has compute capability " + std::to_string(props.major) +
           "." + std::to_string(props.minor) + "; this build holds sm_90a code only";
  return "";
}

bool cuda_available() { return cuda_unavailable_reason().empty(); }

std::unique_ptr<Backend> make_cuda_backend(int device) {
  const std::string why = cuda_unavailable_reason();
  check(why.empty(), "cuda: no usable CUDA device: " + why);
  return std::make_unique<CudaBackend>(device);
}

DeviceBytes::DeviceBytes(size_t bytes) : bytes_(bytes) {
  if (bytes) cuda_check(cudaMalloc(&ptr_, bytes), "cuda alloc", ("cudaMalloc of " + std::to_string(bytes) + " bytes").c_str());
}

DeviceBytes::~DeviceBytes() {
  if (ptr_) cudaFree(ptr_);
}

DeviceBytes& DeviceBytes::operator=(DeviceBytes&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

CudaBackend::CudaBackend(int device) : device_(device) {
  int count = 0;
  cuda_check(cudaGetDeviceCount(&count), "cuda", "cudaGetDeviceCount");
  check(device >= 0 && device < count,
        "cuda: device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " devices)");
  cuda_check(cudaSetDevice(device), "cuda", "cudaSetDevice");
  cuda_check(cudaGetDeviceProperties(&props_, device), "cuda", "cudaGetDeviceProperties");
  cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cuda", "cudaStreamCreate");
  cuda_detail::cublas_check(cublasCreate(&cublas_), "cuda", "cublasCreate");
  cuda_detail::cublas_check(cublasSetStream(cublas_, stream_), "cuda", "cublasSetStream");
  scratch_ = DeviceBytes(kScratchBytes);
}

cudaStream_t CudaBackend::stream() const {
  cuda_ops::release_held_product(stream_);
  return stream_;
}

CudaBackend::~CudaBackend() {
  abort_capture();
  if (stream_) cuda_ops::drop_held_product(stream_);  // its results are no one's now
  if (stream_) cudaStreamSynchronize(stream_);  // no kernel may outlive the memory below
  if (stream_) cuda_ops::release_stream_arena(stream_);
  if (cublas_) cublasDestroy(cublas_);
  scratch_ = DeviceBytes();
  inv_freq_tables_.clear();
  if (stream_) cudaStreamDestroy(stream_);
}

std::unique_ptr<Buffer> CudaBackend::alloc(DType type, const std::vector<int64_t>& shape) {
  cuda_check(cudaSetDevice(device_), "cuda alloc", "cudaSetDevice");
  return std::make_unique<DeviceBuffer>(type, shape);
}

std::unique_ptr<Buffer> CudaBackend::upload(const Tensor& host) {
  check(host.device == Device::Host, "cuda upload: tensor " + host.describe() + " is not in host memory");
  check(host.is_contiguous(), "cuda upload: tensor " + host.describe() + " is not contiguous");
  std::vector<int64_t> shape(host.shape.begin(), host.shape.begin() + host.ndim);
  auto buffer = alloc(host.type, shape);
  copy_to_device(buffer->tensor().data, host.data, tensor_bytes(host), "cuda upload");
  return buffer;
}

void CudaBackend::download(const Tensor& src, void* host) {
  check(src.device == Device::Cuda, "cuda download: tensor " + src.describe() + " is not in device memory");
  check(src.is_contiguous(), "cuda download: tensor " + src.describe() + " is not contiguous");
  copy_to_host(host, src.data, tensor_bytes(src), "cuda download");
}

void CudaBackend::synchronize() {
  check_not_capturing("cuda synchronize");
  cuda_check(cudaStreamSynchronize(stream()), "cuda", "cudaStreamSynchronize");
}

void CudaBackend::copy_to_device(void* device_dst, const void* host_src, size_t bytes, const char* op) {
  check_not_capturing(op);
  if (bytes == 0) return;
  cuda_check(cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream()), op,
             "cudaMemcpyAsync host to device");
  // Pinned host memory would still be read after an async copy returns: wait, so the caller may free it.
  cuda_check(cudaStreamSynchronize(stream_), op, "cudaStreamSynchronize after upload");
}

void CudaBackend::copy_to_host(void* host_dst, const void* device_src, size_t bytes, const char* op) {
  check_not_capturing(op);
  if (bytes == 0) {
    synchronize();
    return;
  }
  cuda_check(cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream()), op,
             "cudaMemcpyAsync device to host");
  cuda_check(cudaStreamSynchronize(stream_), op, "cudaStreamSynchronize after download");
}

const void* CudaBackend::stage(const void* host, size_t bytes, const char* op) {
  check_not_capturing(op);
  const size_t need = (bytes + kStageAlign - 1) / kStageAlign * kStageAlign;
  if (need > scratch_.size()) {
    synchronize();  // queued kernels may still read the old scratch
    scratch_ = DeviceBytes(std::max(need, 2 * scratch_.size()));
    scratch_used_ = 0;
  }
  if (scratch_used_ + need > scratch_.size()) scratch_used_ = 0;  // stream order: earlier readers are done
  char* dst = static_cast<char*>(scratch_.get()) + scratch_used_;
  scratch_used_ += need;
  if (bytes)
    cuda_check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream()), op, "cudaMemcpyAsync (staging)");
  return dst;
}

const float* CudaBackend::rope_inv_freq(const float* host, int count) {
  const size_t bytes = size_t(count) * sizeof(float);
  for (const InvFreqTable& t : inv_freq_tables_)
    if (t.host.size() == size_t(count) && std::memcmp(t.host.data(), host, bytes) == 0)
      return static_cast<const float*>(t.device.get());
  check_not_capturing("rope (inv_freq upload)");
  if (inv_freq_tables_.size() >= kMaxInvFreqTables) {  // only op batteries with random tables get here
    synchronize();  // queued ropes may still read the oldest
    inv_freq_tables_.erase(inv_freq_tables_.begin());
  }
  InvFreqTable t{std::vector<float>(host, host + count), DeviceBytes(std::max<size_t>(bytes, 4))};
  // Stream-ordered (the copy lands before the ropes queued after it); pageable source: the call
  // returns once the values are staged, and t.host is kept anyway.
  if (bytes)
    cuda_check(cudaMemcpyAsync(t.device.get(), t.host.data(), bytes, cudaMemcpyHostToDevice, stream()), "rope",
               "cudaMemcpyAsync (inv_freq)");
  inv_freq_tables_.push_back(std::move(t));
  return static_cast<const float*>(inv_freq_tables_.back().device.get());
}

}  // namespace llmr
