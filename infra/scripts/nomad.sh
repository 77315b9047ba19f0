# nomad: the pinned Nomad release, its config (server or client, gossip encrypted, node
# meta for placement) and its systemd unit. The gossip key is never printed.
bin=/usr/local/bin/nomad
zip="/var/cache/aide/nomad_${AIDE_NOMAD_VERSION:?}_linux_amd64.zip"
unit=/etc/systemd/system/nomad.service

if [ "$op" = delete ]; then
  if [ -f "$R$unit" ]; then
    live systemctl stop nomad.service || true
    sys systemctl disable nomad.service >/dev/null 2>&1 || true
  fi
  remove_path "$unit" /etc/nomad.d "$bin" "$zip" /var/lib/nomad
  live systemctl daemon-reload
  finish; exit 0
fi

for port in "${AIDE_NOMAD_MIN_DYNAMIC_PORT:?}" "${AIDE_NOMAD_MAX_DYNAMIC_PORT:?}"; do
  [[ "$port" =~ ^[0-9]+$ ]] || die "dynamic port '$port' is not a number"
done
fetch_verified "$AIDE_NOMAD_URL" "$AIDE_NOMAD_SHA256" "$zip"
for old in "$R"/var/cache/aide/nomad_*_linux_amd64.zip; do
  if [ -e "$old" ] && [ "$old" != "$R$zip" ]; then rm -f -- "$old"; changed "removed the replaced ${old#"$R"}"; fi
done
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
unzip -q -o "$R$zip" nomad -d "$tmp" || die "$zip has no 'nomad' binary in it"
restart=0
if cmp -s "$tmp/nomad" "$R$bin"; then unchanged "$bin"; else
  mkdir -p "$R$(dirname "$bin")"; install -m 0755 "$tmp/nomad" "$R$bin.tmp"; mv -f "$R$bin.tmp" "$R$bin"
  changed "$bin $AIDE_NOMAD_VERSION"; restart=1
fi

hcl() { # one HCL string literal
  printf '"%s"' "$(printf '%s' "$1" | sed -z -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\n/\\n/g' -e 's/\${/$${/g' -e 's/%{/%%{/g')"
}
join_servers() { local a out=""; for a in $AIDE_NOMAD_SERVERS; do out="$out${out:+, }$(hcl "$a")"; done; printf '%s' "$out"; }

{
  echo "# Written by Aide (infra/scripts/nomad.sh); pulumi up rewrites it."
  echo "name       = $(hcl "$AIDE_NODE")"
  echo "datacenter = $(hcl "$AIDE_NOMAD_DATACENTER")"
  echo "data_dir   = \"/var/lib/nomad\""
  echo "bind_addr  = \"0.0.0.0\""
  echo "advertise {"
  echo "  http = $(hcl "$AIDE_ADDRESS")"
  echo "  rpc  = $(hcl "$AIDE_ADDRESS")"
  echo "  serf = $(hcl "$AIDE_ADDRESS")"
  echo "}"
  if [ "$AIDE_NOMAD_SERVER" = true ]; then
    echo "server {"
    echo "  enabled          = true"
    echo "  bootstrap_expect = 3"
    echo "  encrypt          = $(hcl "$AIDE_NOMAD_GOSSIP_KEY")"
    echo "  server_join { retry_join = [$(join_servers)] }"
    # Lets a task grow past its reservation up to its MemoryMaxMB: the llama-bench RPC
    # worker reserves little while idle and takes its layers' size only while a bench runs.
    echo "  default_scheduler_config { memory_oversubscription_enabled = true }"
    echo "}"
  fi
  echo "client {"
  echo "  enabled = true"
  echo "  min_dynamic_port = $AIDE_NOMAD_MIN_DYNAMIC_PORT"
  echo "  max_dynamic_port = $AIDE_NOMAD_MAX_DYNAMIC_PORT"
  echo "  servers = [$(join_servers)]"
  echo "  meta {"
  echo "    \"aide.role\"      = $(hcl "$AIDE_META_ROLE")"
  echo "    \"aide.webcam\"    = $(hcl "$AIDE_META_WEBCAM")"
  echo "    \"aide.cpu_flags\" = $(hcl "$AIDE_META_CPU_FLAGS")"
  echo "    \"aide.ram_mb\"    = $(hcl "$AIDE_META_RAM_MB")"
  echo "    \"aide.cores\"     = $(hcl "$AIDE_META_CORES")"
  echo "  }"
  echo "}"
  # raw_exec runs the engines Aide built under /opt/aide (no container runtime on the nodes).
  # Every task names its user (aide, nomad-jobs/common.ts); root is refused outright, so a
  # task that forgot its User fails to start instead of running as root.
  echo "plugin \"raw_exec\" {"
  echo "  config {"
  echo "    enabled          = true"
  echo "    denied_host_uids = \"0\""
  echo "    denied_host_gids = \"0\""
  echo "  }"
  echo "}"
} | put_file /etc/nomad.d/nomad.hcl 640
[ "$file_changed" = 1 ] && restart=1

put_file "$unit" 644 <<'UNIT'
[Unit]
Description=Nomad agent (Aide)
Wants=network-online.target
After=network-online.target
[Service]
ExecStart=/usr/local/bin/nomad agent -config=/etc/nomad.d
ExecReload=/bin/kill -HUP $MAINPID
KillMode=process
Restart=on-failure
RestartSec=5
LimitNOFILE=65536
[Install]
WantedBy=multi-user.target
UNIT
[ "$file_changed" = 1 ] && restart=1

if ! sys systemctl is-enabled nomad.service >/dev/null 2>&1; then
  sys systemctl enable nomad.service >/dev/null 2>&1 || true; changed "enabled nomad.service"
fi
if [ "$restart" = 1 ]; then live systemctl daemon-reload; live systemctl restart nomad.service; fi
finish
