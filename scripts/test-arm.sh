#!/usr/bin/env bash
# The ARM (AArch64) build checked on an x86 machine: cross-builds the kernel crate's tests and
# the CLI with Debian's Rust and runs them under qemu-user, on three emulated CPUs so every
# NEON variant runs: `max` (dotprod + i8mm), `neoverse-n1` (dotprod, no i8mm), `cortex-a72`
# (plain NEON); each variant must equal the portable kernels bit for bit. Then the emulated
# CLI's greedy tokens and first-token logits on the test model's reference prompts must equal
# the x86 build's portable tier exactly (the NEON kernels reproduce the portable ones).
#
# Toolchain: rustc-web and cargo-web (Debian's current Rust) with the arm64 standard library, gcc as the
# linker, qemu-user-static; the arm64 C library comes with the standard library's package
# (multiarch), so qemu runs the binaries against `/` (`-L /`).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1mtest-arm:\033[0m %s\n' "$*"; }

X86_WOOLLY="${X86_WOOLLY:-${CARGO_TARGET_DIR:-$HOME/.cache/woolly/target}/release/woolly}"
MODEL="${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
TARGET=aarch64-unknown-linux-gnu
CPUS=(max neoverse-n1 cortex-a72)

SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  say "adding Debian's arm64 architecture (for the arm64 standard library and C library)"
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
fi
PACKAGES=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's cargo and rustc (the rustup toolchain here has no arm64 standard library), with a
# build cache of their own outside the clone.
export RUSTC=/usr/bin/rustc
export CARGO_TARGET_DIR="$HOME/.cache/woolly/target-arm"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
CARGO=/usr/bin/cargo
say "$($RUSTC --version), $(qemu-aarch64-static --version | head -1)"

say "cross-building the kernel crate's tests and the CLI for $TARGET"
$CARGO build --release --locked --target $TARGET -p woolly-quant --lib --tests
$CARGO build --release --locked --target $TARGET -p woolly-cli
ARM_WOOLLY="$CARGO_TARGET_DIR/$TARGET/release/woolly"

log=$(mktemp)
for cpu in "${CPUS[@]}"; do
  say "kernel tests on an emulated $cpu"
  if ! CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -cpu $cpu -L /" \
    $CARGO test --release --locked --target $TARGET -p woolly-quant --lib --tests -- --nocapture >"$log" 2>&1; then
    cat "$log" >&2
    echo "test-arm: kernel tests failed on $cpu" >&2
    exit 1
  fi
  grep -E "NEON variants tested|test result" "$log"
done
rm -f "$log"

[ -x "$X86_WOOLLY" ] || { echo "test-arm: no x86 build at $X86_WOOLLY (make build)" >&2; exit 1; }
say "greedy tokens of the emulated CLI against the x86 build's ($MODEL)"
# i8mm/sdot and plain NEON (the dotprod-only CPU's kernels equal both, bit for bit, above).
python3 scripts/arm_generate.py --x86 "$X86_WOOLLY" --arm "$ARM_WOOLLY" --model "$MODEL" \
  --refdata tests/refdata/smollm2-greedy.json --cpus max cortex-a72
