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
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

servers=()
start() {  # start ARGS...: runs a server on a free port and waits for /health; sets $port
  port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  "$llmr" serve --port "$port" -t 1 "$@" >"$tmp/serve$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -sf --max-time 2 "http://127.0.0.1:$port/health" >/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: the server did not start: $(cat "$tmp/serve$port.log")"
  exit 1
}
start
servers+=("http://127.0.0.1:$port")
start --api-key secret
servers+=("http://127.0.0.1:$port")

# The browser gets its own HOME so that nothing it writes lands outside $tmp.
HOME="$tmp" timeout -k 5 60 node tests/oracle/web_chat.mjs "${servers[@]}"
rc=$?
[ $rc -eq 124 ] && echo "FAIL: the web chat test ran past 60 s"
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "FAIL: server $p died"; rc=1; }; done
[ $rc -eq 0 ] && echo "web chat test passed" || echo "FAIL: web chat test (exit $rc)"
exit $((rc != 0))
