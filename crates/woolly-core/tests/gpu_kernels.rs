//! The GPU kernels against naive CPU references, on random blocks of every weight format
//! and on ragged shapes. Runs on whatever adapter wgpu finds: Mesa's lavapipe in `make
//! test` (the set-up installs it). Without any adapter these tests fail, unless
//! `WOOLLY_GPU_TESTS=skip` says to skip them.

use woolly_core::model::gpu::ops::{AttentionArgs, Buf, Kernels};
use woolly_core::model::gpu::weights::{upload_f32, DeviceMatrix};
use woolly_core::model::gpu::{self, Gpu};
use woolly_core::quant::{self, GgmlType};

fn gpu() -> Option<std::sync::Arc<Gpu>> {
    match gpu::device::shared() {
        Ok(g) => Some(g),
        Err(e) if std::env::var("WOOLLY_GPU_TESTS").as_deref() == Ok("skip") => {
            eprintln!("skipping GPU test: {e}");
            None
        }
        Err(e) => panic!("{e} (install mesa-vulkan-drivers, or set WOOLLY_GPU_TESTS=skip)"),
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    /// Uniform in [-1, 1).
    fn f32(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f32()).collect()
    }
}

fn read(gpu: &Gpu, b: &Buf) -> Vec<f32> {
    let bytes = gpu.client.read_one(b.handle.clone()).expect("readback");
    bytes
        .chunks_exact(4)
        .take(b.len)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn buf(gpu: &Gpu, v: &[f32]) -> Buf {
    Buf {
        handle: upload_f32(gpu, v),
        len: v.len(),
    }
}

/// Kernels with room for the block sums of 8-bit rounding `values` activations at once.
fn kernels(gpu: &Gpu, values: usize) -> Kernels<'_> {
    Kernels::new(gpu, buf(gpu, &vec![0.0; values.div_ceil(32).max(1)]))
}

/// Each block of 32's sum: what Q4_1's offset multiplies when `x` was not rounded to 8 bits.
fn block_sums(x: &[f32]) -> Vec<f32> {
    x.chunks(32).map(|b| b.iter().sum()).collect()
}

/// Random blocks of `ty` whose f16 scales are small sane numbers (random bits there would
/// be infinities and NaNs).
fn random_rows(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    let half = |v: f32| half::f16::from_f32(v).to_le_bytes();
    if ty == GgmlType::F32 {
        return rng
            .vec(rows * cols)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
    }
    if ty == GgmlType::F16 {
        return rng.vec(rows * cols).iter().flat_map(|&v| half(v)).collect();
    }
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let scales: &[usize] = match ty {
        GgmlType::Q4_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q4K | GgmlType::Q5K => &[0, 2],
        GgmlType::Q6K => &[208],
        _ => &[],
    };
    let mut out = Vec::with_capacity(rows * cols / bs * ts);
    for _ in 0..rows * cols / bs {
        let mut block: Vec<u8> = (0..ts).map(|_| rng.byte()).collect();
        for &at in scales {
            block[at..at + 2].copy_from_slice(&half(rng.f32() * 0.05));
        }
        if ty == GgmlType::Q2K || ty == GgmlType::Q3K {
            let at = ts - 2;
            block[at..].copy_from_slice(&half(0.01));
            if ty == GgmlType::Q2K {
                block[at - 2..at].copy_from_slice(&half(0.01));
            }
        }
        out.extend(block);
    }
    out
}

/// `W · x[t]` by dequantizing each row on the CPU and summing in f64.
fn reference_matmul(
    ty: GgmlType,
    w: &[u8],
    rows: usize,
    cols: usize,
    x: &[f32],
    n: usize,
) -> Vec<f32> {
    let row_bytes = w.len() / rows;
    let mut row = vec![0.0f32; cols];
    let mut out = vec![0.0f32; n * rows];
    for r in 0..rows {
        quant::dequantize(ty, &w[r * row_bytes..(r + 1) * row_bytes], &mut row).unwrap();
        if ty == GgmlType::Q3K {
            // Uploaded as F16.
            row.iter_mut()
                .for_each(|v| *v = half::f16::from_f32(*v).to_f32());
        }
        for t in 0..n {
            let xs = &x[t * cols..(t + 1) * cols];
            out[t * rows + r] = row
                .iter()
                .zip(xs)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>() as f32;
        }
    }
    out
}

fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}: element {i}: {g} where {w} was expected (scale {scale})"
        );
    }
}

#[test]
fn matmul_matches_dequantize_then_dot_for_every_format() {
    let Some(gpu) = gpu() else { return };
    let mut k = kernels(&gpu, 0);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let types = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::Q4K,
        GgmlType::Q5K,
        GgmlType::Q6K,
        // Converted to F16 at upload.
        GgmlType::Q3K,
    ];
    // 67 rows: not a multiple of anything; 3 and 11 tokens: partial tiles of 8.
    let (rows, cols) = (67, 512);
    for ty in types {
        let w = random_rows(ty, rows, cols, &mut rng);
        // Bands of about 20 rows, as a matrix bigger than one binding is split.
        let band = 20 * (cols / ty.block_size() * ty.type_size());
        let m = DeviceMatrix::upload_in_bands(&gpu, ty, rows, cols, &w, band).unwrap();
        assert!(m.bands.len() >= 3, "{ty}: {} bands", m.bands.len());
        // Both row splits: 4 threads per row (software adapters) and 32 (GPUs).
        for (n, lanes) in [(1, 4), (1, 32), (3, 4), (11, 32)] {
            k.matmul_lanes = lanes;
            let x = rng.vec(n * cols);
            k.sums = buf(&gpu, &block_sums(&x));
            let want = reference_matmul(ty, &w, rows, cols, &x, n);
            let out = buf(&gpu, &vec![0.0; n * rows]);
            k.matmul(&m, &buf(&gpu, &x), &out, n, false);
            assert_close(
                &read(&gpu, &out),
                &want,
                1e-4,
                &format!("{ty} n={n} lanes={lanes}"),
            );
            // With `accumulate`, the product lands on what `out` held.
            let base = rng.vec(n * rows);
            let out = buf(&gpu, &base);
            k.matmul(&m, &buf(&gpu, &x), &out, n, true);
            let want: Vec<f32> = want.iter().zip(&base).map(|(a, b)| a + b).collect();
            assert_close(
                &read(&gpu, &out),
                &want,
                1e-4,
                &format!("{ty} n={n} accumulate"),
            );
        }
    }
}

/// Products stacked in one matrix (q, k and v; gate and up) computed in one launch: each
/// lands in its own part of the output, a `[n, rows]` matrix every `stride` tokens, equal
/// to that product alone; the tokens past `n` are left as they were. Ragged parts, bands
/// that hold rows of two products, one token and a partial tile.
#[test]
fn stacked_products_match_each_product_alone() {
    let Some(gpu) = gpu() else { return };
    let mut k = kernels(&gpu, 0);
    let mut rng = Rng(0x5EED_57AC);
    let cols = 256;
    let stride = 16;
    for (ty, parts) in [
        (GgmlType::Q4K, vec![40, 13, 13]),
        (GgmlType::Q6K, vec![29, 29]),
        (GgmlType::F16, vec![7, 33, 9]),
    ] {
        let blocks: Vec<Vec<u8>> = parts
            .iter()
            .map(|&rows| random_rows(ty, rows, cols, &mut rng))
            .collect();
        let list: Vec<(usize, &[u8])> = parts
            .iter()
            .copied()
            .zip(blocks.iter().map(|b| &b[..]))
            .collect();
        let total: usize = parts.iter().sum();
        // 17 rows a band (and the spare word after the last row).
        let band = 17 * (cols / ty.block_size() * ty.type_size()) + 8;
        let m = DeviceMatrix::stack_in_bands(&gpu, ty, cols, &list, band).unwrap();
        assert_eq!((m.rows, m.bands.len()), (total, total.div_ceil(17)));
        for (n, lanes) in [(1, 4), (11, 32)] {
            k.matmul_lanes = lanes;
            let x = rng.vec(n * cols);
            let before = rng.vec(stride * total);
            let whole = buf(&gpu, &before);
            k.matmul_stacked(&m, &buf(&gpu, &x), &whole, n, stride);
            let got = read(&gpu, &whole);
            let mut start = 0;
            for (p, (&rows, w)) in parts.iter().zip(&blocks).enumerate() {
                let want = reference_matmul(ty, w, rows, cols, &x, n);
                let what = format!("{ty} part {p} n={n} lanes={lanes}");
                let part = stride * start;
                assert_close(&got[part..part + n * rows], &want, 1e-4, &what);
                let rest = part + n * rows..part + stride * rows;
                assert_eq!(&got[rest.clone()], &before[rest], "{what}: past n");
                // The part read back through a view of it (a handle at an offset).
                let view = read(&gpu, &whole.view(part, stride * rows));
                assert_eq!(
                    &view[..n * rows],
                    &got[part..part + n * rows],
                    "{what}: view"
                );
                start += rows;
            }
        }
    }
}

#[test]
fn rms_norm_swiglu_and_bias_match_naive_loops() {
    let Some(gpu) = gpu() else { return };
    let k = kernels(&gpu, 5 * 1001);
    let mut rng = Rng(7);
    let (len, rows, eps) = (200, 5, 1e-5);
    let x = rng.vec(len * rows);
    let w = rng.vec(len);
    let norm = |row: &[f32]| {
        let ms = row.iter().map(|v| v * v).sum::<f32>() / len as f32;
        let inv = 1.0 / (ms + eps).sqrt();
        row.iter()
            .zip(&w)
            .map(|(v, w)| v * inv * w)
            .collect::<Vec<f32>>()
    };
    // Rows 2..5 of x into a 3-row output.
    let out = buf(&gpu, &vec![0.0; 3 * len]);
    k.rms_norm(&buf(&gpu, &x), &buf(&gpu, &w), &out, len, 3, 2, eps, false);
    let want: Vec<f32> = x[2 * len..].chunks(len).flat_map(norm).collect();
    assert_close(&read(&gpu, &out), &want, 1e-5, "rms_norm");
    // Rounded to 8-bit blocks in the same kernel: as the CPU rounds the naive result.
    let len = 192;
    let (xs, ws) = (rng.vec(3 * len), rng.vec(len));
    let out = buf(&gpu, &vec![0.0; 3 * len]);
    k.rms_norm(&buf(&gpu, &xs), &buf(&gpu, &ws), &out, len, 3, 0, eps, true);
    let want: Vec<f32> = xs
        .chunks(len)
        .flat_map(|row| {
            let inv = 1.0 / (row.iter().map(|v| v * v).sum::<f32>() / len as f32 + eps).sqrt();
            row.iter().zip(&ws).map(move |(v, w)| v * inv * w)
        })
        .collect();
    assert_close(&read(&gpu, &out), &q8_round(&want), 2e-2, "rms_norm q8");
    let len = 200;

    let xb = buf(&gpu, &x);
    k.rms_norm_in_place(&xb, &buf(&gpu, &w), len, rows, eps);
    let want: Vec<f32> = x.chunks(len).flat_map(norm).collect();
    assert_close(&read(&gpu, &xb), &want, 1e-5, "rms_norm_in_place");

    let (g, u) = (rng.vec(1001), rng.vec(1001));
    let gb = buf(&gpu, &g);
    k.swiglu(&gb, &buf(&gpu, &u), 1001, false, false);
    let want: Vec<f32> = g
        .iter()
        .zip(&u)
        .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
        .collect();
    assert_close(&read(&gpu, &gb), &want, 1e-5, "swiglu");
    // Rounded to 8-bit blocks in the same kernel.
    let gb = buf(&gpu, &g[..992]);
    k.swiglu(&gb, &buf(&gpu, &u[..992]), 992, true, false);
    assert_close(&read(&gpu, &gb), &q8_round(&want[..992]), 2e-2, "swiglu q8");
    // GeGLU (Gemma): GELU with the tanh approximation, from its definition; its large
    // gates would overflow a plain tanh on some drivers.
    let big: Vec<f32> = g.iter().map(|v| v * 12.0).collect();
    let gb = buf(&gpu, &big);
    k.swiglu(&gb, &buf(&gpu, &u), 1001, false, true);
    let gelu = |x: f32| {
        let c = (2.0 / std::f32::consts::PI).sqrt();
        0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
    };
    let want: Vec<f32> = big.iter().zip(&u).map(|(g, u)| gelu(*g) * u).collect();
    assert_close(&read(&gpu, &gb), &want, 1e-5, "geglu");

    // Soft-capping and the residual add.
    let xb = buf(&gpu, &big);
    k.softcap(&xb, 3.0, 1000);
    let want: Vec<f32> = big
        .iter()
        .enumerate()
        .map(|(i, v)| if i < 1000 { 3.0 * (v / 3.0).tanh() } else { *v })
        .collect();
    assert_close(&read(&gpu, &xb), &want, 1e-5, "softcap");
    let xb = buf(&gpu, &g);
    k.add(&xb, &buf(&gpu, &u), 1001);
    let want: Vec<f32> = g.iter().zip(&u).map(|(a, b)| a + b).collect();
    assert_close(&read(&gpu, &xb), &want, 1e-6, "add");

    let (x, bias) = (rng.vec(4 * 37), rng.vec(37));
    let xb = buf(&gpu, &x);
    k.add_bias(&xb, &buf(&gpu, &bias), 3);
    let want: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, v)| if i < 3 * 37 { v + bias[i % 37] } else { *v })
        .collect();
    assert_close(&read(&gpu, &xb), &want, 1e-6, "add_bias");
}

/// Naive causal attention with RoPE over a prompt of `n` tokens, the same maths as the
/// CPU path written as plainly as possible; each query sees the last `window` positions
/// (0: all), scores soft-capped as `cap * tanh(s / cap)` when `cap > 0`.
#[allow(clippy::too_many_arguments)]
fn reference_attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    n: usize,
    heads: usize,
    kv_heads: usize,
    hd: usize,
    rope_half: usize,
    neox: bool,
    base: f32,
    (window, cap): (usize, f32),
) -> Vec<f32> {
    let rotate = |x: &mut [f32], pos: usize| {
        for p in 0..hd / 2 {
            if p >= rope_half {
                continue;
            }
            let angle = pos as f32 * base.powf(-2.0 * p as f32 / (2 * rope_half) as f32);
            let (c, s) = (angle.cos(), angle.sin());
            let (i, j) = if neox {
                (p, p + rope_half)
            } else {
                (2 * p, 2 * p + 1)
            };
            let (a, b) = (x[i], x[j]);
            x[i] = a * c - b * s;
            x[j] = a * s + b * c;
        }
    };
    let (mut q, mut k) = (q.to_vec(), k.to_vec());
    for t in 0..n {
        for h in 0..heads {
            rotate(&mut q[(t * heads + h) * hd..][..hd], t);
        }
        for h in 0..kv_heads {
            rotate(&mut k[(t * kv_heads + h) * hd..][..hd], t);
        }
    }
    let mut out = vec![0.0f32; n * heads * hd];
    for t in 0..n {
        for h in 0..heads {
            let kv = h / (heads / kv_heads);
            let qv = &q[(t * heads + h) * hd..][..hd];
            let first = if window > 0 {
                (t + 1).saturating_sub(window)
            } else {
                0
            };
            let scores: Vec<f32> = (0..=t)
                .map(|p| {
                    let kp = &k[(p * kv_heads + kv) * hd..][..hd];
                    let s = qv.iter().zip(kp).map(|(a, b)| a * b).sum::<f32>() / (hd as f32).sqrt();
                    match (p < first, cap > 0.0) {
                        (true, _) => f32::NEG_INFINITY,
                        (false, true) => cap * (s / cap).tanh(),
                        (false, false) => s,
                    }
                })
                .collect();
            let max = scores.iter().fold(f32::MIN, |m, &s| m.max(s));
            let e: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f32 = e.iter().sum();
            for d in 0..hd {
                out[(t * heads + h) * hd + d] = (0..=t)
                    .map(|p| e[p] * v[(p * kv_heads + kv) * hd + d])
                    .sum::<f32>()
                    / sum;
            }
        }
    }
    out
}

#[test]
fn rope_and_attention_match_naive_attention() {
    let Some(gpu) = gpu() else { return };
    let kern = kernels(&gpu, 37 * 6 * 96);
    let mut rng = Rng(99);
    // (heads, kv heads, head dim, rotated pairs, neox, (window, soft cap)): GQA, head dims
    // that are not a multiple of the 32 threads, partial rotary, both pairings, sliding
    // windows starting inside a key tile and beyond the first, soft-capped scores.
    let shapes = [
        (4, 2, 64, 32, false, (0, 0.0)),
        (6, 2, 96, 48, true, (45, 0.0)),
        (2, 1, 80, 16, false, (0, 0.7)),
        (4, 2, 64, 32, true, (20, 0.5)),
    ];
    let (ctx, base) = (80, 10000.0f32);
    for (heads, kv_heads, hd, rope_half, neox, (window, softcap)) in shapes {
        for f16 in [false, true] {
            if f16 && !gpu.f16 {
                continue;
            }
            // 70 tokens: three key tiles, the last partial; prompt of 37 then 33 one by one.
            let n = 70;
            let q = rng.vec(n * heads * hd);
            let k = rng.vec(n * kv_heads * hd);
            let v = rng.vec(n * kv_heads * hd);
            let want = reference_attention(
                &q,
                &k,
                &v,
                n,
                heads,
                kv_heads,
                hd,
                rope_half,
                neox,
                base,
                (window, softcap),
            );
            let (mut cos, mut sin) = (vec![], vec![]);
            for pos in 0..ctx {
                for p in 0..rope_half {
                    let angle = pos as f32 * base.powf(-2.0 * p as f32 / (2 * rope_half) as f32);
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
            let cache_len = kv_heads * ctx * hd;
            let cache = || Buf {
                handle: gpu.client.empty(cache_len * if f16 { 2 } else { 4 }),
                len: cache_len,
            };
            let (cos, sin, k_cache, v_cache) = (buf(&gpu, &cos), buf(&gpu, &sin), cache(), cache());
            let a = AttentionArgs {
                heads,
                kv_heads,
                head_dim: hd,
                scale: 1.0 / (hd as f32).sqrt(),
                softcap,
                window,
                rope_half,
                neox,
                ctx,
                cos: &cos,
                sin: &sin,
                k_cache: &k_cache,
                v_cache: &v_cache,
                f16,
            };
            let mut got = Vec::new();
            let mut start = 0;
            for len in std::iter::once(37).chain(std::iter::repeat_n(1, 33)) {
                let (qw, kw) = (heads * hd, kv_heads * hd);
                let qb = buf(&gpu, &q[start * qw..(start + len) * qw]);
                let kb = buf(&gpu, &k[start * kw..(start + len) * kw]);
                let vb = buf(&gpu, &v[start * kw..(start + len) * kw]);
                let out = buf(&gpu, &vec![0.0; len * qw]);
                kern.rope_store(&a, &qb, &kb, &vb, len, start);
                // Rounded to 8 bits as it is written: the same as rounding the result.
                let rounded = buf(&gpu, &vec![0.0; len * qw]);
                let fused = kern.attention(&a, &qb, &rounded, len, start, true);
                assert_eq!(fused, hd % 32 == 0, "head dim {hd}");
                let fused_sums = read(&gpu, &kern.sums);
                let fused = read(&gpu, &rounded);
                kern.attention(&a, &qb, &out, len, start, false);
                let plain = read(&gpu, &out);
                if hd % 32 == 0 {
                    let blocks = len * qw / 32;
                    kern.round_to_q8(&out, &rounded, len * qw);
                    assert_eq!(fused, read(&gpu, &rounded), "{hd}: rounded in attention");
                    let sums = read(&gpu, &kern.sums);
                    assert_eq!(fused_sums[..blocks], sums[..blocks], "{hd}: block sums");
                }
                got.extend(plain);
                start += len;
            }
            let tol = if f16 { 3e-3 } else { 1e-4 };
            assert_close(
                &got,
                &want,
                tol,
                &format!("attention {heads}/{kv_heads}x{hd} neox={neox} f16={f16} window={window} cap={softcap}"),
            );
        }
    }
}

/// The CPU's 8-bit activation blocks, as values.
fn q8_round(x: &[f32]) -> Vec<f32> {
    let mut blocks = vec![quant::Q8Block::default(); x.len() / 32];
    quant::quantize_q8(x, &mut blocks);
    blocks
        .iter()
        .flat_map(|b| b.qs.map(|q| q as f32 * b.d))
        .collect()
}

#[test]
fn round_to_q8_matches_the_cpu_activation_blocks() {
    let Some(gpu) = gpu() else { return };
    let k = kernels(&gpu, 64 * 32);
    let mut rng = Rng(3);
    // Blocks of every magnitude, down to f16-subnormal scales, and an all-zero block.
    let mut x: Vec<f32> = (0..64 * 32)
        .map(|i| rng.f32() * 10f32.powi(-(i / 32 % 8)))
        .collect();
    x[32..64].fill(0.0);
    let out = buf(&gpu, &vec![0.0; x.len()]);
    k.round_to_q8(&buf(&gpu, &x), &out, x.len());
    let mut blocks = vec![quant::Q8Block::default(); x.len() / 32];
    quant::quantize_q8(&x, &mut blocks);
    let want: Vec<f32> = blocks
        .iter()
        .flat_map(|b| b.qs.map(|q| q as f32 * b.d))
        .collect();
    assert_eq!(read(&gpu, &out), want);
    // And each block's sum as the CPU blocks carry it for Q4_1: f16(d · Σq) with the
    // unrounded d, which the rounded values' own sum (f16(d) · Σq) often is not.
    let sums: Vec<f32> = blocks.iter().map(|b| b.s).collect();
    assert_eq!(read(&gpu, &k.sums)[..sums.len()], sums[..]);
    let naive: Vec<f32> = want
        .chunks(32)
        .map(|b| half::f16::from_f32(b.iter().sum::<f32>()).to_f32())
        .collect();
    assert!(
        naive.iter().zip(&sums).any(|(a, b)| a != b),
        "no block tells the two sums apart"
    );
}

/// Q4_1 rows against the CPU's dot product on the same 8-bit activations: the GPU takes the
/// offset's activation sum from the rounding, as the CPU (and llama.cpp) do, so the two
/// agree to float rounding, not to the f16 step of a differently rounded sum.
#[test]
fn q4_1_matmul_on_rounded_activations_matches_the_cpu_dot() {
    let Some(gpu) = gpu() else { return };
    let mut rng = Rng(11);
    let (rows, cols, n) = (40, 1024, 3);
    let k = kernels(&gpu, n * cols);
    let w = random_rows(GgmlType::Q4_1, rows, cols, &mut rng);
    let m = DeviceMatrix::upload(&gpu, GgmlType::Q4_1, rows, cols, &w).unwrap();
    let x: Vec<f32> = rng.vec(n * cols).iter().map(|v| v * 3.0).collect();
    let xq = buf(&gpu, &vec![0.0; x.len()]);
    k.round_to_q8(&buf(&gpu, &x), &xq, x.len());
    let out = buf(&gpu, &vec![0.0; n * rows]);
    k.matmul(&m, &xq, &out, n, false);
    let row_bytes = w.len() / rows;
    let mut want = Vec::with_capacity(n * rows);
    for t in 0..n {
        let xt = &x[t * cols..(t + 1) * cols];
        let mut blocks = vec![quant::Q8Block::default(); cols / 32];
        quant::quantize_q8(xt, &mut blocks);
        for r in 0..rows {
            let row = &w[r * row_bytes..(r + 1) * row_bytes];
            want.push(quant::vec_dot_portable(GgmlType::Q4_1, row, xt, &blocks));
        }
    }
    assert_close(&read(&gpu, &out), &want, 2e-6, "Q4_1 on 8-bit activations");
}

/// The memory check of a discrete card without a sysfs VRAM count (NVIDIA) rests on the
/// device-local heap Vulkan reports. Lavapipe's heap is system memory, so it is known here:
/// more than nothing, and no more than `/proc/meminfo`'s total.
#[test]
#[cfg(target_os = "linux")]
fn the_vulkan_device_local_heap_is_read() {
    let Some(gpu) = gpu() else { return };
    let a = &gpu.adapter;
    if a.backend != "Vulkan" {
        eprintln!("skipping: {} is not a Vulkan adapter", a.describe());
        return;
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let heap = a.device_local_heap.expect("a device-local heap");
    eprintln!(
        "{}: device-local heap {heap} bytes, MemTotal {total_kib} KiB",
        a.describe()
    );
    assert!(heap >= 1 << 28, "{heap} bytes");
    if a.is_software() {
        assert!(heap <= total_kib * 1024, "{heap} > {total_kib} KiB");
    }
}

/// `woolly membw --device gpu` times a kernel that must read every word of its buffer: the
/// sum of what it read is the sum of what was written.
#[test]
fn the_bandwidth_kernel_reads_every_word() {
    let Some(gpu) = gpu() else { return };
    // Not a multiple of the threads: the last stride is partial.
    let bytes = 4 * (3 << 20) + 4 * 999;
    let word = |i: usize| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7);
    let b = gpu::bandwidth::read_bandwidth(&gpu, bytes, 1, word).unwrap();
    assert_eq!(b.bytes, bytes);
    let want = (0..bytes / 4).fold(0u32, |a, i| a.wrapping_add(word(i)));
    assert_eq!(b.checksum, want);
    assert!(b.gb_s.is_finite() && b.gb_s > 0.0, "{} GB/s", b.gb_s);
}
