#!/usr/bin/env bash
# Builds llmr and runs every test: unit tests, op batteries, golden fixtures, CLI tests, oracle
# comparisons (npm packages) and bounded fuzzing. GPU tests (label gpu) skip, saying so, without a GPU.
# Usage: tools/test.sh [FUZZ_SECONDS_PER_TARGET]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=${1:-30}
jobs=$(nproc)

bash tools/install_deps.sh
if [ ! -d tests/oracle/node_modules ] || [ tests/oracle/package-lock.json -nt tests/oracle/node_modules ]; then
  npm ci --prefix tests/oracle --no-audit --no-fund --loglevel=error
fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs" --timeout 1200)
# Say why the GPU label skipped, when it did (test_cuda exits 77 naming the reason).
if [ -x build/test_cuda ]; then
  build/test_cuda --gtest_filter=-* >build/gpu_skip.txt 2>&1 && echo "GPU tests ran (label gpu)." ||
    echo "GPU tests (label gpu) skipped: $(head -c 300 build/gpu_skip.txt)"
fi

if [ "$fuzz_seconds" -gt 0 ] && [ -x tools/run_fuzzers.sh ]; then
  bash tools/run_fuzzers.sh "$fuzz_seconds"
fi
