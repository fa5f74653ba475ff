// test_cuda's entry point: exits 77 (ctest: skipped) saying why when no CUDA device can be used, else
// runs every GPU test. The shared op batteries compiled in here also define CPU-only suites (the
// oracle's self-checks, CPU kernels pinned at SIMD levels); those are filtered out, they run in test_ops.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "backend/cuda/cuda_backend_impl.h"

namespace {

// Suites of tests/ops that test no GPU code.
constexpr const char* kCpuOnly =
    "*/cpu_*:AddReference.*:AttentionReference.*:AttentionPagedHost.*:CopyReference.*:MatmulActivations.*:RmsNormReference.*:"
    "RopeReference.*:SoftmaxReference.*:SwigluReference.*";

}  // namespace

int main(int argc, char** argv) {
  bool listing = false;  // --gtest_list_tests needs no device
  for (int i = 1; i < argc; ++i) listing = listing || std::string(argv[i]) == "--gtest_list_tests";
  const std::string why = llmr::cuda_unavailable_reason();
  if (!why.empty() && !listing) {
    std::printf("test_cuda: skipping: no CUDA device (%s)\n", why.c_str());
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  std::string filter = GTEST_FLAG_GET(filter);
  filter += filter.find('-') == std::string::npos ? "-" : ":";
  GTEST_FLAG_SET(filter, filter + kCpuOnly);
  return RUN_ALL_TESTS();
}
