#!/usr/bin/env bash
# End-to-end test of the desktop app: builds what it needs, then runs run.py under Xvfb.
# tauri-driver is installed once into a cache outside the clone.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/woolly/target}"
TOOLS="${WOOLLY_TOOLS_DIR:-$HOME/.cache/woolly/tools}"
export TAURI_DRIVER="${TAURI_DRIVER:-$TOOLS/bin/tauri-driver}"
if [ ! -x "$TAURI_DRIVER" ]; then
  echo "e2e: installing tauri-driver into $TOOLS (once)"
  cargo install tauri-driver --locked --root "$TOOLS" --quiet
fi
[ -f ui/dist/index.html ] || npm --prefix ui run build
cargo build --release --workspace
exec python3 src-tauri/tests/e2e/run.py
