# firewall: an nftables table of Aide's own. Nomad's ports and the engines' ports
# (prima.cpp ZeroMQ 9000+rank and 10000+rank; llama.cpp RPC and llama-server on Nomad's
# dynamic ports) accept only cluster addresses; Nomad's HTTP API also accepts the control node that runs pulumi. Everything
# else (SSH, the agent page) is left exactly as it was.
rules=/etc/aide/firewall.nft
unit=/etc/systemd/system/aide-firewall.service

if [ "$op" = delete ]; then
  if [ "$AIDE_LIVE" = 1 ] && nft list table inet aide >/dev/null 2>&1; then nft delete table inet aide; changed "removed nftables table inet aide"; fi
  if [ -f "$R$unit" ]; then sys systemctl disable aide-firewall.service >/dev/null 2>&1 || true; fi
  remove_path "$unit" "$rules"
  rmdir "$R/etc/aide" 2>/dev/null || true
  finish; exit 0
fi

addr_ok() { [[ "$1" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "'$1' is not an IPv4 address"; }
cluster=()
for a in ${AIDE_CLUSTER_ADDRESSES:?}; do addr_ok "$a"; cluster+=("$a"); done
# The control node is whoever runs this over SSH (pulumi's connection).
control="${AIDE_CONTROL_ADDRESS:-${SSH_CLIENT%% *}}"
api=("${cluster[@]}")
if [ -n "$control" ] && [[ "$control" =~ ^[0-9.]+$ ]]; then api+=("$control"); fi
tcp_ports="${AIDE_CLUSTER_TCP_PORTS:?}"
[[ "$tcp_ports" =~ ^[0-9,\ -]+$ ]] || die "cluster ports '$tcp_ports' must be numbers, ranges and commas"
join() { local IFS=,; echo "$*"; }

put_file "$rules" 644 <<NFT
# Written by Aide (infra/scripts/firewall.sh). Only drops; never opens anything.
table inet aide
delete table inet aide
table inet aide {
  set cluster { type ipv4_addr; elements = { $(join "${cluster[@]}") } }
  set nomad_api { type ipv4_addr; elements = { $(join "${api[@]}") } }
  chain input {
    type filter hook input priority -10; policy accept;
    iifname "lo" accept
    tcp dport 4646 ip saddr != @nomad_api drop
    tcp dport { $tcp_ports } ip saddr != @cluster drop
    udp dport 4648 ip saddr != @cluster drop
    meta nfproto ipv6 tcp dport { 4646, $tcp_ports } drop
    meta nfproto ipv6 udp dport 4648 drop
  }
}
NFT
rules_changed="$file_changed"
put_file "$unit" 644 <<UNIT
[Unit]
Description=Aide: cluster-only ports (nftables table inet aide)
Before=network-pre.target
Wants=network-pre.target
[Service]
Type=oneshot
ExecStart=/usr/sbin/nft -f $rules
ExecStop=/usr/sbin/nft delete table inet aide
RemainAfterExit=yes
[Install]
WantedBy=multi-user.target
UNIT
if ! sys systemctl is-enabled aide-firewall.service >/dev/null 2>&1; then
  sys systemctl enable aide-firewall.service >/dev/null 2>&1 || true
fi
if [ "$rules_changed" = 1 ] || { [ "$AIDE_LIVE" = 1 ] && ! nft list table inet aide >/dev/null 2>&1; }; then
  live nft -f "$R$rules"
  [ "$rules_changed" = 1 ] || changed "loaded nftables table inet aide"
else
  unchanged "nftables table inet aide loaded"
fi
finish
