//! Throughput of the matrix-vector kernels over a weight matrix larger than the caches,
//! row by row from the GGUF layout and over the packed 4-row layout, per instruction set:
//! `cargo build --release --workspace --examples`, then run
//! `$CARGO_TARGET_DIR/release/examples/kernel_bench` (a whole-workspace build reuses burn).

use std::time::Instant;
use woolly_core::quant::packed::{Isa, PackedMatrix};
use woolly_core::quant::{quantize_q8, vec_dot, vec_dot_portable, GgmlType, Q8Block, Q8_BLOCK};

fn main() {
    prefill();
    if std::env::args().any(|a| a == "--prefill") {
        return;
    }
    // A 1B model's width, a multiple of the K-quants' 256.
    let cols = 2048;
    for ty in TYPES {
        let row_bytes = cols / ty.block_size() * ty.type_size();
        let rows = (96 << 20) / row_bytes / 4 * 4;
        let w = weights(ty, rows * row_bytes);
        let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut xq = vec![Q8Block::default(); cols / Q8_BLOCK];
        quantize_q8(&x, &mut xq);
        let report = |what: &str, best: f64, sink: f32| {
            println!(
                "{ty} {what:>22}: {:5.1} GB/s, {:.2} ns/32 values ({sink:.1})",
                w.len() as f64 / best / 1e9,
                best * 1e9 * 32.0 / (w.len() / ty.type_size() * ty.block_size()) as f64
            )
        };
        let (mut best, mut sink) = (f64::MAX, 0.0);
        for _ in 0..5 {
            let t = Instant::now();
            for r in 0..rows {
                sink += vec_dot(ty, &w[r * row_bytes..(r + 1) * row_bytes], &x, &xq);
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        report("rows", best, sink);
        let packed = PackedMatrix::pack(ty, &w, rows, cols).expect("packable type");
        drop(w);
        for isa in Isa::all_available() {
            let (mut best, mut sink) = (f64::MAX, 0.0);
            for _ in 0..5 {
                let t = Instant::now();
                packed.gemm(isa, 0..packed.groups(), &xq, 1, |_, _, v| {
                    sink += v.iter().sum::<f32>()
                });
                best = best.min(t.elapsed().as_secs_f64());
            }
            let w_len = rows * row_bytes;
            println!(
                "{ty} {:>22}: {:5.1} GB/s, {:.2} ns/32 values ({sink:.1})",
                format!("packed {}", isa.name()),
                w_len as f64 / best / 1e9,
                best * 1e9 * 32.0 / (w_len / ty.type_size() * ty.block_size()) as f64
            );
        }
    }
    // The formats with no packed layout, dotted row by row: the SIMD kernel and the portable.
    for ty in [GgmlType::Q2K, GgmlType::Q3K] {
        let row_bytes = cols / ty.block_size() * ty.type_size();
        let rows = (96 << 20) / row_bytes;
        let w = weights(ty, rows * row_bytes);
        let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut xq = vec![Q8Block::default(); cols / Q8_BLOCK];
        quantize_q8(&x, &mut xq);
        for (what, dot) in [
            (
                "rows",
                vec_dot as fn(GgmlType, &[u8], &[f32], &[Q8Block]) -> f32,
            ),
            ("rows portable", vec_dot_portable),
        ] {
            let (mut best, mut sink) = (f64::MAX, 0.0);
            for _ in 0..3 {
                let t = Instant::now();
                for r in 0..rows {
                    sink += dot(ty, &w[r * row_bytes..(r + 1) * row_bytes], &x, &xq);
                }
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!(
                "{ty} {what:>22}: {:5.1} GB/s, {:.2} ns/32 values ({sink:.1})",
                w.len() as f64 / best / 1e9,
                best * 1e9 * 32.0 / (rows * cols) as f64
            );
        }
    }
}

/// The formats with packed kernels.
const TYPES: [GgmlType; 9] = [
    GgmlType::Q4_1,
    GgmlType::Q4_0,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
    GgmlType::IQ4NL,
    GgmlType::IQ4XS,
];

/// `len` bytes of `ty` blocks: arbitrary quants, small finite f16 scales.
fn weights(ty: GgmlType, len: usize) -> Vec<u8> {
    let mut w: Vec<u8> = (0..len).map(|i| (i * 7 + i / 13) as u8).collect();
    let f16_fields: &[(usize, f32)] = match ty {
        GgmlType::Q4_1 => &[(0, 0.01), (2, -0.02)],
        GgmlType::Q4K | GgmlType::Q5K => &[(0, 0.001), (2, 0.002)],
        GgmlType::Q6K => &[(208, 0.001)],
        GgmlType::Q2K => &[(80, 0.001), (82, 0.002)],
        GgmlType::Q3K => &[(108, 0.001)],
        GgmlType::IQ4XS => &[(0, 0.001)],
        _ => &[(0, 0.01)],
    };
    for block in w.chunks_exact_mut(ty.type_size()) {
        for &(at, v) in f16_fields {
            block[at..at + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
        }
    }
    w
}

/// A prefill chunk (64 tokens) through a 2048 x 2048 matrix, per kernel: GMAC/s.
fn prefill() {
    use woolly_core::quant::packed::{tiled_available, TokenTiles};
    let (rows, cols, n) = (2048, 2048, 64);
    let nb = cols / Q8_BLOCK;
    for ty in TYPES {
        let w = weights(ty, rows * cols / ty.block_size() * ty.type_size());
        let packed = PackedMatrix::pack(ty, &w, rows, cols).expect("packable type");
        let x: Vec<f32> = (0..n * cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut xq = vec![Q8Block::default(); n * nb];
        quantize_q8(&x, &mut xq);
        let time = |run: &mut dyn FnMut() -> f32| {
            let (mut best, mut sink) = (f64::MAX, 0.0);
            for _ in 0..50 {
                let t = Instant::now();
                sink += run();
                best = best.min(t.elapsed().as_secs_f64());
            }
            (best, sink)
        };
        let report = |what: &str, (best, sink): (f64, f32)| {
            let macs = (rows * cols * n) as f64;
            println!(
                "{ty} prefill {what:>14}: {:6.1} GMAC/s ({sink:.1})",
                macs / best / 1e9
            );
        };
        for isa in Isa::all_available() {
            report(
                isa.name(),
                time(&mut || {
                    let mut s = 0.0;
                    packed.gemm(isa, 0..packed.groups(), &xq, n, |_, _, v| s += v[0]);
                    s
                }),
            );
        }
        if tiled_available() && packed.kind.has_tiled() {
            let mut tiles = TokenTiles::default();
            report(
                "tiled",
                time(&mut || {
                    tiles.fill(&xq, n, nb);
                    let mut s = 0.0;
                    packed.gemm_tiled(0..packed.row_tiles(), &tiles, |_, _, v| s += v[0]);
                    s
                }),
            );
        }
    }
}
