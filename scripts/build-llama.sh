#!/usr/bin/env bash
# Builds llama.cpp's llama-server, ggml-rpc-server (the RPC worker), llama-bench,
# llama-cli and llama-quantize (the cluster lab makes its stand-in models' K-quants and
# per-tensor types with it, as a real GGUF's were made) for one CPU profile, from the git
# bundle that node-llama-cpp ships.
#
# The same script runs in CI here and on every Aide node (infra/ copies the bundle and
# this script to the node), so a node builds exactly the source CI tested.
#
#   scripts/build-llama.sh [--source BUNDLE|DIR] [--profile core2|sse2|native]
#                          [--prefix DIR] [--jobs N] [--print-prefix]
#
#   --source   the llama.cpp git bundle (default: node-llama-cpp's llama/gitRelease.bundle)
#              or an existing source checkout
#   --profile  core2  (default) -march=core2: SSE2..SSSE3, no SSE4.x, no AVX — Core 2 Duo
#              sse2   plain x86-64: for same-era CPUs without SSSE3 (Athlon 64 X2)
#              native the build machine's own CPU, for nodes that have AVX
#   --prefix   install directory (default: $AIDE_CACHE/llama/<source-id>-<profile>,
#              AIDE_CACHE defaults to ~/.cache/aide); binaries land in <prefix>/bin
#   --jobs     parallel compile jobs (default: nproc)
#   --print-prefix  print the install prefix for these inputs and exit
#
# Idempotent: the prefix holds a stamp of (source id, profile, flags); a second run with
# the same inputs prints "up to date" and builds nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
source_arg="$repo/node_modules/node-llama-cpp/llama/gitRelease.bundle"
profile="core2"
prefix=""
jobs="$(nproc 2>/dev/null || echo 2)"
print_prefix=0

die() { echo "build-llama: $*" >&2; exit 1; }
step() { echo "build-llama: $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --source) source_arg="${2:?--source needs a path}"; shift 2 ;;
    --profile) profile="${2:?--profile needs core2, sse2 or native}"; shift 2 ;;
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --jobs) jobs="${2:?--jobs needs a number}"; shift 2 ;;
    --print-prefix) print_prefix=1; shift ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

case "$jobs" in ''|*[!0-9]*) die "--jobs must be a whole number, got '$jobs'" ;; esac

# One line a flag, each with its reason. Every ggml ISA option is off for the legacy
# profiles: GGML_NATIVE=OFF alone still turns AVX/AVX2/FMA/F16C on (INS_ENB in
# ggml/CMakeLists.txt).
legacy_flags=(
  -DGGML_NATIVE=OFF
  -DGGML_SSE42=OFF -DGGML_AVX=OFF -DGGML_AVX_VNNI=OFF -DGGML_AVX2=OFF -DGGML_BMI2=OFF
  -DGGML_FMA=OFF -DGGML_F16C=OFF
  -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
)
case "$profile" in
  core2)  march="-march=core2 -mtune=generic"; isa_flags=("${legacy_flags[@]}") ;;
  sse2)   march="-march=x86-64 -mtune=generic"; isa_flags=("${legacy_flags[@]}") ;;
  native) march=""; isa_flags=(-DGGML_NATIVE=ON) ;;
  *) die "unknown profile '$profile': use core2 (Core 2, default), sse2 (no SSSE3) or native (CPUs with AVX)" ;;
esac

# The source id keys the cache: the bundle's head commit, or the checkout's HEAD.
if [ -d "$source_arg/.git" ] || [ -f "$source_arg/CMakeLists.txt" ]; then
  source_id="$(git -C "$source_arg" rev-parse --short=12 HEAD 2>/dev/null || echo local)"
elif [ -f "$source_arg" ]; then
  source_id="$(git bundle list-heads "$source_arg" 2>/dev/null | head -n1 | cut -c1-12)"
  [ -n "$source_id" ] || die "'$source_arg' is not a git bundle (expected node-llama-cpp's llama/gitRelease.bundle)"
else
  die "llama.cpp source not found at '$source_arg' — run 'npm ci' (it installs node-llama-cpp, which ships the bundle) or pass --source"
fi

cache_root="${AIDE_CACHE:-$HOME/.cache/aide}"
[ -n "$prefix" ] || prefix="$cache_root/llama/$source_id-$profile"
if [ "$print_prefix" = 1 ]; then echo "$prefix"; exit 0; fi

cmake_flags=(
  -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_C_FLAGS=$march"
  "-DCMAKE_CXX_FLAGS=$march"
  # Static binaries copy cleanly between nodes of one CPU class.
  -DBUILD_SHARED_LIBS=OFF
  "-DCMAKE_EXE_LINKER_FLAGS=-static-libgcc -static-libstdc++"
  # No OpenMP: ggml's own thread pool, and nothing to install on the nodes.
  -DGGML_OPENMP=OFF
  # The RPC backend: llama-server --rpc and the ggml-rpc-server worker.
  -DGGML_RPC=ON
  # Otherwise the build downloads the web UI; nodes have no internet.
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON
  -DGGML_CCACHE=OFF
  "${isa_flags[@]}"
)
targets=(llama-server ggml-rpc-server llama-bench llama-cli llama-quantize)
stamp="source=$source_id profile=$profile flags=${cmake_flags[*]}"

if [ -f "$prefix/.aide-build" ] && [ "$(cat "$prefix/.aide-build")" = "$stamp" ]; then
  missing=0
  for t in "${targets[@]}"; do [ -x "$prefix/bin/$t" ] || missing=1; done
  if [ "$missing" = 0 ]; then step "up to date: $profile build of $source_id in $prefix/bin"; exit 0; fi
fi

for tool in cmake git c++ make; do
  command -v "$tool" >/dev/null || die "'$tool' is missing — install it: apt-get install -y cmake git build-essential"
done

work="$cache_root/llama-work/$source_id-$profile"
mkdir -p "$work" "$prefix/bin"
src="$work/src"
if [ ! -f "$src/CMakeLists.txt" ]; then
  step "unpacking source $source_id into $src"
  rm -rf "$src"
  if [ -f "$source_arg" ]; then
    git clone --quiet "$source_arg" "$src" 2>/dev/null || die "cannot clone bundle '$source_arg'"
  else
    cp -a "$source_arg" "$src"
  fi
fi

step "configuring $profile build (${march:-native CPU})"
cmake -S "$src" -B "$work/build" "${cmake_flags[@]}" >"$work/configure.log" 2>&1 \
  || { tail -n 30 "$work/configure.log" >&2; die "cmake configure failed; full log: $work/configure.log"; }

step "compiling ${targets[*]} with $jobs jobs (about 5 minutes on 2 cores; log: $work/build.log)"
cmake --build "$work/build" --config Release -j "$jobs" --target "${targets[@]}" >"$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log" >&2; die "compile failed; full log: $work/build.log"; }

for t in "${targets[@]}"; do
  install -m 0755 "$work/build/bin/$t" "$prefix/bin/$t.tmp"
  mv -f "$prefix/bin/$t.tmp" "$prefix/bin/$t"
done
printf '%s' "$stamp" > "$prefix/.aide-build.tmp"
mv -f "$prefix/.aide-build.tmp" "$prefix/.aide-build"
step "installed ${targets[*]} into $prefix/bin"
