# nodejs: the pinned Node.js release the agent runs on (the major CI tests with).
version="${AIDE_NODEJS_VERSION:?}"
tarball="/var/cache/aide/node-v$version-linux-x64.tar.xz"
dir="/opt/aide/node-v$version"

if [ "$op" = delete ]; then
  for link in /usr/local/bin/node /usr/local/bin/npm /opt/aide/node; do
    if [ -L "$R$link" ]; then rm -f "$R$link"; changed "removed $link"; fi
  done
  remove_path "$dir" "$tarball"
  finish; exit 0
fi

fetch_verified "$AIDE_NODEJS_URL" "$AIDE_NODEJS_SHA256" "$tarball"
stamp="$R$dir/.aide-sha256"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$AIDE_NODEJS_SHA256" ]; then
  unchanged "$dir"
else
  rm -rf "$R$dir.tmp"; mkdir -p "$R$dir.tmp"
  tar -xJf "$R$tarball" -C "$R$dir.tmp" --strip-components=1
  printf '%s' "$AIDE_NODEJS_SHA256" > "$R$dir.tmp/.aide-sha256"
  rm -rf "$R$dir"; mv "$R$dir.tmp" "$R$dir"
  changed "unpacked Node.js $version into $dir"
fi
link() { # link TARGET NAME
  if [ "$(readlink "$R$2" 2>/dev/null)" = "$1" ]; then unchanged "$2"; else mkdir -p "$(dirname "$R$2")"; ln -sfn "$1" "$R$2"; changed "$2 -> $1"; fi
}
link "$dir" /opt/aide/node
link /opt/aide/node/bin/node /usr/local/bin/node
link /opt/aide/node/bin/npm /usr/local/bin/npm
# An upgrade leaves nothing of the release it replaced (delete only knows the current one).
for old in "$R"/opt/aide/node-v* "$R"/var/cache/aide/node-v*-linux-x64.tar.xz; do
  [ -e "$old" ] || continue
  case "$old" in "$R$dir"|"$R$tarball") continue ;; esac
  rm -rf -- "$old"; changed "removed the replaced ${old#"$R"}"
done
finish
