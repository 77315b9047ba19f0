# Shared by every step script (infra/shell.ts puts it before the step on stdin; relay.sh
# sources it). One line per thing a step looks at: "<step>: changed: ..." or
# "<step>: unchanged: ...", and a last line saying whether the run changed anything.
set -euo pipefail
# `... | put_file` must run put_file in this shell so its change count is kept.
shopt -s lastpipe
op="${1:-create}"
case "$op" in
  create|update|delete) ;;
  *) echo "${AIDE_STEP:-aide}: unknown operation '$op' (use create, update or delete)" >&2; exit 2 ;;
esac
# AIDE_ROOT prefixes every path a step writes; empty on a real node. Tests point it at a
# throwaway Debian root. AIDE_CHROOT=1 runs package and service commands inside that root;
# AIDE_LIVE=0 skips what acts on the running kernel (swapon, nft, starting services).
R="${AIDE_ROOT:-}"
if [ -n "$R" ]; then AIDE_LIVE="${AIDE_LIVE:-0}"; else AIDE_LIVE="${AIDE_LIVE:-1}"; fi
aide_changes=0

say() { echo "${AIDE_STEP:-aide}: $*"; }
changed() { aide_changes=$((aide_changes + 1)); say "changed: $*"; }
unchanged() { say "unchanged: $*"; }
die() { echo "${AIDE_STEP:-aide}${AIDE_NODE:+ on $AIDE_NODE}: $*" >&2; exit 1; }
finish() {
  if [ "$aide_changes" = 0 ]; then say "$op: no changes"; else say "$op: $aide_changes change(s)"; fi
}

# A package or service command: on the node, or inside the test root.
sys() {
  if [ -z "$R" ]; then "$@"
  elif [ "${AIDE_CHROOT:-0}" = 1 ]; then chroot "$R" "$@"
  else say "not run outside a chroot: $*"
  fi
}
# Acts on the running kernel or service manager: never inside a test root unless asked.
live() {
  if [ "$AIDE_LIVE" = 1 ]; then "$@"; else say "not run in a test root: $*"; fi
}

# put_file PATH MODE < content — writes only when the content or mode differs; sets
# file_changed to 1 when it wrote.
file_changed=0
put_file() {
  local path="$R$1" mode="$2" tmp
  tmp="$(mktemp)"
  cat > "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path" && [ "$(stat -c %a "$path")" = "$mode" ]; then
    rm -f "$tmp"; unchanged "$1"; file_changed=0; return 0
  fi
  mkdir -p "$(dirname "$path")"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  file_changed=1
  changed "$1"
}

# remove_path PATH... — removes what exists, reports what was already gone.
remove_path() {
  local p
  for p in "$@"; do
    case "$p" in /?*) ;; *) die "refusing to remove '$p': not an absolute path below /" ;; esac
    if [ -e "$R$p" ] || [ -L "$R$p" ]; then rm -rf -- "$R$p"; changed "removed $p"
    else unchanged "$p already absent"; fi
  done
}

# fetch_verified URL SHA256 PATH — downloads once; the file must match the pinned checksum
# (pinned in $AIDE_PIN_SOURCE, default the stack config: the error names where to fix it).
fetch_verified() {
  local url="$1" sha="$2" path="$R$3" got
  if [ -f "$path" ] && [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$sha" ]; then unchanged "$3 (sha256 ok)"; return 0; fi
  mkdir -p "$(dirname "$path")"
  curl -fsSL --retry 3 --connect-timeout 20 -o "$path.part" -- "$url" \
    || { rm -f "$path.part"; die "cannot download $url — does the node reach it? (curl -I it on the node)"; }
  got="$(sha256sum "$path.part" | cut -d' ' -f1)"
  if [ "$got" != "$sha" ]; then
    rm -f "$path.part"
    if [ -n "${AIDE_PIN_SOURCE:-}" ]; then die "$url has sha256 $got, but $AIDE_PIN_SOURCE pins $sha — fix the pinned checksum there if the new file is the one you want"; fi
    die "$url has sha256 $got, but the stack pins $sha — fix the pinned checksum in the stack config if the new file is the one you want"
  fi
  mv -f "$path.part" "$path"
  changed "downloaded $3 (sha256 ok)"
}
