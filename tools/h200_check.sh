#!/usr/bin/env bash
# Everything the H200 session runs, from binaries built on the development machine:
#   [STAGES="tests bench micro serve"] tools/h200_check.sh BIN_DIR OUT_DIR
# BIN_DIR holds llmr, test_cuda and the cuda_*_bench programs. Stages (all by default; one device
# call has 10 minutes, so split them over calls):
#   tests  test_cuda, then CPU/CUDA greedy agreement (tools/gpu_agreement.sh)
#   bench  llmr bench -p 512 -n 128 on Llama-3-8B-shaped q4_0, q4_k, f16 files
#   micro  every cuda_*_bench program
#   serve  tools/serve_bench.sh on a Llama-3-8B-shaped q4_0 file with the default model's tokenizer
# VARIANTS=1 adds runs with the opt-in kernels / without the defaults. Logs go to OUT_DIR; a summary
# is printed last.
set -uo pipefail
bin=${1:?usage: tools/h200_check.sh BIN_DIR OUT_DIR}
out=${2:?usage: tools/h200_check.sh BIN_DIR OUT_DIR}
stages=" ${STAGES:-tests bench micro serve} "
export NCCL_NVLS_ENABLE=0
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv > "$out/gpu.txt" 2>&1
has() { [[ $stages == *" $1 "* ]]; }

if has tests; then
  timeout 300 "$bin/test_cuda" > "$out/test_cuda.log" 2>&1
  echo "test_cuda rc=$?" >> "$out/summary.txt"
  grep -E "^\[  (PASSED|FAILED) |tests ran" "$out/test_cuda.log" >> "$out/summary.txt"
  grep -E "^\[  FAILED  \]" "$out/test_cuda.log" | head -30 >> "$out/summary.txt"
  timeout 240 bash tools/gpu_agreement.sh "$bin/llmr" > "$out/agreement.log" 2>&1
  echo "agreement: $(tail -1 "$out/agreement.log")" >> "$out/summary.txt"
  if [ "${VARIANTS:-0}" = 1 ]; then
    LLMR_CUDA_FLOAT_GEMV=1 timeout 240 bash tools/gpu_agreement.sh "$bin/llmr" > "$out/agreement_float_gemv.log" 2>&1
    echo "agreement, LLMR_CUDA_FLOAT_GEMV=1: $(tail -1 "$out/agreement_float_gemv.log")" >> "$out/summary.txt"
    LLMR_CUDA_GRAPHS=0 timeout 240 bash tools/gpu_agreement.sh "$bin/llmr" > "$out/agreement_graphs.log" 2>&1
    echo "agreement, LLMR_CUDA_GRAPHS=0: $(tail -1 "$out/agreement_graphs.log")" >> "$out/summary.txt"
  fi
fi

if has micro; then
  for b in "$bin"/cuda_*_bench; do
    name=$(basename "$b")
    timeout 150 "$b" > "$out/$name.log" 2>&1 || echo "$name rc=$?" >> "$out/summary.txt"
  done
fi

if has bench; then
  for type in q4_0 q4_k f16; do
    f=/tmp/llama3-8b-$type.gguf
    "$bin/llmr" synth --shape llama3-8b --type $type "$f" > /dev/null 2>&1 || echo "synth $type failed" >> "$out/summary.txt"
    timeout 150 "$bin/llmr" bench -m "$f" -p 512 -n 128 -r 3 --device cuda >> "$out/bench_cuda.md" 2>&1 ||
      echo "bench $type rc=$?" >> "$out/summary.txt"
    if [ $type = q4_0 ] && [ "${VARIANTS:-0}" = 1 ]; then
      for variant in LLMR_CUDA_GRAPHS=0 LLMR_CUDA_FLOAT_GEMV=1 LLMR_CUDA_OLD_KERNELS=1 LLMR_CUDA_PDL=0 LLMR_CUDA_ARENA=0 \
          LLMR_CUDA_NORM_QUANT=0 LLMR_CUDA_ATTN_QUANT=0 LLMR_CUDA_XREG_DEPTH=2 LLMR_CUDA_XREG_DEPTH=1; do
        echo "variant: $variant" >> "$out/bench_cuda.md"
        env $variant timeout 150 "$bin/llmr" bench -m "$f" -p 512 -n 128 -r 3 --device cuda >> "$out/bench_cuda.md" 2>&1 ||
          echo "bench $type $variant rc=$?" >> "$out/summary.txt"
      done
    fi
    rm -f "$f"
  done
  cat "$out/bench_cuda.md" >> "$out/summary.txt"
fi

if has serve; then
  f=/tmp/llama3-8b-q4_0-vocab.gguf
  "$bin/llmr" synth --shape llama3-8b --type q4_0 --vocab-from models/default.gguf "$f" > /dev/null 2>&1 ||
    echo "synth for serve failed" >> "$out/summary.txt"
  # serve's CUDA defaults: a whole 512-token prompt per sequence per step, up to 4096 tokens in all.
  MODEL=$f EXTRA_SERVE_ARGS="${SERVE_ARGS:-}" timeout 420 \
    bash tools/serve_bench.sh "$bin/llmr" "$out/serve" cuda > "$out/serve.log" 2>&1 || echo "serve_bench rc=$?" >> "$out/summary.txt"
  cat "$out/serve/serve_bench.md" >> "$out/summary.txt" 2>/dev/null
  rm -f "$f"
fi
cat "$out/summary.txt"
