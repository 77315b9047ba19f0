# facts: what this desktop is, read before anything changes; refuses a node Aide cannot use.
cpu_model="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
cpu_flags="$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
cores="$(grep -c '^processor' /proc/cpuinfo)"
ram_mb="$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"
mkdir -p "$R/var/lib"
disk_free_mb="$(df -Pm "$R/var/lib" | awk 'NR == 2 { print $4 }')"
debian="$(cat "$R/etc/debian_version" 2>/dev/null || echo unknown)"
host="$(cat "$R/etc/hostname" 2>/dev/null || hostname)"

case "$debian" in
  12|12.*|bookworm*) ;;
  *) die "this is not Debian 12 (/etc/debian_version says '$debian'); Aide provisions Debian 12 (bookworm) only — install Debian 12 on it, then run scripts/initial-setup/setup.sh" ;;
esac
if [ "$disk_free_mb" -lt "${AIDE_MIN_DISK_MB:-20000}" ]; then
  die "only ${disk_free_mb} MB free under /var/lib; Aide needs ${AIDE_MIN_DISK_MB:-20000} MB for the builds, the model and swap — free some space or set aide:minDiskFreeMb"
fi

json_string() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037')"; }
flags_json="$(printf '%s\n' $cpu_flags | sed -e 's/.*/"&"/' | paste -sd, -)"
say "$op: no changes"
printf '{"hostname":%s,"cpuModel":%s,"cpuFlags":[%s],"cores":%d,"ramMb":%d,"diskFreeMb":%d,"debianVersion":%s}\n' \
  "$(json_string "$host")" "$(json_string "$cpu_model")" "$flags_json" "$cores" "$ram_mb" "$disk_free_mb" "$(json_string "$debian")"
