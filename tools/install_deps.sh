#!/usr/bin/env bash
# Installs what building and testing llmr needs on Debian 12 (run as root, or with sudo).
set -euo pipefail
packages=(g++ cmake ninja-build ccache git libgtest-dev libbenchmark-dev nlohmann-json3-dev libpcre2-dev
          clang libclang-rt-14-dev)
# Node.js and npm run the test oracles; a machine may already have them from elsewhere than Debian.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
# The web chat test drives Debian's Chromium (/usr/bin/chromium) through playwright-core.
packages+=(chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
