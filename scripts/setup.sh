#!/usr/bin/env bash
# Installs what building and testing Woolly needs on a fresh Debian machine. Idempotent:
# each step checks first and says what it does.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

# Python tools used by tests: the reference GGUF dequantizer.
if ! python3 -c 'import gguf, numpy' 2>/dev/null; then
  say "installing Python test dependencies (gguf, numpy)"
  python3 -m pip install --quiet --disable-pip-version-check gguf==0.19.0 numpy
fi

./scripts/fetch-test-model.sh
