#include "backend/cuda/device_limits.h"

#include <map>
#include <mutex>

#include "backend/cuda/kernel_status.h"

namespace llmr::cuda_ops {

DeviceLimits device_limits(const char* op) {
  int dev = 0;
  check_cuda(cudaGetDevice(&dev), op, "cudaGetDevice");
  static std::mutex mutex;
  static std::map<int, DeviceLimits> known;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = known.find(dev); it != known.end()) return it->second;
  DeviceLimits d{dev};
  auto get = [&](int& v, cudaDeviceAttr a) { check_cuda(cudaDeviceGetAttribute(&v, a, dev), op, "cudaDeviceGetAttribute"); };
  get(d.multiprocessors, cudaDevAttrMultiProcessorCount);
  get(d.smem_per_block_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin);
  get(d.smem_per_multiprocessor, cudaDevAttrMaxSharedMemoryPerMultiprocessor);
  if (d.multiprocessors < 1) d.multiprocessors = 1;
  return known[dev] = d;
}

}  // namespace llmr::cuda_ops
