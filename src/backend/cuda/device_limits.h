#pragma once
// The current device's limits that size launches, queried once per device (launches run per layer
// per token, and a driver query per launch measurably costs on the host).
namespace llmr::cuda_ops {

struct DeviceLimits {
  int device = 0;
  int multiprocessors = 1;
  int smem_per_block_optin = 0;  // bytes a block may ask for after raising its limit
  int smem_per_multiprocessor = 0;
};

// The current device's (cudaGetDevice) limits; throws Error naming `op` when the driver fails.
DeviceLimits device_limits(const char* op);

}  // namespace llmr::cuda_ops
