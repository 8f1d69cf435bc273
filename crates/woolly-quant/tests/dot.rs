//! The fused dot-product kernels against the reference dequantization.

mod common;

use common::{random_blocks, Rng};
use woolly_quant::{dequantize, quantize_q8, uses_q8, vec_dot, GgmlType, Q8Block, Q8_BLOCK};

/// A row of `cols` values in random blocks with sane scales.
fn random_row(ty: GgmlType, cols: usize, rng: &mut Rng) -> Vec<u8> {
    random_blocks(ty, cols / ty.block_size(), rng, 1.0, 1.0 / 32.0)
}

#[test]
fn every_kernel_matches_dequantize_then_dot() {
    let mut rng = Rng(42);
    let cols = 512;
    for ty in GgmlType::ALL {
        for trial in 0..8 {
            let row = random_row(ty, cols, &mut rng);
            let x: Vec<f32> = (0..cols).map(|_| rng.unit() * 3.0).collect();
            let mut xq = vec![Q8Block::default(); cols / Q8_BLOCK];
            quantize_q8(&x, &mut xq);

            let mut w = vec![0f32; cols];
            dequantize(ty, &row, &mut w).unwrap();
            // Quantized kernels see the activations as their 8-bit blocks do.
            let x_seen: Vec<f32> = if uses_q8(ty) {
                xq.iter()
                    .flat_map(|b| b.qs.iter().map(move |&q| q as f32 * b.d))
                    .collect()
            } else {
                x.clone()
            };
            let expected: f64 = w
                .iter()
                .zip(&x_seen)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum();
            let magnitude: f64 = w
                .iter()
                .zip(&x_seen)
                .map(|(a, b)| (*a as f64 * *b as f64).abs())
                .sum();
            let got = vec_dot(ty, &row, &x, &xq) as f64;
            // Q4_1/Q5_1 add min * s with s rounded to f16, as llama.cpp does.
            let tolerance = 1e-5 * magnitude
                + if matches!(ty, GgmlType::Q4_1 | GgmlType::Q5_1) {
                    2e-3 * magnitude
                } else {
                    0.0
                };
            assert!(
                (got - expected).abs() <= tolerance.max(1e-6),
                "{ty} trial {trial}: kernel {got}, reference {expected} (|terms| {magnitude})"
            );
        }
    }
}

#[test]
fn activation_quantization_round_trips_within_half_a_step() {
    let mut rng = Rng(7);
    let x: Vec<f32> = (0..256).map(|_| rng.unit() * 10.0).collect();
    let mut xq = vec![Q8Block::default(); 8];
    quantize_q8(&x, &mut xq);
    for (block, chunk) in xq.iter().zip(x.chunks(32)) {
        let amax = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            block.qs.iter().any(|q| q.unsigned_abs() == 127),
            "the largest value maps to ±127"
        );
        for (q, v) in block.qs.iter().zip(chunk) {
            assert!((*q as f32 * block.d - v).abs() <= 0.5 * amax / 127.0 + 1e-3 * amax);
        }
        let sum: i32 = block.qs.iter().map(|&q| q as i32).sum();
        assert!((block.s - block.d * sum as f32).abs() <= 1e-2 * block.s.abs().max(1e-3));
    }
    let mut zeros = [Q8Block::default(); 1];
    quantize_q8(&[0.0; 32], &mut zeros);
    assert_eq!((zeros[0].d, zeros[0].qs), (0.0, [0; 32]));
}

/// The SIMD kernels (where the CPU has them) against the portable ones.
#[test]
fn simd_kernels_match_portable_ones() {
    let mut rng = Rng(99);
    let cols = 576;
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
    ] {
        for _ in 0..16 {
            let row = random_row(ty, cols, &mut rng);
            let x: Vec<f32> = (0..cols).map(|_| rng.unit() * 3.0).collect();
            let mut xq = vec![Q8Block::default(); cols / Q8_BLOCK];
            quantize_q8(&x, &mut xq);
            let (fast, portable) = (
                vec_dot(ty, &row, &x, &xq),
                woolly_quant::vec_dot_portable(ty, &row, &x, &xq),
            );
            assert!(
                (fast - portable).abs() <= 1e-4 * portable.abs().max(1.0),
                "{ty}: {fast} vs {portable}"
            );
        }
    }
}

/// Q2_K and Q3_K: the AVX2 kernels (where the CPU has them) sum the same integers as the
/// portable ones and take the same float steps, so they agree to the bit.
#[test]
fn k_quant_row_kernels_equal_portable_ones_bit_for_bit() {
    let mut rng = Rng(123);
    let cols = 768;
    for ty in [GgmlType::Q2K, GgmlType::Q3K] {
        assert!(uses_q8(ty), "{ty} is dotted against 8-bit activations");
        for _ in 0..16 {
            let row = random_row(ty, cols, &mut rng);
            let x: Vec<f32> = (0..cols).map(|_| rng.unit() * 3.0).collect();
            let mut xq = vec![Q8Block::default(); cols / Q8_BLOCK];
            quantize_q8(&x, &mut xq);
            let fast = vec_dot(ty, &row, &x, &xq);
            let portable = woolly_quant::vec_dot_portable(ty, &row, &x, &xq);
            assert_eq!(
                fast.to_bits(),
                portable.to_bits(),
                "{ty}: {fast} vs {portable}"
            );
        }
    }
}
