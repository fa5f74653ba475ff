#!/usr/bin/env bash
# Everything the H200 session runs, from binaries built on the development machine:
#   tools/h200_check.sh BIN_DIR OUT_DIR
# BIN_DIR holds llmr, test_cuda, cuda_matmul_bench, cuda_ops_bench, cuda_attention_bench, cuda_gemm_bench. Logs go to OUT_DIR; a summary
# is printed last.
set -uo pipefail
bin=${1:?usage: tools/h200_check.sh BIN_DIR OUT_DIR}
out=${2:?usage: tools/h200_check.sh BIN_DIR OUT_DIR}
export NCCL_NVLS_ENABLE=0
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv > "$out/gpu.txt" 2>&1

"$bin/test_cuda" > "$out/test_cuda.log" 2>&1
echo "test_cuda rc=$?" >> "$out/summary.txt"
grep -E "^\[  (PASSED|FAILED) |tests ran" "$out/test_cuda.log" >> "$out/summary.txt"
grep -E "^\[  FAILED  \]" "$out/test_cuda.log" | head -30 >> "$out/summary.txt"

timeout 240 bash tools/gpu_agreement.sh "$bin/llmr" > "$out/agreement.log" 2>&1
echo "agreement: $(tail -1 "$out/agreement.log")" >> "$out/summary.txt"
# With VARIANTS=1: the same with the opt-in kernels and without the defaults.
if [ "${VARIANTS:-0}" = 1 ]; then
LLMR_CUDA_FLOAT_GEMV=1 timeout 240 bash tools/gpu_agreement.sh "$bin/llmr" > "$out/agreement_float_gemv.log" 2>&1
echo "agreement, LLMR_CUDA_FLOAT_GEMV=1: $(tail -1 "$out/agreement_float_gemv.log")" >> "$out/summary.txt"
LLMR_CUDA_GRAPHS=0 timeout 240 bash tools/gpu_agreement.sh "$bin/llmr" > "$out/agreement_graphs.log" 2>&1
echo "agreement, LLMR_CUDA_GRAPHS=0: $(tail -1 "$out/agreement_graphs.log")" >> "$out/summary.txt"
fi

timeout 120 "$bin/cuda_ops_bench" > "$out/cuda_ops_bench.log" 2>&1
timeout 180 "$bin/cuda_matmul_bench" > "$out/cuda_matmul_bench.log" 2>&1
timeout 180 "$bin/cuda_gemm_bench" > "$out/cuda_gemm_bench.log" 2>&1
timeout 120 "$bin/cuda_attention_bench" > "$out/cuda_attention_bench.log" 2>&1

for type in q4_0 q4_k f16; do
  f=/tmp/llama3-8b-$type.gguf
  "$bin/llmr" synth --shape llama3-8b --type $type "$f" > /dev/null 2>&1 || echo "synth $type failed" >> "$out/summary.txt"
  timeout 150 "$bin/llmr" bench -m "$f" -p 512 -n 128 -r 3 --device cuda >> "$out/bench_cuda.md" 2>&1 ||
    echo "bench $type rc=$?" >> "$out/summary.txt"
  if [ $type = q4_0 ] && [ "${VARIANTS:-0}" = 1 ]; then
    # Variants on the same file: with the decode graph, with f32-activation GEMVs, with both.
    for variant in LLMR_CUDA_GRAPHS=0 LLMR_CUDA_FLOAT_GEMV=0 LLMR_CUDA_FLOAT_GEMV=1; do
      echo "variant: $variant" >> "$out/bench_cuda.md"
      env $variant timeout 150 "$bin/llmr" bench -m "$f" -p 512 -n 128 -r 3 --device cuda >> "$out/bench_cuda.md" 2>&1 ||
        echo "bench $type $variant rc=$?" >> "$out/summary.txt"
    done
  fi
  rm -f "$f"
done
cat "$out/bench_cuda.md" >> "$out/summary.txt"
cat "$out/summary.txt"
