//! Throughput of the matrix-vector kernels over a weight matrix larger than the caches,
//! row by row from the GGUF layout and over the packed 4-row layout, per instruction set:
//! `cargo build --release --workspace --examples`, then run
//! `$CARGO_TARGET_DIR/release/examples/kernel_bench` (a whole-workspace build reuses burn).

use std::time::Instant;
use woolly_core::quant::packed::{Isa, PackedMatrix};
use woolly_core::quant::{quantize_q8, vec_dot, GgmlType, Q8Block, Q8_BLOCK};

fn main() {
    prefill();
    if std::env::args().any(|a| a == "--prefill") {
        return;
    }
    let cols = 576;
    for ty in [GgmlType::Q4_1, GgmlType::Q4_0, GgmlType::Q8_0] {
        let row_bytes = cols / 32 * ty.type_size();
        let rows = (96 << 20) / row_bytes / 4 * 4;
        let mut w = vec![0u8; rows * row_bytes];
        for (i, b) in w.iter_mut().enumerate() {
            *b = (i * 7 + i / 13) as u8;
        }
        for block in w.chunks_exact_mut(ty.type_size()) {
            block[0..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
            if ty == GgmlType::Q4_1 {
                block[2..4].copy_from_slice(&half::f16::from_f32(-0.02).to_le_bytes());
            }
        }
        let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut xq = vec![Q8Block::default(); cols / Q8_BLOCK];
        quantize_q8(&x, &mut xq);
        let report = |what: &str, best: f64, sink: f32| {
            println!(
                "{ty} {what:>22}: {:5.1} GB/s, {:.2} ns/block ({sink:.1})",
                w.len() as f64 / best / 1e9,
                best * 1e9 / (w.len() / ty.type_size()) as f64
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
        let row_total = w.len();
        let _ = row_total;
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
                "{ty} {:>22}: {:5.1} GB/s, {:.2} ns/block ({sink:.1})",
                format!("packed {}", isa.name()),
                w_len as f64 / best / 1e9,
                best * 1e9 / (w_len / ty.type_size()) as f64
            );
        }
    }
}

/// A prefill chunk (64 tokens) through a 1536 x 576 matrix, per kernel: GMAC/s.
fn prefill() {
    use woolly_core::quant::packed::{amx_available, TokenTiles};
    let (rows, cols, n) = (1536, 576, 64);
    let nb = cols / Q8_BLOCK;
    for ty in [GgmlType::Q4_1, GgmlType::Q4_0, GgmlType::Q8_0] {
        let mut w = vec![0u8; rows * nb * ty.type_size()];
        for (i, b) in w.iter_mut().enumerate() {
            *b = (i * 7 + i / 13) as u8;
        }
        for block in w.chunks_exact_mut(ty.type_size()) {
            block[0..2].copy_from_slice(&half::f16::from_f32(0.01).to_le_bytes());
            if ty == GgmlType::Q4_1 {
                block[2..4].copy_from_slice(&half::f16::from_f32(-0.02).to_le_bytes());
            }
        }
        let packed = PackedMatrix::pack(ty, &w, rows, cols).expect("packable type");
        let x: Vec<f32> = (0..n * cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut xq = vec![Q8Block::default(); n * nb];
        quantize_q8(&x, &mut xq);
        let time = |run: &mut dyn FnMut() -> f32| {
            let (mut best, mut sink) = (f64::MAX, 0.0);
            for _ in 0..200 {
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
        if amx_available() {
            let mut tiles = TokenTiles::default();
            report(
                "AMX",
                time(&mut || {
                    tiles.fill(&xq, n, nb);
                    let mut s = 0.0;
                    packed.gemm_amx(0..packed.row_tiles(), &tiles, |_, _, v| s += v[0]);
                    s
                }),
            );
        }
    }
}
