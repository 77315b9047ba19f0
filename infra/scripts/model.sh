# model: the GGUF file. The first server downloads it (checksum pinned); the others
# receive a copy (relay.sh) and verify the same checksum here.
file="${AIDE_MODEL_DIR:?}/${AIDE_MODEL_NAME:?}"

if [ "$op" = delete ]; then
  remove_path "$file"
  rmdir "$R$AIDE_MODEL_DIR" 2>/dev/null && changed "removed empty $AIDE_MODEL_DIR" || true
  finish; exit 0
fi

# A model switch leaves nothing of the old one (top-level .gguf files are the LLM's only;
# speech models live in role folders beside them).
for old in "$R$AIDE_MODEL_DIR"/*.gguf; do
  if [ -e "$old" ] && [ "$old" != "$R$file" ]; then rm -f -- "$old"; changed "removed the replaced ${old#"$R"}"; fi
done
if [ "${AIDE_ROLE:?}" = download ]; then
  fetch_verified "$AIDE_MODEL_URL" "$AIDE_MODEL_SHA256" "$file"
else
  [ -f "$R$file" ] || die "$file is missing — the copy from the first server did not arrive"
  got="$(sha256sum "$R$file" | cut -d' ' -f1)"
  [ "$got" = "$AIDE_MODEL_SHA256" ] || die "$file has sha256 $got, expected $AIDE_MODEL_SHA256 — a damaged copy; pulumi up copies it again after: pulumi state delete or rm the file"
  unchanged "$file (sha256 ok)"
fi
finish
