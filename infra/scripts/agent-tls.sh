# agent-tls: the agent's https certificate and key, the household CA it offers to
# devices, and the pairing code, on the node the voice agent runs on. Readable by the
# agent's user alone (dir 0700, key and code 0600); the values arrive as quoted data.
dir="${AIDE_TLS_DIR:?}"
owner="${AIDE_OWNER:-aide}"
[[ "$owner" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "owner '$owner' is not a user name"

if [ "$op" = delete ]; then
  remove_path "$dir"
  finish; exit 0
fi

for v in AIDE_TLS_CERT AIDE_TLS_KEY AIDE_TLS_CA AIDE_PAIRING_CODE; do
  [ -n "${!v:-}" ] || die "$v is empty — pulumi up makes it (infra/household.ts)"
done
mkdir -p "$R$dir"
chmod 700 "$R$dir"
printf '%s' "$AIDE_TLS_CERT" | put_file "$dir/agent.pem" 644
printf '%s' "$AIDE_TLS_KEY" | put_file "$dir/agent-key.pem" 600
printf '%s' "$AIDE_TLS_CA" | put_file "$dir/ca.pem" 644
printf '%s\n' "$AIDE_PAIRING_CODE" | put_file "$dir/pairing-code" 600
# Owned by the user the agent's task runs as (base creates it); looked up in the node's
# (or the test root's) own user database.
uid="$(awk -F: -v u="$owner" '$1 == u { print $3 }' "$R/etc/passwd")"
gid="$(awk -F: -v u="$owner" '$1 == u { print $4 }' "$R/etc/passwd")"
[ -n "$uid" ] || die "user '$owner' does not exist — the base step creates it (run pulumi up again)"
if [ "$(stat -c %u:%g "$R$dir")" != "$uid:$gid" ] || [ -n "$(find "$R$dir" ! -uid "$uid" -print -quit)" ]; then
  chown -R "$uid:$gid" "$R$dir"; changed "$dir owned by $owner"
fi
finish
