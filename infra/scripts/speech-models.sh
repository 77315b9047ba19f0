# speech-models: the STT/TTS/VAD (and YOLO) models relay.sh copied from the control
# node into the models directory, beside the LLM's file. Here: check them, and on delete
# remove them (the manifest and the role folders it copied).
dir="${AIDE_MODEL_DIR:?}"
mapfile -t parts <<< "${AIDE_INCLUDE:-}"

if [ "$op" = delete ]; then
  for p in "${parts[@]}"; do
    [ -n "$p" ] || continue
    case "$p" in */*|..|.) die "refusing to remove '$p' from $dir: not a top-level name" ;; esac
    remove_path "$dir/$p"
  done
  rmdir "$R$dir" 2>/dev/null && changed "removed empty $dir" || true
  finish; exit 0
fi

if [ -z "${AIDE_INCLUDE:-}" ]; then
  say "no speech models on the control node: run 'npm run models -- download --only stt,tts,vad' there, then pulumi up"
  finish; exit 0
fi
for p in "${parts[@]}"; do
  [ -e "$R$dir/$p" ] || die "$dir/$p is missing — the copy from the control node did not arrive"
done
unchanged "speech models in $dir (${parts[*]})"
finish
