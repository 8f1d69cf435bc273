//! The packed 4-row kernels, on every instruction set this CPU has, against the row-by-row
//! reference kernels; and the packed rows against the reference dequantization.

mod common;

use common::{random_blocks, Rng};
use woolly_quant::packed::{tiled_available, Isa, PackedMatrix, TokenTiles};
use woolly_quant::{
    dequantize, quantize_q8, vec_dot_portable, CpuFeatures, GgmlType, Q8Block, Q8_BLOCK,
};

const TYPES: [GgmlType; 9] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
    GgmlType::IQ4NL,
    GgmlType::IQ4XS,
];

/// The formats with tiled kernels.
const TILED_TYPES: [GgmlType; 5] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q5K,
];

/// A row width of a few blocks of `ty`: 3 blocks, or 2 super-blocks for the K-quants.
fn cols_for(ty: GgmlType) -> usize {
    if ty == GgmlType::Q5_0 {
        // Two units of four blocks (the fifth bits of four blocks share a line).
        256
    } else if ty.block_size() == Q8_BLOCK {
        96
    } else {
        2 * ty.block_size()
    }
}

/// The `n x rows` outputs a kernel emits as `(token, first row, 4 values)`.
fn outputs(
    rows: usize,
    n: usize,
    run: impl FnOnce(&mut dyn FnMut(usize, usize, [f32; 4])),
) -> Vec<f32> {
    let mut got = vec![f32::NAN; n * rows];
    run(&mut |t, r0, v| {
        for (k, v) in v.into_iter().enumerate() {
            if r0 + k < rows {
                got[t * rows + r0 + k] = v;
            }
        }
    });
    got
}

/// `n` random activation rows of `cols`, and the same quantized.
fn activations(rng: &mut Rng, n: usize, cols: usize) -> (Vec<f32>, Vec<Q8Block>) {
    let x: Vec<f32> = (0..n * cols).map(|_| rng.unit() * 3.0).collect();
    let mut xq = vec![Q8Block::default(); n * cols / Q8_BLOCK];
    quantize_q8(&x, &mut xq);
    (x, xq)
}

/// Every output against the row-by-row reference kernel, within float rounding.
fn check_against_rows(
    ty: GgmlType,
    w: &[u8],
    cols: usize,
    x: &[f32],
    xq: &[Q8Block],
    got: &[f32],
    what: &str,
) {
    let nb = cols / Q8_BLOCK;
    let row_bytes = cols / ty.block_size() * ty.type_size();
    let (rows, n) = (w.len() / row_bytes, x.len() / cols);
    for t in 0..n {
        for r in 0..rows {
            let row = &w[r * row_bytes..(r + 1) * row_bytes];
            let (xs, ys) = (&x[t * cols..][..cols], &xq[t * nb..][..nb]);
            let want = vec_dot_portable(ty, row, xs, ys);
            let mut deq = vec![0f32; cols];
            dequantize(ty, row, &mut deq).unwrap();
            let magnitude: f32 = deq.iter().zip(xs).map(|(a, b)| (a * b).abs()).sum();
            let g = got[t * rows + r];
            assert!(
                (g - want).abs() <= 2e-6 * magnitude + 1e-6,
                "{ty} {what} ({t},{r}): {g} vs {want} (|terms| {magnitude})"
            );
        }
    }
}

#[test]
fn packed_gemm_matches_row_kernels() {
    let mut rng = Rng(11);
    for ty in TYPES {
        let cols = cols_for(ty);
        // 13 and 6 rows: the last group is padded.
        for rows in [12, 13, 6] {
            let w = random_blocks(ty, rows * cols / ty.block_size(), &mut rng, 1.0, 1.0 / 32.0);
            let packed = PackedMatrix::pack(ty, &w, rows, cols).expect("packable");
            for n in 1..=6 {
                let (x, xq) = activations(&mut rng, n, cols);
                for isa in Isa::all_available() {
                    let got = outputs(rows, n, |emit| {
                        packed.gemm(isa, 0..packed.groups(), &xq, n, emit)
                    });
                    check_against_rows(
                        ty,
                        &w,
                        cols,
                        &x,
                        &xq,
                        &got,
                        &format!("{isa:?} rows {rows} n {n}"),
                    );
                }
            }
        }
    }
}

/// The tiled prefill kernels (AMX, else AVX-512 VNNI: whichever this CPU runs), on partial
/// and several 16-row tiles and 16-token tiles, against the row reference kernels and bit
/// for bit against the AVX-512 decode kernels (skipped on a CPU without AVX-512 VNNI).
#[test]
fn tiled_gemm_matches_row_kernels() {
    if !tiled_available() {
        eprintln!("no AVX-512 VNNI on this CPU: skipped");
        return;
    }
    let mut rng = Rng(23);
    let mut tiles = TokenTiles::default();
    for ty in TILED_TYPES {
        // Four blocks, or two K-quant super-blocks.
        let cols = (4 * Q8_BLOCK).max(2 * ty.block_size());
        let nb = cols / Q8_BLOCK;
        for rows in [13, 40] {
            let w = random_blocks(ty, rows * cols / ty.block_size(), &mut rng, 1.0, 1.0 / 32.0);
            let packed = PackedMatrix::pack(ty, &w, rows, cols).expect("packable");
            for n in [1, 16, 37, 9, 70] {
                let (x, xq) = activations(&mut rng, n, cols);
                tiles.fill(&xq, n, nb);
                let mut seen = 0;
                let got = outputs(rows, n, |emit| {
                    // Two calls, as two threads would split the tiles.
                    for part in [0..1, 1..packed.row_tiles()] {
                        packed.gemm_tiled(part, &tiles, |t, r0, v| {
                            seen += v.iter().enumerate().filter(|(k, _)| r0 + k < rows).count();
                            emit(t, r0, v)
                        });
                    }
                });
                assert_eq!(seen, n * rows, "{ty} rows {rows} n {n}: every output once");
                // Bit for bit what the AVX-512 kernels give, so a prompt gives the same
                // logits whether it is prefilled in one go or a token at a time.
                let vnni = outputs(rows, n, |emit| {
                    packed.gemm(Isa::Avx512Vnni, 0..packed.groups(), &xq, n, emit)
                });
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got),
                    bits(&vnni),
                    "{ty} rows {rows} n {n}: tiled vs AVX-512"
                );
                check_against_rows(
                    ty,
                    &w,
                    cols,
                    &x,
                    &xq,
                    &got,
                    &format!("tiled rows {rows} n {n}"),
                );
            }
        }
    }
}

#[test]
fn packed_rows_dequantize_exactly() {
    let mut rng = Rng(5);
    let rows = 7;
    for ty in TYPES {
        let cols = cols_for(ty);
        let w = random_blocks(ty, rows * cols / ty.block_size(), &mut rng, 1.0, 1.0 / 32.0);
        let packed = PackedMatrix::pack(ty, &w, rows, cols).unwrap();
        let row_bytes = cols / ty.block_size() * ty.type_size();
        for r in 0..rows {
            let (mut want, mut got) = (vec![0f32; cols], vec![0f32; cols]);
            dequantize(ty, &w[r * row_bytes..(r + 1) * row_bytes], &mut want).unwrap();
            packed.dequantize_row(r, &mut got);
            assert_eq!(got, want, "{ty} row {r}");
        }
    }
}

/// A batch gives each token the bits it gets alone, on every instruction set: a prompt's
/// logits do not depend on how it was split into prefill chunks and decode steps.
#[test]
fn batched_gemm_equals_one_token_at_a_time_bit_for_bit() {
    let mut rng = Rng(31);
    for ty in TYPES {
        let (cols, rows, n) = (cols_for(ty), 9, 7);
        let w = random_blocks(ty, rows * cols / ty.block_size(), &mut rng, 1.0, 1.0 / 32.0);
        let packed = PackedMatrix::pack(ty, &w, rows, cols).unwrap();
        let (_, xq) = activations(&mut rng, n, cols);
        let nb = cols / Q8_BLOCK;
        for isa in Isa::all_available() {
            let batch = outputs(rows, n, |emit| {
                packed.gemm(isa, 0..packed.groups(), &xq, n, emit)
            });
            let single = outputs(rows, n, |emit| {
                for t in 0..n {
                    let x = &xq[t * nb..(t + 1) * nb];
                    packed.gemm(isa, 0..packed.groups(), x, 1, |_, r, v| emit(t, r, v));
                }
            });
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&batch), bits(&single), "{ty} {isa:?}");
        }
    }
}

#[test]
fn other_types_are_not_packed() {
    let w = vec![0u8; 4 * 2 * 22];
    assert!(PackedMatrix::pack(GgmlType::Q5_1, &w, 4, 64).is_none());
    // Q5_0 packs four blocks to a unit: rows of two blocks stay rows.
    assert!(PackedMatrix::pack(GgmlType::Q5_0, &w, 4, 64).is_none());
    // A buffer that does not match the shape is refused, not read past.
    assert!(PackedMatrix::pack(GgmlType::Q4_0, &[0u8; 17], 1, 32).is_none());
}

/// A matrix larger than one packing wave (about 4 MiB of the file, its groups packed in
/// parallel): every row still dequantizes exactly, and the file is reported consumed in
/// order, once through, up to its last byte.
#[test]
fn a_matrix_of_many_waves_packs_every_row() {
    let mut rng = Rng(77);
    for ty in [GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q6K] {
        let cols = 256;
        let row_bytes = cols / ty.block_size() * ty.type_size();
        let rows = (9 << 20) / row_bytes + 3; // over two waves, the last group ragged
        let w = random_blocks(ty, rows * cols / ty.block_size(), &mut rng, 1.0, 1.0 / 32.0);
        let mut reports = Vec::new();
        let packed = PackedMatrix::pack_with(ty, &w, rows, cols, |n| reports.push(n)).unwrap();
        assert!(reports.len() >= 3, "{ty}: {reports:?}");
        assert!(reports.windows(2).all(|p| p[0] < p[1]), "{ty}: {reports:?}");
        assert_eq!(*reports.last().unwrap(), w.len(), "{ty}");
        for r in (0..rows).step_by(997).chain([rows - 1]) {
            let (mut want, mut got) = (vec![0f32; cols], vec![0f32; cols]);
            dequantize(ty, &w[r * row_bytes..(r + 1) * row_bytes], &mut want).unwrap();
            packed.dequantize_row(r, &mut got);
            assert_eq!(got, want, "{ty} row {r} of {rows}");
        }
    }
}

/// On ARM: the NEON variants the CPU has are all tested, and they agree to the bit with
/// the portable kernels (each forms the same exact integer sums, then the portable float
/// steps), for one token and for tiles of four (where i8mm takes over), on ragged row
/// counts.
#[test]
fn neon_variants_equal_the_portable_kernels_bit_for_bit() {
    let isas = Isa::all_available();
    let neon: Vec<Isa> = isas
        .iter()
        .copied()
        .filter(|i| matches!(i, Isa::Neon | Isa::NeonDot | Isa::NeonI8mm))
        .collect();
    if !cfg!(target_arch = "aarch64") {
        assert!(neon.is_empty(), "NEON kernels offered on {isas:?}");
        eprintln!("not an ARM CPU: skipped");
        return;
    }
    // The best variant the CPU has (under the cap) is listed first, and plain NEON always.
    let best = match CpuFeatures::detected() {
        CpuFeatures::I8mm => Isa::NeonI8mm,
        CpuFeatures::Dotprod => Isa::NeonDot,
        _ => Isa::Neon,
    };
    if woolly_quant::cpu::cap().is_none() {
        assert_eq!(isas[0], best, "{isas:?}");
    }
    assert!(neon.contains(&Isa::Neon), "{isas:?}");
    eprintln!("NEON variants tested: {neon:?}");
    let mut rng = Rng(41);
    for ty in TYPES {
        let cols = cols_for(ty);
        let rows = 11;
        let w = random_blocks(ty, rows * cols / ty.block_size(), &mut rng, 1.0, 1.0 / 32.0);
        let packed = PackedMatrix::pack(ty, &w, rows, cols).unwrap();
        for n in [1, 4, 6] {
            let (_, xq) = activations(&mut rng, n, cols);
            let bits = |isa| {
                outputs(rows, n, |emit| {
                    packed.gemm(isa, 0..packed.groups(), &xq, n, emit)
                })
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
            };
            let want = bits(Isa::Portable);
            for &isa in &neon {
                assert_eq!(bits(isa), want, "{ty} n {n}: {isa:?} vs portable");
            }
        }
    }
}
