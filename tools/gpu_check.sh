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
# --- f32-activation GEMV (LLMR_CUDA_FLOAT_GEMV=1): CUDA vs CPU vs transformers greedy tokens ---
if [ -x "$build/llmr" ]; then
  LLMR_CUDA_FLOAT_GEMV=1 tools/gpu_agreement.sh "$build/llmr" || status=1
else
  echo "gpu_check: $build/llmr not built" >&2; status=1
fi
# --- CUDA graphs of decode steps (LLMR_CUDA_GRAPHS=1): replay == direct logits; tg128 with and without ---
if [ -x "$build/test_cuda" ]; then
  "$build/test_cuda" --gtest_filter='CudaDecodeGraph.*:Impls/StoreRowsBattery*' || status=1
fi
if [ -x "$build/llmr" ]; then
  graph_model=/tmp/llmr-graphs-llama3-8b-q4_0.gguf
  if "$build/llmr" synth --shape llama3-8b --type q4_0 "$graph_model" > /dev/null 2>&1; then
    for graphs in 0 1; do
      echo "LLMR_CUDA_GRAPHS=$graphs"
      LLMR_CUDA_GRAPHS=$graphs timeout 150 "$build/llmr" bench -m "$graph_model" -p 512 -n 128 -r 3 --device cuda || status=1
    done
  else
    echo "gpu_check: llmr synth of $graph_model failed" >&2; status=1
  fi
  rm -f "$graph_model"
fi
# --- tensor-core prompt attention (its battery CudaAttentionMma runs with CudaAttention* above): benchmark vs LLMR_CUDA_FLASH_MMA=0 ---
if [ -x "$build/cuda_attention_bench" ]; then
  "$build/cuda_attention_bench" || status=1
else
  echo "gpu_check: $build/cuda_attention_bench not built" >&2; status=1
fi
# --- quantized-weight tensor-core GEMM (gemm_mma): GPU battery vs the reference, then mma vs dequant+cuBLAS ---
if [ -x "$build/test_cuda" ]; then
  "$build/test_cuda" --gtest_filter='MmaTypes/GemmMma.*:GemmMmaDispatch.*' || status=1
fi
if [ -x "$build/cuda_gemm_bench" ]; then
  timeout 180 "$build/cuda_gemm_bench" || status=1
else
  echo "gpu_check: $build/cuda_gemm_bench not built" >&2; status=1
fi
# --- GEMV (issue 4): generation speed per GEMV variant (the staged/plain kernels' battery
# CudaMatmulStagedGemv runs with CudaMatmul* above; the GEMV microbenchmark is cuda_matmul_bench
# above: %copy at T=1,2,4,8, and T=1 with int8 / f32 activations and the previous kernels) ---
if [ -x "$build/llmr" ]; then
  for gemv_type in q4_0 q4_k; do
    gemv_model=/tmp/llmr-gemv-llama3-8b-$gemv_type.gguf
    if "$build/llmr" synth --shape llama3-8b --type $gemv_type "$gemv_model" > /dev/null 2>&1; then
      for variant in "default" "LLMR_CUDA_FLOAT_GEMV=0" "LLMR_CUDA_OLD_KERNELS=1"; do
        echo "gemv $gemv_type: $variant"
        if [ "$variant" = default ]; then
          timeout 150 "$build/llmr" bench -m "$gemv_model" -p 0 -n 128 -r 3 --device cuda || status=1
        else
          env "$variant" timeout 150 "$build/llmr" bench -m "$gemv_model" -p 0 -n 128 -r 3 --device cuda || status=1
        fi
      done
    else
      echo "gpu_check: llmr synth of $gemv_model failed" >&2; status=1
    fi
    rm -f "$gemv_model"
  done
fi
# --- sampling on the GPU (Backend::sample): the sample battery against the literal definition, then
# device vs host time per call at 128256 tokens, batch 1 and 64 ---
if [ -x "$build/test_cuda" ]; then
  "$build/test_cuda" --gtest_filter='*SampleBattery*:CudaSampleGeneration.*' || status=1
fi
if [ -x "$build/cuda_sample_bench" ]; then
  "$build/cuda_sample_bench" || status=1
else
  echo "gpu_check: $build/cuda_sample_bench not built" >&2; status=1
fi
# --- q8_0 KV cache (--kv-type q8_0; gpu_agreement.sh above checks its tokens, cuda_attention_bench its
# kernels): attention/store batteries on q8_0 caches, graph replay with a q8_0
# cache, then llama3-8b q4_0 pp2048/tg128 with f16 vs q8_0 caches ---
if [ -x "$build/test_cuda" ]; then
  "$build/test_cuda" --gtest_filter='CudaAttention.Q8*:CudaAttentionMma.Q8*:CudaDecodeGraph.Q8Kv*:Impls/AttentionBattery*:Impls/AttentionPagedBattery*:Impls/StoreRowsBattery*' || status=1
fi
if [ -x "$build/llmr" ]; then
  kv_model=/tmp/llmr-kvq8-llama3-8b-q4_0.gguf
  if "$build/llmr" synth --shape llama3-8b --type q4_0 "$kv_model" > /dev/null 2>&1; then
    for kv in f16 q8_0; do
      echo "kv cache $kv"
      timeout 200 "$build/llmr" bench -m "$kv_model" -p 2048 -n 128 -r 3 --kv-type $kv --device cuda || status=1
    done
  else
    echo "gpu_check: llmr synth of $kv_model failed" >&2; status=1
  fi
  rm -f "$kv_model"
fi
exit $status
