# nomad-ready: waits (bounded) until the servers have a leader and every client is ready.
# Uses the binary the nomad step installed, against the local agent's HTTP API.
[ "$op" = delete ] && { finish; exit 0; }
nomad="$R/usr/local/bin/nomad"
[ -x "$nomad" ] || die "$nomad is missing — the nomad step installs it"
deadline=$(( $(date +%s) + ${AIDE_TIMEOUT_S:-300} ))
while :; do
  members="$("$nomad" server members 2>/dev/null || true)"
  servers="$(awk 'NR > 1 && $4 == "alive"' <<< "$members" | wc -l)"
  leaders="$(awk 'NR > 1 && $4 == "alive" && $5 == "true"' <<< "$members" | wc -l)"
  clients="$("$nomad" node status 2>/dev/null | awk 'NR > 1 && $NF == "ready"' | wc -l || true)"
  if [ "$servers" -ge "$AIDE_EXPECT_SERVERS" ] && [ "$leaders" = 1 ] && [ "$clients" -ge "$AIDE_EXPECT_CLIENTS" ]; then
    say "$servers servers alive with a leader, $clients clients ready"; finish; exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    die "after ${AIDE_TIMEOUT_S:-300}s $servers/$AIDE_EXPECT_SERVERS Nomad servers are alive ($leaders leader) and $clients/$AIDE_EXPECT_CLIENTS clients ready — on each node: journalctl -u nomad -n 50 (a firewall or a gossip key mismatch are the usual causes)"
  fi
  sleep "${AIDE_POLL_S:-5}"
done
