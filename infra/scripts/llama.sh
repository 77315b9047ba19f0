# llama: llama.cpp's llama-server, ggml-rpc-server, llama-bench and llama-cli, built on
# one node per CPU class by the same script CI uses (scripts/build-llama.sh); the other
# nodes of the class receive a copy (relay.sh) and only check it here.
prefix="${AIDE_PREFIX:?}"
src="${AIDE_SRC:?}"

if [ "$op" = delete ]; then
  remove_path "$prefix" "$src" /var/cache/aide/llama-work
  finish; exit 0
fi

case "${AIDE_PROFILE:?}" in core2|sse2|native) ;; *) die "unknown llama.cpp profile '$AIDE_PROFILE'" ;; esac
if [ "${AIDE_ROLE:?}" = receive ]; then
  if [ -x "$R$prefix/bin/llama-server" ]; then unchanged "$prefix (copied from this CPU class's builder)"
  else say "the builder of CPU class $AIDE_CPU_CLASS has not copied the engine yet; relay.sh does that next"; fi
  finish; exit 0
fi

[ -f "$R$src/scripts/build-llama.sh" ] || die "$src/scripts/build-llama.sh is missing — the llama-source copy did not run"
before="$(cat "$R$prefix/.aide-build" 2>/dev/null || true)"
AIDE_CACHE="$R/var/cache/aide" bash "$R$src/scripts/build-llama.sh" \
  --source "$R$src/node_modules/node-llama-cpp/llama/gitRelease.bundle" \
  --profile "$AIDE_PROFILE" --prefix "$R$prefix" | sed "s/^/${AIDE_STEP}: /"
if [ "$before" = "$(cat "$R$prefix/.aide-build")" ]; then unchanged "$AIDE_PROFILE build in $prefix"
else changed "$AIDE_PROFILE build of CPU class $AIDE_CPU_CLASS in $prefix"; fi
finish
