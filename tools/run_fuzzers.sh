#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz and runs each for SECONDS on a scratch copy
# of its seed corpus (fuzz/corpus/<name without fuzz_>/). Fails if any target crashes.
#   tools/run_fuzzers.sh SECONDS [fuzz_target ...]     (default: every fuzz/fuzz_*.cpp)
set -euo pipefail

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SECONDS [fuzz_target ...]" >&2
  exit 2
fi
secs=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=()
  for src in "$root"/fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DLLMR_FUZZ=ON -DLLMR_CUDA=OFF -DLLMR_TESTS=OFF -DLLMR_BENCH=OFF >/dev/null
ninja -C "$build" "${targets[@]}"

mkdir -p "$build/artifacts"
failed=()
for t in "${targets[@]}"; do
  seeds="$root/fuzz/corpus/${t#fuzz_}"
  work=$(mktemp -d "${TMPDIR:-/tmp}/llmr_${t}_XXXXXX")
  [[ -d $seeds ]] && cp -r "$seeds"/. "$work"/
  echo "== $t: ${secs}s on $(ls "$work" | wc -l) seed(s)"
  if "$build/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/artifacts/$t-" "$work" 2>"$build/$t.log"; then
    grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$build/$t.log" | sed 's/^/   /' || true
  else
    echo "!! $t failed; log: $build/$t.log, crashing input under $build/artifacts/" >&2
    tail -n 40 "$build/$t.log" >&2
    failed+=("$t")
  fi
  rm -rf "$work"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all fuzzers ran ${secs}s without a crash: ${targets[*]}"
