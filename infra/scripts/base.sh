# base: the packages every later step needs, time sync, the CPU governor and swap.
# delete purges only the packages this step installed and removes its files.
state_dir=/var/lib/aide
pkg_list="$state_dir/base-packages.list"
swap_file="$state_dir/swapfile"
# 8 GB desktops: swap lets a model that barely fits page out the rest instead of OOM.
swap_mb="${AIDE_SWAP_MB:-4096}"
[[ "$swap_mb" =~ ^[0-9]+$ ]] || die "swap size '$swap_mb' is not a number of MB"
read -r -a packages <<< "${AIDE_PACKAGES:-curl ca-certificates unzip xz-utils git cmake build-essential nftables systemd-timesyncd}"
# The unprivileged user every Aide task runs as (Nomad raw_exec `User`): no login, no
# password, owning only Aide's state (its home, the agent's TLS files and memory).
task_user=aide
task_home="$state_dir/home"
# What the tasks write, and nothing else: its home, llama.cpp RPC workers' tensor cache
# (nomad-jobs/llamacpp-rpc.ts), the agent's long-term memory.
task_dirs=("$task_home" "$state_dir/llama-rpc-cache" "$state_dir/memory")
has_user() { grep -q "^$task_user:" "$R/etc/passwd" 2>/dev/null; }

installed() { sys dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }

if [ "$op" = delete ]; then
  if [ -f "$R$swap_file" ]; then live swapoff "$swap_file" 2>/dev/null || true; fi
  if [ -f "$R/etc/fstab" ] && grep -q ' # aide-swap$' "$R/etc/fstab"; then
    sed -i '/ # aide-swap$/d' "$R/etc/fstab"; changed "removed the swap line from /etc/fstab"
  fi
  remove_path "$swap_file"
  if [ -f "$R/etc/systemd/system/aide-cpu-governor.service" ]; then
    sys systemctl disable aide-cpu-governor.service >/dev/null 2>&1 || true
  fi
  remove_path /etc/systemd/system/aide-cpu-governor.service
  if [ -s "$R$pkg_list" ]; then
    mapfile -t ours < "$R$pkg_list"
    sys env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${ours[@]}" >/dev/null
    changed "purged packages this step installed: ${ours[*]}"
  fi
  remove_path "$pkg_list"
  if has_user; then sys userdel "$task_user"; changed "removed the system user $task_user"; else unchanged "no system user $task_user"; fi
  remove_path "${task_dirs[@]}"
  # base is the last step destroyed: the directories every step shared go when empty.
  for d in /opt/aide /var/cache/aide /var/lib/aide; do
    if [ -d "$R$d" ] && [ -z "$(find "$R$d" -mindepth 1 -not -type d -print -quit)" ]; then rm -r "${R}$d"; changed "removed empty $d"; fi
  done
  finish; exit 0
fi

# Packages: install what is missing and remember every package that arrived with them
# (dependencies too), so delete can purge exactly those.
installed_list() { sys dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' 2>/dev/null | awk '/^ii/ { print substr($0, 4) }' | sort; }
missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  before="$(installed_list)"
  sys env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 \
    || say "apt-get update failed; installing from the package lists already on the node"
  sys env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get could not install ${missing[*]} — check the node's apt sources and network"
  mkdir -p "$R$state_dir"
  comm -13 <(printf '%s\n' "$before") <(installed_list) >> "$R$pkg_list"
  changed "installed ${missing[*]} ($(wc -l < "$R$pkg_list") packages with dependencies)"
else
  unchanged "packages ${packages[*]}"
fi

if has_user; then
  unchanged "system user $task_user"
elif [ -z "$R" ] || [ "${AIDE_CHROOT:-0}" = 1 ]; then
  sys useradd --system --user-group --home-dir "$task_home" --no-create-home --shell /usr/sbin/nologin --comment "Aide tasks" "$task_user"
  changed "system user $task_user (no login)"
else
  say "not run outside a chroot: useradd $task_user"
fi
# The vision task reads the webcam (/dev/video*, group video).
if has_user && grep -q '^video:' "$R/etc/group" && ! grep -Eq "^video:[^:]*:[^:]*:(.*,)?$task_user(,|$)" "$R/etc/group"; then
  sys usermod -a -G video "$task_user"
  changed "$task_user in group video (the webcam)"
fi
for d in "${task_dirs[@]}"; do
  if [ ! -d "$R$d" ] && has_user; then
    mkdir -p "$R$d"; chmod 700 "$R$d"
    sys chown "$task_user:$task_user" "$d"
    changed "$d (0700, $task_user's)"
  fi
done

# Time sync: Nomad's Raft and TLS need clocks that agree.
if ! sys systemctl is-enabled systemd-timesyncd >/dev/null 2>&1; then
  sys systemctl enable systemd-timesyncd >/dev/null 2>&1 && changed "enabled systemd-timesyncd"
else
  unchanged "systemd-timesyncd enabled"
fi

# CPU governor: token generation is CPU-bound; ondemand leaves old CPUs at low clocks.
put_file /etc/systemd/system/aide-cpu-governor.service 644 <<'UNIT'
[Unit]
Description=Aide: performance CPU governor for LLM inference
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'for g in /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor; do [ -w "$g" ] && echo performance > "$g"; done; true'
RemainAfterExit=yes
[Install]
WantedBy=multi-user.target
UNIT
if [ "$file_changed" = 1 ]; then
  sys systemctl enable aide-cpu-governor.service >/dev/null 2>&1 || true
  live systemctl daemon-reload
  live systemctl restart aide-cpu-governor.service
fi

# Swap file of the planned size.
want_bytes=$((swap_mb * 1024 * 1024))
if [ -f "$R$swap_file" ] && [ "$(stat -c %s "$R$swap_file")" = "$want_bytes" ]; then
  unchanged "swap file ${swap_mb} MB"
else
  if [ -f "$R$swap_file" ]; then live swapoff "$swap_file" 2>/dev/null || true; fi
  mkdir -p "$R$state_dir"
  rm -f "$R$swap_file"
  fallocate -l "$want_bytes" "$R$swap_file" 2>/dev/null || dd if=/dev/zero of="$R$swap_file" bs=1M count="$swap_mb" status=none
  chmod 600 "$R$swap_file"
  mkswap "$R$swap_file" >/dev/null
  live swapon "$swap_file"
  changed "swap file ${swap_mb} MB"
fi
if ! grep -q ' # aide-swap$' "$R/etc/fstab" 2>/dev/null; then
  echo "$swap_file none swap sw 0 0 # aide-swap" >> "$R/etc/fstab"
  changed "swap line in /etc/fstab"
fi
finish
