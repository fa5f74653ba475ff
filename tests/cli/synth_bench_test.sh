#!/usr/bin/env bash
# `llmr synth` -> `inspect` -> `run` -> `bench` on the tiny synthetic shapes; bad flags rejected.
# Usage: synth_bench_test.sh path/to/llmr   (from the repository root)
set -uo pipefail
llmr=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0
pass() { passes=$((passes + 1)); echo "ok: $1"; }
fail() { failures=$((failures + 1)); echo "FAIL: $1"; }
seed=$RANDOM

# Types per tensor: q4_k falls back to q8_0 for ffn_down, whose rows (n_ff = 640) are not 256-blocks.
"$llmr" synth --shape tiny --type q4_k --seed $seed "$tmp/q4k.gguf" >"$tmp/out" 2>&1 || fail "synth q4_k: $(cat "$tmp/out")"
"$llmr" inspect "$tmp/q4k.gguf" >"$tmp/inspect" 2>&1
grep -q "^architecture: *llama" "$tmp/inspect" && grep -q "^tokenizer: *no_vocab" "$tmp/inspect" &&
  grep -q "^vocab: *512" "$tmp/inspect" && grep -q "^layers: *2" "$tmp/inspect" &&
  grep -q "blk.0.attn_k.weight *q4_k *\[128, 256\]" "$tmp/inspect" &&
  grep -q "blk.1.ffn_down.weight *q8_0 *\[256, 640\]" "$tmp/inspect" &&
  grep -q "output.weight *q4_k *\[512, 256\]" "$tmp/inspect" &&
  grep -q "blk.1.ffn_norm.weight *f32 *\[256\]" "$tmp/inspect" &&
  pass "synth q4_k: inspect shows shapes and types" || fail "synth q4_k inspect: $(cat "$tmp/inspect")"

"$llmr" synth --shape tiny-qwen2 --type q8_0 --seed $seed "$tmp/qwen.gguf" >/dev/null 2>&1
"$llmr" inspect "$tmp/qwen.gguf" >"$tmp/inspect" 2>&1
grep -q "^architecture: *qwen2" "$tmp/inspect" && grep -q "blk.0.attn_q.bias *f32 *\[256\]" "$tmp/inspect" &&
  grep -q "blk.0.ffn_up.weight *q8_0 *\[640, 256\]" "$tmp/inspect" && grep -q "theta 1e+06\|theta 1000000" "$tmp/inspect" &&
  pass "synth qwen2: biases, q8_0, rope theta" || fail "synth qwen2 inspect: $(cat "$tmp/inspect")"

# Same seed, same bytes; another seed, other bytes.
"$llmr" synth --shape tiny --type q4_0 --seed $seed "$tmp/a.gguf" >/dev/null 2>&1
"$llmr" synth --shape tiny --type q4_0 --seed $seed -t 1 "$tmp/b.gguf" >/dev/null 2>&1
"$llmr" synth --shape tiny --type q4_0 --seed $((seed + 1)) "$tmp/c.gguf" >/dev/null 2>&1
cmp -s "$tmp/a.gguf" "$tmp/b.gguf" && pass "same seed, same file" || fail "same seed gave different files"
cmp -s "$tmp/a.gguf" "$tmp/c.gguf" && fail "seeds $seed and $((seed + 1)) gave the same file" || pass "other seed, other file"

for f in a q4k qwen; do
  out=$("$llmr" run -m "$tmp/$f.gguf" --prompt-ids 1,2,3,500 -n 8 --temp 0 --output-ids 2>/dev/null)
  # Eight ids, each inside the 512-token vocabulary.
  echo "$out" | grep -Eq '^\[([0-9]+,){7}[0-9]+\]$' && ! echo "$out" | tr -d '[]' | tr ',' '\n' | awk '$1 >= 512 {bad=1} END {exit !bad}' &&
    pass "run $f: 8 ids in vocabulary ($out)" || fail "run $f: '$out'"
done

"$llmr" bench -m "$tmp/q4k.gguf" -p 16 -n 4 -r 2 -t 1 >"$tmp/bench" 2>&1
grep -q "^| model | size | params | backend | threads | test | t/s |" "$tmp/bench" &&
  grep -Eq "^\| llama 2M Q4_K \| [0-9.]+ MiB \| 1.64 M \| CPU \| 1 \| pp16 \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ \|$" "$tmp/bench" &&
  grep -Eq "^\| llama 2M Q4_K .* \| tg4 \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ \|$" "$tmp/bench" &&
  pass "bench: pp16 and tg4 rows" || fail "bench: $(cat "$tmp/bench")"
"$llmr" bench -m "$tmp/qwen.gguf" -p 0 -n 3 -r 1 -t 1 >"$tmp/bench" 2>&1
grep -q "| tg3 |" "$tmp/bench" && ! grep -q "| pp" "$tmp/bench" && pass "bench -p 0: generation only" ||
  fail "bench -p 0: $(cat "$tmp/bench")"
"$llmr" bench -m "$tmp/qwen.gguf" -p 0 -n 1 -r 1 -t 1 >"$tmp/bench" 2>&1
grep -q "| tg1 |" "$tmp/bench" && pass "bench -n 1: a one-token context" || fail "bench -n 1: $(cat "$tmp/bench")"
"$llmr" bench -m "$tmp/a.gguf" -p 8 -n 4 -c 64 -r 1 -t 1 >"$tmp/bench" 2>&1
grep -q "| pp8 |" "$tmp/bench" && grep -q "| tg4 |" "$tmp/bench" && pass "bench -c 64: both tests in one context size" ||
  fail "bench -c: $(cat "$tmp/bench")"
"$llmr" bench -m "$tmp/a.gguf" -p 0 -n 2 -r 1 -t 1 --step-kernels >"$tmp/bench" 2>&1
grep -q "| tg2 |" "$tmp/bench" && grep -q "^step kernels: none recorded" "$tmp/bench" &&
  pass "bench --step-kernels on the CPU: says none were recorded" || fail "bench --step-kernels: $(cat "$tmp/bench")"
"$llmr" bench -m "$tmp/a.gguf" -p 0 -n 2 -r 1 -t 1 --step-knockout >"$tmp/bench" 2>&1
grep -q "| tg2 |" "$tmp/bench" && grep -q "^step knockout: none recorded" "$tmp/bench" &&
  pass "bench --step-knockout on the CPU: says none were recorded" || fail "bench --step-knockout: $(cat "$tmp/bench")"
"$llmr" bench -p 8 -n 2 -r 1 -t 1 >"$tmp/bench" 2>&1
grep -q "| pp8 |" "$tmp/bench" && grep -q "| tg2 |" "$tmp/bench" && pass "bench without -m: the default model" ||
  fail "bench default model: $(cat "$tmp/bench")"

# --vocab-from: the default model's tokenizer in a synthetic file (tiny's 512 rows grow to its 4000
# tokens); it tokenizes as the default model does and `run` turns text into text.
"$llmr" synth --shape tiny --type q8_0 --seed $seed --vocab-from models/default.gguf "$tmp/v.gguf" >"$tmp/out" 2>&1 ||
  fail "synth --vocab-from: $(cat "$tmp/out")"
"$llmr" inspect "$tmp/v.gguf" >"$tmp/inspect" 2>&1
grep -q "^tokenizer: *sentencepiece-bpe (llama)" "$tmp/inspect" && grep -q "^vocab: *4000" "$tmp/inspect" && grep -q "grown from 512 to 4000" "$tmp/out" &&
  pass "synth --vocab-from: tokenizer llama, vocabulary 4000" || fail "synth --vocab-from inspect: $(cat "$tmp/out" "$tmp/inspect")"
text=$(sed -n "$((RANDOM % 200 + 1))p" models/kjv-validation.txt)
a=$("$llmr" tokenize -m "$tmp/v.gguf" --ids "$text" 2>&1)
b=$("$llmr" tokenize -m models/default.gguf --ids "$text" 2>&1)
[ -n "$a" ] && [ "$a" = "$b" ] && pass "synth --vocab-from: tokenizes like the source" || fail "tokenize: '$a' vs '$b'"
# Random weights may pick end-of-generation first (empty text), so the check is on the ids: 1 to 6 of
# them, each in the grown vocabulary, and text printed whenever more than one came.
ids=$("$llmr" run -m "$tmp/v.gguf" -p "And Naomi said" -n 6 --temp 0 -t 1 --output-ids 2>"$tmp/err")
out=$("$llmr" run -m "$tmp/v.gguf" -p "And Naomi said" -n 6 --temp 0 -t 1 2>>"$tmp/err")
n_ids=$(echo "$ids" | tr -d '[]' | tr ',' '\n' | grep -c .)
in_vocab=$(echo "$ids" | tr -d '[]' | tr ',' '\n' | awk '$1 < 0 || $1 >= 4000 { bad = 1 } END { print bad ? "no" : "yes" }')
[ "$n_ids" -ge 1 ] && [ "$n_ids" -le 6 ] && [ "$in_vocab" = yes ] && { [ "$n_ids" -eq 1 ] || [ -n "$out" ]; } &&
  pass "run on the --vocab-from model ($n_ids ids: $ids)" || fail "run --vocab-from: ids '$ids', text '$out': $(cat "$tmp/err")"

# Bad input: one-line errors naming the problem, exit status 1.
expect_error() {  # expect_error DESCRIPTION PATTERN COMMAND...
  local what=$1 pattern=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ $rc -eq 1 ] && grep -q -- "$pattern" "$tmp/err" && pass "$what rejected" || fail "$what: rc=$rc $(cat "$tmp/err")"
}
expect_error "unknown shape" "llama3-8b" "$llmr" synth --shape gpt5 "$tmp/x.gguf"
expect_error "unknown type" "q9_9" "$llmr" synth --shape tiny --type q9_9 "$tmp/x.gguf"
expect_error "missing output path" "usage" "$llmr" synth --shape tiny
expect_error "--vocab-from a model without a tokenizer" "has no tokenizer" "$llmr" synth --shape tiny --vocab-from "$tmp/a.gguf" "$tmp/x.gguf"
expect_error "--vocab-from a missing file" "$tmp/none.gguf" "$llmr" synth --shape tiny --vocab-from "$tmp/none.gguf" "$tmp/x.gguf"
expect_error "unwritable output" "$tmp/no/such/dir" "$llmr" synth --shape tiny "$tmp/no/such/dir/x.gguf"
expect_error "bench -p 0 -n 0" "nothing to measure" "$llmr" bench -m "$tmp/a.gguf" -p 0 -n 0
expect_error "bench unknown device" "'tpu'" "$llmr" bench -m "$tmp/a.gguf" --device tpu
expect_error "bench -c shorter than a test" "\-c 8 is shorter" "$llmr" bench -m "$tmp/a.gguf" -p 16 -n 4 -c 8
expect_error "bench -r 0" "\-r" "$llmr" bench -m "$tmp/a.gguf" -r 0
[ ! -e "$tmp/x.gguf" ] && pass "no file left by failed synths" || fail "a failed synth left $tmp/x.gguf"

echo "$passes passed, $failures failed"
[ $failures -eq 0 ]
