# agent: the voice agent package copied from the control node (relay.sh puts it in
# <dir>.incoming): package.json and dist/, its JavaScript as scripts/build-agent.ts
# compiled it there. Its dependencies are installed with the node's Node.js; no compiler:
# Nomad runs `node dist/main.js`.
dir="${AIDE_AGENT_DIR:?}"

if [ "$op" = delete ]; then
  remove_path "$dir" "$dir.incoming"
  finish; exit 0
fi

stamp="$R$dir/.aide-stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${AIDE_STAMP:?}" ]; then
  unchanged "$dir ($AIDE_STAMP)"; finish; exit 0
fi
[ -f "$R$dir.incoming/package.json" ] || die "$dir.incoming/package.json is missing — the agent copy did not arrive"
rm -rf "$R$dir.new"; cp -a "$R$dir.incoming" "$R$dir.new"
if [ "${AIDE_NPM_INSTALL:-1}" = 1 ]; then
  # --ignore-scripts: onnxruntime-node's postinstall would fetch CUDA libraries.
  (cd "$R$dir.new" && PATH="$R/opt/aide/node/bin:$PATH" npm install --omit=dev --no-audit --no-fund --ignore-scripts --no-save >/dev/null) \
    || die "npm install of the agent failed in $dir.new — does the node reach the npm registry?"
fi
printf '%s' "$AIDE_STAMP" > "$R$dir.new/.aide-stamp"
rm -rf "$R$dir"; mv "$R$dir.new" "$R$dir"
changed "agent $AIDE_STAMP installed in $dir"
finish
