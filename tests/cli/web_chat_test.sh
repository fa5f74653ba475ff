#!/usr/bin/env bash
# The web chat page (GET /) of `llmr serve` in headless Chromium, driven by playwright-core: see
# tests/oracle/web_chat.mjs. Needs Debian's chromium and `npm ci --prefix tests/oracle`; fails (never
# skips) without them. Usage: web_chat_test.sh path/to/llmr (from the repository root)
set -uo pipefail
llmr=$(realpath "$1")
[ -x /usr/bin/chromium ] || { echo "FAIL: /usr/bin/chromium is missing (bash tools/install_deps.sh installs it)"; exit 1; }
[ -f tests/oracle/node_modules/playwright-core/package.json ] ||
  { echo "FAIL: playwright-core is missing (npm ci --prefix tests/oracle)"; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }; rm -rf "$tmp"; }
trap cleanup EXIT

port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
"$llmr" serve --port "$port" -t 1 >"$tmp/serve.log" 2>&1 &
pid=$!
up=0
for _ in $(seq 1 100); do
  curl -sf --max-time 2 "http://127.0.0.1:$port/health" >/dev/null && { up=1; break; }
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ $up -eq 1 ] || { echo "FAIL: the server did not start: $(cat "$tmp/serve.log")"; exit 1; }

# The browser gets its own HOME so that nothing it writes lands outside $tmp.
HOME="$tmp" timeout -k 5 90 node tests/oracle/web_chat.mjs "http://127.0.0.1:$port"
rc=$?
[ $rc -eq 124 ] && echo "FAIL: the web chat test ran past 90 s"
kill -0 "$pid" 2>/dev/null || { echo "FAIL: the server died: $(tail -5 "$tmp/serve.log")"; rc=1; }
[ $rc -eq 0 ] && echo "web chat test passed" || echo "FAIL: web chat test (exit $rc)"
exit $((rc != 0))
