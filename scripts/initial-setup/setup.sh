#!/usr/bin/env bash
# Aide initial setup for one freshly installed Debian 12 desktop (seed §2.2): hostname,
# static IP (ifupdown or systemd-networkd, whichever the install has), SSH server, and
# optionally the control node's key. Every value in setup.conf is checked before
# anything is touched; setup.conf is parsed, never executed.
#
#   sudo ./setup.sh [--config FILE] [--dry-run] [--root DIR]
#
#   --config   the settings file (default: setup.conf beside this script)
#   --dry-run  print what would change (with diffs) and change nothing
#   --root     treat DIR as / (files only; package, service and hostname commands are
#              printed, not run) — for testing, or preparing a mounted disk
# Idempotent: a second run prints "setup: no changes".
set -euo pipefail
# `... | put FILE` must run put in this shell so its change count is kept.
shopt -s lastpipe

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
conf="$here/setup.conf"
root=""
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --config) conf="${2:?--config needs a file}"; shift 2 ;;
    --root) root="${2:?--root needs a directory}"; root="${root%/}"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -f "$conf" ] || { echo "setup: settings file '$conf' not found — copy setup.conf next to setup.sh or pass --config" >&2; exit 2; }
if [ -n "$root" ] && [ ! -d "$root" ]; then echo "setup: --root '$root' is not a directory" >&2; exit 2; fi
if [ -z "$root" ] && [ "$dry" = 0 ] && [ "$(id -u)" != 0 ]; then echo "setup: run as root (sudo ./setup.sh), or try --dry-run first" >&2; exit 2; fi

# ---- read and check every value before touching anything ----------------------------
KNOWN="HOSTNAME STATIC_IP NETMASK GATEWAY INTERFACE DNS SSH_AUTHORIZED_KEY"
declare -A cfg=()
problems=()
n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1)); line="${line%$'\r'}"
  [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
  if [[ "$line" =~ ^([A-Z_]+)=(.*)$ ]]; then
    key="${BASH_REMATCH[1]}" val="${BASH_REMATCH[2]}"
    if [[ "$val" =~ ^\"(.*)\"$ ]] || [[ "$val" =~ ^\'(.*)\'$ ]]; then val="${BASH_REMATCH[1]}"; fi
    if [[ " $KNOWN " == *" $key "* ]]; then cfg[$key]="$val"
    else problems+=("$conf line $n: unknown setting '$key' — the settings are: $KNOWN"); fi
  else
    problems+=("$conf line $n: '$line' is not KEY=value — write it like HOSTNAME=aide-01")
  fi
done < "$conf"

ipv4() { # valid dotted quad?
  [[ "$1" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]] || return 1
  local o; for o in "${BASH_REMATCH[@]:1}"; do [ "$((10#$o))" -le 255 ] || return 1; done
}
to_int() { local IFS=.; set -- $1; echo $(( ($1 << 24) + ($2 << 16) + ($3 << 8) + $4 )); }
need() { # KEY what example
  if [ -z "${cfg[$1]:-}" ]; then problems+=("$1 is missing ($2) — add a line $1=$3 to $conf"); return 1; fi
}

hostname="${cfg[HOSTNAME]:-}" ip="${cfg[STATIC_IP]:-}" mask="${cfg[NETMASK]:-}" gw="${cfg[GATEWAY]:-}" ifc="${cfg[INTERFACE]:-}"
dns="${cfg[DNS]:-}" key="${cfg[SSH_AUTHORIZED_KEY]:-}"
if need HOSTNAME "this node's name in the Pulumi stack" aide-01 && ! [[ "$hostname" =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]]; then
  problems+=("HOSTNAME '$hostname' is not a hostname (lowercase letters, digits and '-') — e.g. HOSTNAME=aide-01")
fi
ip_ok=0
if need STATIC_IP "the node's fixed LAN address" 192.168.1.101; then
  if ipv4 "$ip"; then ip_ok=1; else problems+=("STATIC_IP '$ip' is not an IPv4 address — e.g. STATIC_IP=192.168.1.101"); fi
fi
prefix=""
if need NETMASK "255.255.255.0 or 24" 255.255.255.0; then
  if [[ "$mask" =~ ^/?([0-9]{1,2})$ ]] && [ "${BASH_REMATCH[1]}" -ge 8 ] && [ "${BASH_REMATCH[1]}" -le 30 ]; then prefix="${BASH_REMATCH[1]}"
  elif ipv4 "$mask"; then
    m=$(to_int "$mask"); p=0
    while [ $p -lt 32 ] && [ $(( (m >> (31 - p)) & 1 )) = 1 ]; do p=$((p + 1)); done
    if [ $(( m & ((1 << (32 - p)) - 1) )) = 0 ] && [ $p -ge 8 ] && [ $p -le 30 ]; then prefix=$p; fi
  fi
  [ -n "$prefix" ] || problems+=("NETMASK '$mask' is not a netmask from /8 to /30 — e.g. NETMASK=255.255.255.0 (or 24)")
fi
if need GATEWAY "the LAN router's address" 192.168.1.1; then
  if ! ipv4 "$gw"; then problems+=("GATEWAY '$gw' is not an IPv4 address — e.g. GATEWAY=192.168.1.1")
  elif [ "$ip_ok" = 1 ] && [ -n "$prefix" ]; then
    net=$(( 0xFFFFFFFF << (32 - prefix) & 0xFFFFFFFF ))
    if [ $(( $(to_int "$ip") & net )) != $(( $(to_int "$gw") & net )) ]; then
      problems+=("GATEWAY $gw is not in $ip/$prefix — the router must be on the node's own subnet; check STATIC_IP, NETMASK and GATEWAY")
    elif [ "$gw" = "$ip" ]; then
      problems+=("GATEWAY $gw is the node's own STATIC_IP — set GATEWAY to the router's address")
    fi
  fi
fi
if need INTERFACE "the wired interface, see: ip -br link" enp3s0; then
  if ! [[ "$ifc" =~ ^[A-Za-z0-9_.-]{1,15}$ ]]; then problems+=("INTERFACE '$ifc' is not an interface name — see: ip -br link")
  elif [ ! -e "$root/sys/class/net/$ifc" ]; then
    have="$(ls "$root/sys/class/net" 2>/dev/null | grep -vx lo | tr '\n' ' ' || true)"
    problems+=("INTERFACE '$ifc' does not exist on this machine — it has: ${have:-none}(see: ip -br link)")
  fi
fi
dns="${dns:-$gw}"
for d in $dns; do ipv4 "$d" || problems+=("DNS '$d' is not an IPv4 address — e.g. DNS=192.168.1.1 (or leave it empty to use the gateway)"); done
if [ -n "$key" ] && ! [[ "$key" =~ ^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521))\ [A-Za-z0-9+/=]+(\ [^[:cntrl:]]*)?$ ]]; then
  problems+=("SSH_AUTHORIZED_KEY is not one OpenSSH public key line — paste the output of: cat ~/.ssh/id_ed25519.pub")
fi

if [ -e "$root/etc/network/interfaces" ] && { [ -x "$root/sbin/ifup" ] || [ -x "$root/usr/sbin/ifup" ] || grep -q "^iface" "$root/etc/network/interfaces"; }; then
  netstack=ifupdown
elif [ -d "$root/etc/systemd/network" ]; then
  netstack=networkd
else
  problems+=("this machine has neither ifupdown (/etc/network/interfaces) nor systemd-networkd (/etc/systemd/network) — install one: apt-get install ifupdown")
fi

if [ ${#problems[@]} -gt 0 ]; then
  echo "setup: nothing was changed; fix these in $conf first:" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 2
fi

# ---- apply ---------------------------------------------------------------------------
changes=0
say() { echo "setup: $*"; }
# put FILE MODE < content — writes only on a difference; keeps the first original as FILE.aide-orig.
put() {
  local f="$root$1" mode="$2" tmp; tmp="$(mktemp)"; cat > "$tmp"
  if [ -f "$f" ] && cmp -s "$tmp" "$f"; then rm -f "$tmp"; say "unchanged: $1"; return 0; fi
  changes=$((changes + 1))
  if [ "$dry" = 1 ]; then
    say "would change: $1"; diff -u --label "$1" --label "$1 (new)" "$f" "$tmp" 2>/dev/null | sed 's/^/    /' || true
    rm -f "$tmp"; return 0
  fi
  mkdir -p "$(dirname "$f")"
  if [ -f "$f" ] && [ ! -e "$f.aide-orig" ]; then cp -p "$f" "$f.aide-orig"; fi
  chmod "$mode" "$tmp"; mv -f "$tmp" "$f"
  say "changed: $1"
}
# run CMD... — only on the real machine, never with --root or --dry-run.
run() {
  if [ "$dry" = 1 ] || [ -n "$root" ]; then say "would run: $*"; else "$@"; fi
}

# Hostname.
printf '%s\n' "$hostname" | put /etc/hostname 644
{ grep -v '^127\.0\.1\.1[[:space:]]' "$root/etc/hosts" 2>/dev/null || true; printf '127.0.1.1\t%s\n' "$hostname"; } | put /etc/hosts 644
if [ "$(hostname 2>/dev/null)" != "$hostname" ]; then run hostname "$hostname"; fi

# Static address, in the network stack this install uses.
if [ "$netstack" = ifupdown ]; then
  {
    # Everything else stays; this interface's old stanza (the installer's dhcp) goes.
    awk -v ifc="$ifc" '
      /^# Aide static address/ { next }
      $1 == "auto" || $1 == "allow-hotplug" {
        out = $1; kept = 0
        for (i = 2; i <= NF; i++) if ($i != ifc) { out = out " " $i; kept++ }
        if (kept > 0) print out
        skip = 0; next
      }
      $1 == "iface" { skip = ($2 == ifc); if (!skip) print; next }
      skip && /^[ \t]/ { next }
      { skip = 0; print }
    ' "$root/etc/network/interfaces"
    echo "# Aide static address (scripts/initial-setup/setup.sh)"
    echo "auto $ifc"
    echo "iface $ifc inet static"
    echo "    address $ip/$prefix"
    echo "    gateway $gw"
  } | put /etc/network/interfaces 644
  apply_net="ifdown $ifc; ifup $ifc"
else
  put "/etc/systemd/network/10-aide-$ifc.network" 644 <<NET
# Aide static address (scripts/initial-setup/setup.sh)
[Match]
Name=$ifc

[Network]
Address=$ip/$prefix
Gateway=$gw
$(for d in $dns; do echo "DNS=$d"; done)
NET
  run systemctl enable systemd-networkd
  apply_net="systemctl restart systemd-networkd"
fi
{ for d in $dns; do echo "nameserver $d"; done; } | put /etc/resolv.conf 644

# SSH server, so pulumi can reach the node.
if [ ! -x "$root/usr/sbin/sshd" ]; then
  changes=$((changes + 1)); run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-server
fi
run systemctl enable --now ssh
if [ -n "$key" ]; then
  keys="$root/root/.ssh/authorized_keys"
  if [ -f "$keys" ] && grep -qxF "$key" "$keys"; then say "unchanged: /root/.ssh/authorized_keys"
  else { cat "$keys" 2>/dev/null || true; printf '%s\n' "$key"; } | put /root/.ssh/authorized_keys 600
    [ "$dry" = 1 ] || chmod 700 "$root/root/.ssh"
  fi
fi

if [ "$dry" = 1 ]; then say "dry run: $changes change(s) would be made; nothing was written"
elif [ "$changes" = 0 ]; then say "no changes"
else say "$changes change(s) — the new address takes effect after a reboot or: $apply_net"; fi
