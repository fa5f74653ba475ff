#!/usr/bin/env bash
# The shipped default model (models/default.gguf) against what its training script recorded with
# transformers (models/training_report.json): greedy continuations and validation perplexity.
# Usage: demo_model_test.sh path/to/llmr   (from the repository root)
set -uo pipefail
llmr=$1
report=$PWD/models/training_report.json
failures=0
passes=0
pass() { passes=$((passes + 1)); echo "ok: $1"; }
fail() { failures=$((failures + 1)); echo "FAIL: $1"; }
field() { node -e "const r=require(process.argv[1]); const v=eval('r'+process.argv[2]); console.log(Array.isArray(v)?v.join(','):v)" "$report" "$1"; }

for prompt in "And God said" "In the beginning" "The LORD is my shepherd"; do
  want="[$(field "['greedy']['$prompt']['ids']")]"
  # The prompt goes in as text: the tokenizer must give the ids transformers' tokenizer gave.
  ids=$("$llmr" tokenize --ids "$prompt" 2>/dev/null | tr -d ' []')
  [ "$ids" = "$(field "['greedy']['$prompt']['prompt_ids']")" ] && pass "'$prompt' tokenizes as in training" ||
    fail "'$prompt' tokenizes to $ids"
  got=$("$llmr" run --prompt-ids "$ids" -n 48 --temp 0 --output-ids 2>/dev/null)
  [ "$got" = "$want" ] && pass "'$prompt': 48 greedy tokens match transformers" || fail "'$prompt': got $got want $want"
done

want_ppl=$(field "['valid_perplexity']")
got_ppl=$("$llmr" perplexity -f models/kjv-validation.txt -c 256 2>/dev/null | sed -n 's/^Final estimate: PPL = \([0-9.]*\).*/\1/p')
if awk -v a="$got_ppl" -v b="$want_ppl" 'BEGIN { d = a / b - 1; exit !(a > 0 && d < 0.01 && d > -0.01) }'; then
  pass "perplexity $got_ppl within 1% of the training script's $want_ppl"
else
  fail "perplexity $got_ppl vs the training script's $want_ppl"
fi

# No -m: the default model; the README's first command.
text=$("$llmr" run -p "And God said" -n 32 --seed 3 2>/dev/null)
words=$(echo "$text" | wc -w)
[ "$words" -ge 10 ] && pass "default model writes text: ${text:0:80}..." || fail "default model wrote: '$text'"

echo "$passes passed, $failures failed"
[ $failures -eq 0 ]
