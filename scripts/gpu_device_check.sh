#!/usr/bin/env bash
# The GPU numbers on a borrowed GPU machine that has no Rust toolchain and no models:
#   scripts/gpu_device_check.sh pack   here: a stripped `woolly` and a tiny model carrying
#                                      the test model's vocabulary into models/device/
#                                      (about 50 MB, under the device tool's carry limit)
#   scripts/gpu_device_check.sh run    there: the adapter, its read bandwidth, and `woolly
#                                      bench --device gpu` on the yardstick shapes in Q4_K_M,
#                                      synthesized on the spot (JSON into $OUT when set;
#                                      PRESETS="llama-3.2-1b" picks shapes)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=models/device

case "${1:-}" in
pack)
    TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/woolly/target}
    cargo build --release --workspace
    mkdir -p "$DIR"
    strip -o "$DIR/woolly" "$TARGET/release/woolly"
    "$DIR/woolly" synth --preset tiny --quant q4_0 -o "$DIR/vocab.gguf" \
        --vocab-from models/SmolLM2-135M-Instruct.Q4_1.gguf
    du -sh "$DIR"
    ;;
run)
    W=$DIR/woolly
    OUT=${OUT:-$(mktemp -d)}
    "$W" info
    "$W" membw --device gpu --json | tee "$OUT/membw.json"
    for preset in ${PRESETS:-llama-3.2-1b llama-3.2-3b llama-3.1-8b}; do
        model=$DIR/$preset.q4_k_m.gguf
        [ -f "$model" ] || "$W" synth --preset "$preset" --quant q4_k_m -o "$model" \
            --vocab-from "$DIR/vocab.gguf"
        for device in gpu auto; do
            "$W" bench -m "$model" --device "$device" -p 512 -n 128 --json \
                | tee "$OUT/$preset.$device.json"
        done
    done
    ;;
*)
    sed -n '2,9p' "$0"
    exit 2
    ;;
esac
