#!/usr/bin/env bash
# relay: runs on the control node. Copies files from this machine or from one node to
# another node over SSH, streaming through here (nodes never hold each other's keys).
#   AIDE_FROM     local:/dir  or  user@host:port:/dir   (empty: nothing to copy, say why)
#   AIDE_INCLUDE  paths under the source dir to copy, one per line (default: all of it)
#   AIDE_TO       user@host:port:/dir
#   AIDE_SSH_KEY  the private key (from the Pulumi secret; written to a 0600 temp file)
#   AIDE_SHA256   optional: every copied file must have this checksum afterwards
# Idempotent: compares a checksum of the tree at both ends and copies only on a difference.
AIDE_STEP="${AIDE_STEP:-relay}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -z "${AIDE_FROM:-}" ]; then say "nothing to copy: ${AIDE_SKIP_REASON:-no source}"; finish; exit 0; fi
[ -n "${AIDE_SSH_KEY:-}" ] || die "AIDE_SSH_KEY is empty — the relay needs the cluster's SSH key"
key="$(mktemp)"; trap 'rm -f "$key"' EXIT
printf '%s\n' "$AIDE_SSH_KEY" > "$key"; chmod 600 "$key"

sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
endpoint() { # spec -> "user host port dir"
  [[ "$1" =~ ^([a-z_][a-z0-9_-]*)@([0-9.]+):([0-9]+):(/.*)$ ]] || die "'$1' is not user@host:port:/dir"
  ep_user="${BASH_REMATCH[1]}" ep_host="${BASH_REMATCH[2]}" ep_port="${BASH_REMATCH[3]}" ep_dir="${BASH_REMATCH[4]}"
}
# on SPEC CMD — runs CMD as root on that node (sudo -n for a non-root user).
on() {
  endpoint "$1"
  local sudo=""; [ "$ep_user" = root ] || sudo="sudo -n "
  ssh -i "$key" -p "$ep_port" -o BatchMode=yes -o ConnectTimeout=15 -o StrictHostKeyChecking=accept-new \
    -o UserKnownHostsFile="${AIDE_KNOWN_HOSTS:-$HOME/.ssh/known_hosts}" -o LogLevel=ERROR \
    "$ep_user@$ep_host" "${sudo}bash -c $(sq "$2")"
}

include="${AIDE_INCLUDE:-.}"
qinclude=""
# A name beginning with '-' (a model file may) would reach find and tar as an option: ./ it.
while IFS= read -r p; do
  [ -n "$p" ] || continue
  case "$p" in -*) p="./$p" ;; esac
  qinclude="$qinclude $(sq "$p")"
done <<< "$include"
# A checksum of the tree: names and contents, independent of timestamps.
sum_cmd="find $qinclude -type f -print0 2>/dev/null | sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1"
from_sum() {
  if [[ "$AIDE_FROM" == local:* ]]; then (cd "${AIDE_FROM#local:}" && bash -c "$sum_cmd")
  else endpoint "$AIDE_FROM"; on "$AIDE_FROM" "cd $(sq "$ep_dir") && $sum_cmd"; fi
}
to_sum() { endpoint "$AIDE_TO"; on "$AIDE_TO" "mkdir -p $(sq "$ep_dir") && cd $(sq "$ep_dir") && $sum_cmd"; }
pack() {
  if [[ "$AIDE_FROM" == local:* ]]; then (cd "${AIDE_FROM#local:}" && eval "tar -cf - $qinclude")
  else endpoint "$AIDE_FROM"; on "$AIDE_FROM" "cd $(sq "$ep_dir") && tar -cf - $qinclude"; fi
}

endpoint "$AIDE_TO"; to_dir="$ep_dir"; to_host="$ep_host"
want="$(from_sum)" || die "cannot read the source $AIDE_FROM"
[ "$want" != "$(printf '' | sha256sum | cut -d' ' -f1)" ] || die "the source $AIDE_FROM has none of: $include"
if [ "$want" = "$(to_sum)" ]; then
  unchanged "$to_host:$to_dir ($include)"
else
  pack | on "$AIDE_TO" "mkdir -p $(sq "$to_dir") && tar -xf - -C $(sq "$to_dir")" \
    || die "copying $include from $AIDE_FROM to $AIDE_TO failed"
  [ "$want" = "$(to_sum)" ] || die "the copy on $to_host:$to_dir differs from the source after copying"
  changed "copied $include to $to_host:$to_dir"
fi
if [ -n "${AIDE_SHA256:-}" ]; then
  endpoint "$AIDE_TO"
  on "$AIDE_TO" "cd $(sq "$ep_dir") && for f in $qinclude; do echo $(sq "$AIDE_SHA256")'  '\"\$f\"; done | sha256sum --quiet -c -" \
    || die "$include on $to_host does not have sha256 $AIDE_SHA256"
  say "sha256 checked on $to_host"
fi
finish
