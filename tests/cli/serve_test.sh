#!/usr/bin/env bash
# `llmr serve` end to end on loopback: the openai and ollama npm clients, bad input, and a 64-client
# load test, against the default model. Usage: serve_test.sh path/to/llmr (from the repository root)
set -uo pipefail
llmr=$(realpath "$1")
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
failures=0

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
start() {  # start NAME ARGS...: runs the server on a free port, waits for /health; sets $port and $pid
  local name=$1; shift
  port=$(free_port)
  "$llmr" serve --port "$port" "$@" >"$tmp/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: server $name did not start: $(cat "$tmp/$name.log")"
  exit 1
}
run() {  # run NAME COMMAND...
  echo "== $1"
  local name=$1; shift
  if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; failures=$((failures + 1)); fi
}

start main -t 1  # one thread: on a shared 2-core machine a second one mostly waits
main_port=$port main_pid=$pid
run "openai and ollama clients" node tests/oracle/server_clients.mjs "http://127.0.0.1:$main_port"
run "64 concurrent streaming clients" node tests/oracle/server_load.mjs "http://127.0.0.1:$main_port" "$main_pid"

start strict -t 1 --api-key secret --max-body 65536 --parallel 2 --queue 1 --timeout 10
run "bad input" node tests/oracle/server_bad_input.mjs "http://127.0.0.1:$port"

for p in "$main_pid" "$pid"; do
  kill -0 "$p" 2>/dev/null && echo "ok: server $p still up" || { echo "FAIL: server $p died"; failures=$((failures + 1)); }
done
# Exits cleanly on SIGTERM.
kill -TERM "$main_pid"; wait "$main_pid"; rc=$?
[ $rc -eq 0 ] && echo "ok: clean exit on SIGTERM" || { echo "FAIL: exit status $rc on SIGTERM"; failures=$((failures + 1)); }
[ $failures -eq 0 ] && echo "serve tests passed" || echo "$failures serve test groups failed"
exit $((failures > 0))
