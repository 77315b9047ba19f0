# primacpp: prima.cpp built with `make` on one node per CPU class (its Makefile adds
# -march=native, so it must build on the CPU that runs it) and copied to the rest. It
# links only ZeroMQ (libzmq3-dev, from apt; prima ships its own zmq.hpp). No HiGHS and no
# fio: the llm job passes -lw on every rank, so neither the Halda scheduler (HiGHS) nor
# the profiler (fio) ever runs — and HiGHS would bring -mpopcnt (SIGILL on a Core 2) and a
# link failure without -lz (shared/prima/FLAGS.md, "Verified against the real source").
prefix="${AIDE_PREFIX:?}"
src="${AIDE_SRC:?}/primacpp"
# What an earlier version of this step built for the scheduler.
old_highs=("$prefix/highs" /var/cache/aide/highs.tar.gz)

if [ "$op" = delete ]; then
  remove_path "$prefix" "$src" /var/cache/aide/prima.tar.gz /var/cache/aide/highs.tar.gz
  finish; exit 0
fi

sys dpkg-query -W -f='${Status}' libzmq3-dev 2>/dev/null | grep -q "ok installed" \
  || die "package libzmq3-dev is missing — the base step installs it when the backend is primacpp"
for p in "${old_highs[@]}"; do if [ -e "$R$p" ]; then remove_path "$p"; fi; done
if [ "${AIDE_ROLE:?}" = receive ]; then
  if [ -x "$R$prefix/bin/llama-server" ]; then unchanged "$prefix (copied from this CPU class's builder)"
  else say "the builder of CPU class $AIDE_CPU_CLASS has not copied prima.cpp yet; relay.sh does that next"; fi
  finish; exit 0
fi

stamp="$AIDE_PRIMA_SHA256 $AIDE_CPU_CLASS"
if [ -f "$R$prefix/.aide-build" ] && [ "$(cat "$R$prefix/.aide-build")" = "$stamp" ]; then
  unchanged "prima.cpp build in $prefix"; finish; exit 0
fi
fetch_verified "$AIDE_PRIMA_URL" "$AIDE_PRIMA_SHA256" /var/cache/aide/prima.tar.gz
rm -rf "$R$src"; mkdir -p "$R$src/prima" "$R$prefix/bin"
tar -xzf "$R/var/cache/aide/prima.tar.gz" -C "$R$src/prima" --strip-components=1
say "building prima.cpp llama-server and llama-cli with make (-march=native for this CPU class; no USE_HIGHS)"
make -C "$R$src/prima" -j "$(nproc)" llama-server llama-cli >"$R$src/prima.log" 2>&1 \
  || die "prima.cpp build failed; log: $src/prima.log"
install -m 0755 "$R$src/prima/llama-server" "$R$src/prima/llama-cli" "$R$prefix/bin/"
printf '%s' "$stamp" > "$R$prefix/.aide-build"
changed "prima.cpp built for CPU class $AIDE_CPU_CLASS in $prefix"
finish
