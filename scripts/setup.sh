#!/usr/bin/env bash
# Makes this machine ready to run Aide's agent or its tests, and says what it does.
# Idempotent: with everything present it checks and prints "ready" in a few seconds.
#
#   scripts/setup.sh [--tests]
#     (no flag)  what the agent needs here: Debian packages, npm dependencies, the
#                legacy (core2) llama.cpp build
#     --tests    also what the tests need (Chromium, qemu-user, sshd, debootstrap, ...)
#                and the sse2 llama.cpp build, whose binaries the tests scan too
#
# Debian packages come from .ci/apt-packages; lines tagged [test] are test-only.
# npm runs with ONNXRUNTIME_NODE_INSTALL=skip (its postinstall would fetch CUDA
# libraries) and NODE_LLAMA_CPP_SKIP_DOWNLOAD=true (prebuilt CPU binaries ship inside
# @node-llama-cpp/linux-x64); .npmrc leaves out optional GPU variants (725 MB).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
with_tests=0
case "${1:-}" in
  --tests) with_tests=1 ;;
  "") ;;
  -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup: unknown option '$1' (use --tests or nothing)" >&2; exit 2 ;;
esac
say() { echo "setup: $*"; }

# 1. Debian packages
wanted=()
while read -r line; do
  name="${line%%#*}"; name="${name//[[:space:]]/}"
  [ -n "$name" ] || continue
  if [[ "$line" == *"[test]"* ]] && [ "$with_tests" = 0 ]; then continue; fi
  wanted+=("$name")
done < .ci/apt-packages
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root to install: apt-get install -y ${missing[*]}" >&2; exit 1; }
    sudo_="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_ apt-get update -q >/dev/null
  $sudo_ apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present (${#wanted[@]})"
fi

# 2. npm dependencies (again only when package-lock.json changed since the last install).
#    `npm install` against the committed lock, not `npm ci`: npm 11 leaves the other
#    platforms' optional packages (node-llama-cpp's mac/win/riscv builds) out of the
#    lock it writes, and then `npm ci` rejects that same lock as out of sync. With an
#    unchanged package.json, `npm install` installs exactly the lock and leaves it as is.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm install from package-lock.json)"
  ONNXRUNTIME_NODE_INSTALL=skip NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --no-audit --no-fund --loglevel=error
else
  say "npm dependencies present"
fi

# 3. llama.cpp, built for a Core 2 (cached in ${AIDE_CACHE:-~/.cache/aide}/llama); the
#    tests also check the sse2 profile's binaries (for CPUs without SSSE3)
bash scripts/build-llama.sh --profile core2 | sed 's/^/setup: /'
if [ "$with_tests" = 1 ]; then bash scripts/build-llama.sh --profile sse2 | sed 's/^/setup: /'; fi
say "ready"
