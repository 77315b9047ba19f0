# nomad-ready: waits (bounded) until the servers have a leader and every client is ready.
[ "$op" = delete ] && { finish; exit 0; }
deadline=$(( $(date +%s) + ${AIDE_TIMEOUT_S:-300} ))
while :; do
  servers="$(nomad server members 2>/dev/null | grep -c ' alive ' || true)"
  clients="$(nomad node status 2>/dev/null | grep -c ' ready' || true)"
  if [ "$servers" -ge "$AIDE_EXPECT_SERVERS" ] && [ "$clients" -ge "$AIDE_EXPECT_CLIENTS" ]; then
    say "$servers servers alive, $clients clients ready"; finish; exit 0
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    die "after ${AIDE_TIMEOUT_S:-300}s only $servers/$AIDE_EXPECT_SERVERS Nomad servers are alive and $clients/$AIDE_EXPECT_CLIENTS clients ready — on each node: journalctl -u nomad -n 50 (firewall or gossip key mismatch are the usual causes)"
  fi
  sleep 5
done
