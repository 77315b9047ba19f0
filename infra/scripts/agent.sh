# agent: the voice agent package copied from the control node (relay.sh puts it in
# <dir>.incoming), installed with the node's Node.js. Nomad runs it.
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
# ts-node compiles the agent on the node; without a tsconfig it assumes NodeNext and
# refuses. These are the checkout's own compiler options (tsconfig.json), minus its
# test-only types and folders.
cat > "$R$dir.new/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "node16",
    "moduleResolution": "node16",
    "lib": ["ES2022", "DOM"],
    "strict": true,
    "esModuleInterop": true,
    "skipLibCheck": true,
    "resolveJsonModule": true,
    "types": ["node"]
  }
}
JSON
if [ "${AIDE_NPM_INSTALL:-1}" = 1 ]; then
  # The job starts the agent with ts-node (AIDE_AGENT_RUNTIME: exact versions CI uses);
  # --ignore-scripts: onnxruntime-node's postinstall would fetch CUDA libraries.
  read -r -a runtime <<< "${AIDE_AGENT_RUNTIME:-}"
  (cd "$R$dir.new" && PATH="$R/opt/aide/node/bin:$PATH" npm install --omit=dev --no-audit --no-fund --ignore-scripts --no-save "${runtime[@]}" >/dev/null) \
    || die "npm install of the agent failed in $dir.new — does the node reach the npm registry?"
fi
printf '%s' "$AIDE_STAMP" > "$R$dir.new/.aide-stamp"
rm -rf "$R$dir"; mv "$R$dir.new" "$R$dir"
changed "agent $AIDE_STAMP installed in $dir"
finish
