#!/usr/bin/env bash
# On a machine with a GPU: `llmr run --device cuda` and `--device cpu` give the same greedy tokens on
# every golden fixture (and on the default model), and the CUDA tokens match transformers'; with a
# q8_0 KV cache, CUDA and CPU agree with each other.
# Usage: tools/gpu_agreement.sh path/to/llmr
set -uo pipefail
llmr=${1:?usage: tools/gpu_agreement.sh path/to/llmr}
failures=0
passes=0
ids_of() { python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))[sys.argv[2]])))" "$@"; }
for dir in tests/fixtures/*/; do
  fx=$(basename "$dir")
  prompt=$(ids_of "$dir/expected.json" prompt_ids)
  want="[$(ids_of "$dir/expected.json" greedy_continuation)]"
  for kv in f32 f16; do
    cpu=$("$llmr" run -m "$dir" --prompt-ids "$prompt" -n 32 --temp 0 --kv-type $kv --output-ids --device cpu 2>/dev/null)
    gpu=$("$llmr" run -m "$dir" --prompt-ids "$prompt" -n 32 --temp 0 --kv-type $kv --output-ids --device cuda 2>/tmp/gpu_err)
    if [ "$cpu" = "$gpu" ] && [ "$gpu" = "$want" ]; then
      passes=$((passes + 1)); echo "ok: $fx kv $kv: cuda = cpu = transformers"
    else
      failures=$((failures + 1)); echo "FAIL: $fx kv $kv: cuda $gpu cpu $cpu transformers $want $(head -c 300 /tmp/gpu_err)"
    fi
  done
  # q8_0 KV cache: both backends store the same blocks (the reference quantizer's rounding), so the
  # tokens must agree with each other; against transformers' (an f32 cache) it is reported only.
  cpu=$("$llmr" run -m "$dir" --prompt-ids "$prompt" -n 32 --temp 0 --kv-type q8_0 --output-ids --device cpu 2>/dev/null)
  gpu=$("$llmr" run -m "$dir" --prompt-ids "$prompt" -n 32 --temp 0 --kv-type q8_0 --output-ids --device cuda 2>/tmp/gpu_err)
  if [ -n "$gpu" ] && [ "$cpu" = "$gpu" ]; then
    passes=$((passes + 1)); echo "ok: $fx kv q8_0: cuda = cpu$([ "$gpu" = "$want" ] && echo " = transformers" || echo " (transformers differ: $want)")"
  else
    failures=$((failures + 1)); echo "FAIL: $fx kv q8_0: cuda $gpu cpu $cpu $(head -c 300 /tmp/gpu_err)"
  fi
done
# The default model (Q8_0, 320 wide) has near-ties that the two ways of taking activations settle
# differently (its heads are 40 wide, so it has no q8_0 KV cache: blocks of 32 would straddle heads);
# the CUDA GEMV with f32 activations must give the CPU's (SIMD) tokens, which the demo
# model test holds to transformers'; the default CUDA GEMV (int8 activations, rounded as the CPU
# quantizer rounds) must give the tokens of the CPU's scalar path (int8 activations too).
for prompt in "And God said" "In the beginning" "The LORD is my shepherd"; do
  cpu=$("$llmr" run -p "$prompt" -n 48 --temp 0 --output-ids --device cpu 2>/dev/null)
  gpu=$(LLMR_CUDA_FLOAT_GEMV=1 "$llmr" run -p "$prompt" -n 48 --temp 0 --output-ids --device cuda 2>/dev/null)
  [ -n "$gpu" ] && [ "$cpu" = "$gpu" ] && { passes=$((passes + 1)); echo "ok: default model '$prompt', f32 activations"; } ||
    { failures=$((failures + 1)); echo "FAIL: default model '$prompt', f32 activations: cuda $gpu cpu $cpu"; }
  cpu=$(LLMR_CPU_LEVEL=scalar "$llmr" run -p "$prompt" -n 48 --temp 0 --output-ids --device cpu 2>/dev/null)
  gpu=$("$llmr" run -p "$prompt" -n 48 --temp 0 --output-ids --device cuda 2>/dev/null)
  [ -n "$gpu" ] && [ "$cpu" = "$gpu" ] && { passes=$((passes + 1)); echo "ok: default model '$prompt', int8 activations"; } ||
    { failures=$((failures + 1)); echo "FAIL: default model '$prompt', int8 activations: cuda $gpu cpu (scalar) $cpu"; }
done
echo "$passes passed, $failures failed"
[ $failures -eq 0 ]
