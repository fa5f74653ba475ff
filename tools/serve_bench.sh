#!/usr/bin/env bash
# The serving benchmark end to end: starts `llmr serve` on a free loopback port, waits for /health,
# runs tools/server_bench.py (throughput table, then prefix cache), stops the server and writes
# OUT_DIR/serve_bench.md (with the server's log beside it). Python 3 standard library only.
#   tools/serve_bench.sh LLMR_BIN OUT_DIR [DEVICE]       (DEVICE: cpu (default) or cuda)
# Settings from the environment (defaults in brackets):
#   MODEL [models/default.gguf]  PARALLEL [64]  CTX [2048]  THREADS [server default]
#   CLIENTS [1,8,16,32,64]  PROMPT_TOKENS [512]  MAX_TOKENS [128]
#   PREFIX_TOKENS [448]  TAIL_TOKENS [64]  PREFIX_REQUESTS [8]  PREFIX_ROUNDS [4]  EXTRA_SERVE_ARGS []
# On the H200:
#   llmr synth --shape llama3-8b --type q4_0 --vocab-from models/default.gguf /tmp/m.gguf
#   MODEL=/tmp/m.gguf tools/serve_bench.sh BIN/llmr OUT cuda
# Here (the default model's context is 256):
#   CTX=256 PROMPT_TOKENS=128 MAX_TOKENS=64 PREFIX_TOKENS=160 TAIL_TOKENS=32 tools/serve_bench.sh build/llmr OUT
set -uo pipefail
llmr=${1:?usage: tools/serve_bench.sh LLMR_BIN OUT_DIR [DEVICE]}
out=${2:?usage: tools/serve_bench.sh LLMR_BIN OUT_DIR [DEVICE]}
device=${3:-cpu}
here=$(cd "$(dirname "$0")/.." && pwd)
model=${MODEL:-$here/models/default.gguf}
parallel=${PARALLEL:-64}
ctx=${CTX:-2048}
clients=${CLIENTS:-1,8,16,32,64}
prompt_tokens=${PROMPT_TOKENS:-512}
max_tokens=${MAX_TOKENS:-128}
mkdir -p "$out" || exit 1
: >"$out/serve_bench.err"
report=$out/serve_bench.md
log=$out/serve_bench_server.log

# A free loopback port: bind to 0 and read what the kernel gave.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
# The KV pool defaults to --parallel full contexts, so no client waits for blocks.
args=(serve -m "$model" --device "$device" --port "$port" --parallel "$parallel" -c "$ctx" --queue 1024 --timeout 600)
[ -n "${THREADS:-}" ] && args+=(-t "$THREADS")
# shellcheck disable=SC2206  # word splitting is the point
[ -n "${EXTRA_SERVE_ARGS:-}" ] && args+=(${EXTRA_SERVE_ARGS})
"$llmr" "${args[@]}" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT
up=0
for _ in $(seq 1 600); do  # a large model takes a while to load
  if python3 -c "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:$port/health', timeout=2)" 2>/dev/null; then
    up=1; break
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
if [ $up != 1 ]; then
  echo "serve_bench: the server did not come up; its log:" >&2
  cat "$log" >&2
  exit 1
fi

url=http://127.0.0.1:$port
bench=(python3 "$here/tools/server_bench.py" "$url")
{
  echo "# llmr serve benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), host: $(uname -n), $(nproc) CPUs, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  command -v nvidia-smi >/dev/null && [ "$device" = cuda ] &&
    echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1)"
  echo "- model: $model ($(du -h "$model" | cut -f1))"
  echo "- server: \`llmr ${args[*]}\`"
  echo "- $(head -1 "$log")"
  echo
  echo "## Concurrent streaming clients"
  echo
  echo "\`tools/server_bench.py URL --clients $clients --prompt-tokens $prompt_tokens --max-tokens $max_tokens\`"
  echo
} >"$report"
"${bench[@]}" --clients "$clients" --prompt-tokens "$prompt_tokens" --max-tokens "$max_tokens" >>"$report" 2>>"$out/serve_bench.err"
rc1=$?
prefix=(--prefix --prefix-tokens "${PREFIX_TOKENS:-448}" --tail-tokens "${TAIL_TOKENS:-64}"
        --prefix-requests "${PREFIX_REQUESTS:-8}" --prefix-rounds "${PREFIX_ROUNDS:-4}")
{
  echo
  echo "## Prefix cache"
  echo
  echo "\`tools/server_bench.py URL ${prefix[*]}\`"
  echo
} >>"$report"
"${bench[@]}" "${prefix[@]}" >>"$report" 2>>"$out/serve_bench.err"
rc2=$?
{
  echo
  echo "## Server metrics at the end"
  echo
  echo '```'
  python3 -c "import urllib.request; print(urllib.request.urlopen('$url/metrics', timeout=10).read().decode())" 2>&1 |
    grep -E '^llmr_(prefix|kv|generated|prompt|scheduler|sequences|time_to|inter_token)' | grep -v _bucket
  echo '```'
} >>"$report"
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
trap - EXIT
cat "$report"
[ -s "$out/serve_bench.err" ] && { echo "stderr of the benchmark:"; cat "$out/serve_bench.err"; }
exit $((rc1 != 0 || rc2 != 0))
