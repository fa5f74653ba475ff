#!/usr/bin/env bash
# Run on the H200 from an already-built build folder: tools/gpu_check.sh BUILD_DIR
# GPU tests and GPU benchmarks; each part adds its section above the final `exit` line (sections
# set status=1 on failure, never exit early).
set -uo pipefail
build=${1:?usage: tools/gpu_check.sh BUILD_DIR}
status=0

# --- matmul / attention kernels: GPU battery subset and microbenchmark (CUDA matmul+attention) ---
if [ -x "$build/test_cuda" ]; then
  "$build/test_cuda" --gtest_filter='CudaMatmul*:CudaAttention*' || status=1
fi
if [ -x "$build/cuda_matmul_bench" ]; then
  "$build/cuda_matmul_bench" || status=1
else
  echo "gpu_check: $build/cuda_matmul_bench not built" >&2; status=1
fi
# --- CUDA core and elementwise ops: the shared op batteries on the GPU, then the ops microbenchmark ---
if [ -x "$build/test_cuda" ]; then
  "$build/test_cuda" --gtest_filter='Impls/*:AllBackends/*:AllImpls/*:CudaCoreOps.*' || status=1
else
  echo "gpu_check: $build/test_cuda not built" >&2; status=1
fi
if [ -x "$build/cuda_ops_bench" ]; then
  "$build/cuda_ops_bench" || status=1
else
  echo "gpu_check: $build/cuda_ops_bench not built" >&2; status=1
fi
exit $status
