# primacpp: prima.cpp built with `make` on one node per CPU class (its Makefile adds
# -march=native, so it must build on the CPU that runs it), linked with HiGHS for the
# Halda scheduler on rank 0 (USE_HIGHS=1); ZeroMQ and fio come from apt.
prefix="${AIDE_PREFIX:?}"
src="${AIDE_SRC:?}/primacpp"

if [ "$op" = delete ]; then
  remove_path "$prefix" "$src" /var/cache/aide/prima.tar.gz /var/cache/aide/highs.tar.gz
  finish; exit 0
fi

for p in libzmq3-dev fio; do
  sys dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
    || die "package $p is missing — the base step installs it when the backend is primacpp"
done
if [ "${AIDE_ROLE:?}" = receive ]; then
  if [ -x "$R$prefix/bin/llama-server" ]; then unchanged "$prefix (copied from this CPU class's builder)"
  else say "the builder of CPU class $AIDE_CPU_CLASS has not copied prima.cpp yet; relay.sh does that next"; fi
  finish; exit 0
fi

stamp="$AIDE_PRIMA_SHA256 $AIDE_HIGHS_SHA256 $AIDE_CPU_CLASS"
if [ -f "$R$prefix/.aide-build" ] && [ "$(cat "$R$prefix/.aide-build")" = "$stamp" ]; then
  unchanged "prima.cpp build in $prefix"; finish; exit 0
fi
fetch_verified "$AIDE_PRIMA_URL" "$AIDE_PRIMA_SHA256" /var/cache/aide/prima.tar.gz
fetch_verified "$AIDE_HIGHS_URL" "$AIDE_HIGHS_SHA256" /var/cache/aide/highs.tar.gz
rm -rf "$R$src"; mkdir -p "$R$src/prima" "$R$src/highs" "$R$prefix/bin"
tar -xzf "$R/var/cache/aide/prima.tar.gz" -C "$R$src/prima" --strip-components=1
tar -xzf "$R/var/cache/aide/highs.tar.gz" -C "$R$src/highs" --strip-components=1
say "building HiGHS (the scheduler's solver)"
cmake -S "$R$src/highs" -B "$R$src/highs/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_INSTALL_PREFIX="$R$prefix/highs" -DCMAKE_INSTALL_LIBDIR=lib >"$R$src/highs.log" 2>&1 \
  && cmake --build "$R$src/highs/build" -j "$(nproc)" --target install >>"$R$src/highs.log" 2>&1 \
  || die "HiGHS build failed; log: $src/highs.log"
say "building prima.cpp with make USE_HIGHS=1 (-march=native for this CPU class)"
# HiGHS is found through the compiler's search paths, not a system-wide install, so
# delete can remove it with the rest of the prefix.
CPATH="$R$prefix/highs/include/highs" LIBRARY_PATH="$R$prefix/highs/lib" \
  make -C "$R$src/prima" -j "$(nproc)" USE_HIGHS=1 llama-server llama-cli >"$R$src/prima.log" 2>&1 \
  || die "prima.cpp build failed; log: $src/prima.log"
install -m 0755 "$R$src/prima/llama-server" "$R$src/prima/llama-cli" "$R$prefix/bin/"
printf '%s' "$stamp" > "$R$prefix/.aide-build"
changed "prima.cpp built for CPU class $AIDE_CPU_CLASS in $prefix"
finish
