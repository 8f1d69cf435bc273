//! Fused dot products between a quantized weight row and an activation row. The weight
//! blocks are decoded in registers and never written out as f32.
//!
//! For the 32-value formats the activations are quantized to 8 bits per block first, as
//! llama.cpp does, and the dot product runs on integers; the numbers then match
//! llama.cpp's to rounding. The other formats are dotted against f32 activations.

use super::dequant::{dequantize, half, iq4_xs_scale, k4_scale_min, q3_k_scales, IQ4_VALUES};
use super::{GgmlType, QK_K};

/// Values per 8-bit activation block.
pub const Q8_BLOCK: usize = 32;

/// 32 activations as `d * qs`, plus `s = d * sum(qs)` for formats with an offset (ggml's
/// Q8_0 and Q8_1 in one). `d` and `s` hold f16-rounded values, as ggml stores them; `sx`
/// is the same sum unrounded, for kernels that fold a constant weight offset into it;
/// `h` holds `sum(qs)` of each 16-value half (Q6_K's sub-blocks), exactly.
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(16))]
pub struct Q8Block {
    pub d: f32,
    pub s: f32,
    pub sx: f32,
    pub h: [i16; 2],
    pub qs: [i8; Q8_BLOCK],
}

fn round_f16(v: f32) -> f32 {
    half::f16::from_f32(v).to_f32()
}

/// Quantizes `x` (a multiple of 32 long) into `out` (one block per 32 values).
pub fn quantize_q8(x: &[f32], out: &mut [Q8Block]) {
    #[cfg(target_arch = "x86_64")]
    if super::dot_avx2::available() {
        // SAFETY: the CPU has AVX2, FMA and F16C.
        return unsafe { quantize_q8_avx2(x, out) };
    }
    #[cfg(target_arch = "aarch64")]
    if super::cpu::allows(super::CpuFeatures::Neon) {
        return quantize_q8_neon(x, out);
    }
    quantize_q8_body(x, out)
}

/// [`quantize_q8_body`] in NEON registers: `fcvtns` rounds to nearest even, as the scalar
/// loop does.
#[cfg(target_arch = "aarch64")]
fn quantize_q8_neon(x: &[f32], out: &mut [Q8Block]) {
    use std::arch::aarch64::*;
    for (chunk, block) in x.chunks_exact(Q8_BLOCK).zip(out) {
        // SAFETY: `chunk` is 32 f32 long and `block.qs` 32 bytes; NEON is baseline.
        unsafe {
            let v: [float32x4_t; 8] = std::array::from_fn(|i| vld1q_f32(chunk.as_ptr().add(4 * i)));
            let m = v.map(|v| vabsq_f32(v));
            let m = vmaxq_f32(
                vmaxq_f32(vmaxq_f32(m[0], m[1]), vmaxq_f32(m[2], m[3])),
                vmaxq_f32(vmaxq_f32(m[4], m[5]), vmaxq_f32(m[6], m[7])),
            );
            let amax = vmaxvq_f32(m);
            let d = amax / 127.0;
            let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
            let q = v.map(|v| vcvtnq_s32_f32(vmulq_n_f32(v, id)));
            let lo = vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3])));
            let hi = vaddvq_s32(vaddq_s32(vaddq_s32(q[4], q[5]), vaddq_s32(q[6], q[7])));
            let sum = lo + hi;
            let h: [int16x8_t; 4] = std::array::from_fn(|i| {
                vcombine_s16(vqmovn_s32(q[2 * i]), vqmovn_s32(q[2 * i + 1]))
            });
            let p = block.qs.as_mut_ptr();
            vst1q_s8(p, vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1])));
            vst1q_s8(p.add(16), vcombine_s8(vqmovn_s16(h[2]), vqmovn_s16(h[3])));
            block.d = round_f16(d);
            block.s = round_f16(d * sum as f32);
            block.sx = block.d * sum as f32;
            block.h = [lo as i16, hi as i16];
        }
    }
}

/// [`quantize_q8_body`] in AVX2 registers: the max, the rounding (to nearest even, as the
/// scalar loop) and the narrowing to bytes are a few instructions per 8 values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_q8_avx2(x: &[f32], out: &mut [Q8Block]) {
    use std::arch::x86_64::*;
    let sign = _mm256_set1_ps(-0.0);
    for (chunk, block) in x.chunks_exact(Q8_BLOCK).zip(out) {
        // SAFETY: `chunk` is 32 f32 long and `block.qs` 32 bytes.
        unsafe {
            let p = chunk.as_ptr();
            let v = [0, 8, 16, 24].map(|i| _mm256_loadu_ps(p.add(i)));
            let abs = v.map(|v| _mm256_andnot_ps(sign, v));
            let m = _mm256_max_ps(_mm256_max_ps(abs[0], abs[1]), _mm256_max_ps(abs[2], abs[3]));
            let m = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
            let d = amax / 127.0;
            let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
            let q = v.map(|v| _mm256_cvtps_epi32(_mm256_mul_ps(v, id)));
            // The two halves' sums (values 0..16 and 16..32), then the block's.
            let (lo, hi) = (_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            let h = _mm256_hadd_epi32(lo, hi);
            let h = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
            let h = _mm_hadd_epi32(h, h);
            let (lo, hi) = (_mm_cvtsi128_si32(h), _mm_extract_epi32::<1>(h));
            let sum = lo + hi;
            // packs interleaves 128-bit lanes; the permute puts the 8 dwords back in order.
            let bytes = _mm256_packs_epi16(
                _mm256_packs_epi32(q[0], q[1]),
                _mm256_packs_epi32(q[2], q[3]),
            );
            let bytes =
                _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(block.qs.as_mut_ptr() as *mut __m256i, bytes);
            // Both rounded to f16 at once by F16C (to nearest even, as `half` does).
            let ds = _mm_setr_ps(d, d * sum as f32, 0.0, 0.0);
            let ds = _mm_cvtph_ps(_mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(ds));
            block.d = _mm_cvtss_f32(ds);
            block.s = _mm_cvtss_f32(_mm_movehdup_ps(ds));
            block.sx = block.d * sum as f32;
            block.h = [lo as i16, hi as i16];
        }
    }
}

#[inline(always)]
fn quantize_q8_body(x: &[f32], out: &mut [Q8Block]) {
    for (chunk, block) in x.chunks_exact(Q8_BLOCK).zip(out) {
        let amax = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        for (q, v) in block.qs.iter_mut().zip(chunk) {
            *q = (v * id).round_ties_even() as i8;
        }
        let half = |h: &[i8]| h.iter().map(|&q| q as i32).sum::<i32>();
        let (lo, hi) = (half(&block.qs[..16]), half(&block.qs[16..]));
        let sum = lo + hi;
        block.h = [lo as i16, hi as i16];
        block.d = round_f16(d);
        block.s = round_f16(d * sum as f32);
        block.sx = block.d * sum as f32;
    }
}

/// Whether `ty` is dotted against 8-bit activations (`xq`) rather than f32 ones.
pub fn uses_q8(ty: GgmlType) -> bool {
    matches!(
        ty,
        GgmlType::Q4_0
            | GgmlType::Q4_1
            | GgmlType::Q5_0
            | GgmlType::Q5_1
            | GgmlType::Q8_0
            | GgmlType::Q2K
            | GgmlType::Q3K
            | GgmlType::Q4K
            | GgmlType::Q5K
            | GgmlType::Q6K
            | GgmlType::IQ4NL
            | GgmlType::IQ4XS
    )
}

/// `row · x` for one weight row of type `ty`. `xq` must hold `x` quantized by
/// [`quantize_q8`] when [`uses_q8`] says so; otherwise it is ignored.
pub fn vec_dot(ty: GgmlType, row: &[u8], x: &[f32], xq: &[Q8Block]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if super::dot_avx2::available() {
        // SAFETY: `available` checked that the CPU has AVX2 and FMA.
        unsafe {
            match ty {
                GgmlType::Q4_0 => return super::dot_avx2::dot_q4_0(row, xq),
                GgmlType::Q4_1 => return super::dot_avx2::dot_q4_1(row, xq),
                GgmlType::Q8_0 => return super::dot_avx2::dot_q8_0(row, xq),
                GgmlType::Q2K => return super::dot_avx2::dot_q2_k(row, xq),
                GgmlType::Q3K => return super::dot_avx2::dot_q3_k(row, xq),
                _ => {}
            }
        }
    }
    vec_dot_portable(ty, row, x, xq)
}

/// The portable kernels (any CPU); also the reference the SIMD ones are tested against.
pub fn vec_dot_portable(ty: GgmlType, row: &[u8], x: &[f32], xq: &[Q8Block]) -> f32 {
    match ty {
        GgmlType::Q4_0 => dot_q4_0(row, xq),
        GgmlType::Q4_1 => dot_q4_1(row, xq),
        GgmlType::Q5_0 => dot_q5_0(row, xq),
        GgmlType::Q5_1 => dot_q5_1(row, xq),
        GgmlType::Q8_0 => dot_q8_0(row, xq),
        GgmlType::Q2K => dot_q2_k(row, xq),
        GgmlType::Q3K => dot_q3_k(row, xq),
        GgmlType::Q4K => dot_q4_k(row, xq, false),
        GgmlType::Q5K => dot_q4_k(row, xq, true),
        GgmlType::Q6K => dot_q6_k(row, xq),
        GgmlType::IQ4NL => row
            .chunks_exact(18)
            .zip(xq)
            .map(|(b, y)| half(b, 0) * y.d * idot(&iq4_grid(&b[2..18]), &y.qs) as f32)
            .sum(),
        GgmlType::IQ4XS => row
            .chunks_exact(136)
            .zip(xq.chunks_exact(QK_K / Q8_BLOCK))
            .map(|(b, ys)| {
                (0..QK_K / Q8_BLOCK)
                    .map(|ib| {
                        let w = iq4_grid(&b[8 + 16 * ib..8 + 16 * (ib + 1)]);
                        let dl = half(b, 0) * iq4_xs_scale(b, ib) as f32;
                        dl * ys[ib].d * idot(&w, &ys[ib].qs) as f32
                    })
                    .sum::<f32>()
            })
            .sum(),
        GgmlType::F32 => row
            .chunks_exact(4)
            .zip(x)
            .map(|(b, x)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * x)
            .sum(),
        _ => dot_by_blocks(ty, row, x),
    }
}

/// Decodes one block at a time into a stack buffer and dots it with `x`.
fn dot_by_blocks(ty: GgmlType, row: &[u8], x: &[f32]) -> f32 {
    let (bs, ts) = (ty.block_size(), ty.type_size());
    let per_chunk = QK_K / bs;
    let mut buf = [0f32; QK_K];
    let mut sum = 0.0;
    for (blocks, xs) in row.chunks(per_chunk * ts).zip(x.chunks(per_chunk * bs)) {
        let y = &mut buf[..xs.len()];
        // Row lengths were checked when the model was loaded.
        let _ = dequantize(ty, blocks, y);
        sum += f32_dot(y, xs);
    }
    sum
}

/// `a · b` in f32, over sixteen independent lanes so the compiler can vectorize without
/// reassociating.
pub fn f32_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..16 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Integer dot of 32 signed weights with 32 activation bytes.
#[inline(always)]
fn idot(w: &[i8; 32], q: &[i8; 32]) -> i32 {
    let mut s = 0i32;
    for k in 0..32 {
        s += w[k] as i32 * q[k] as i32;
    }
    s
}

#[inline(always)]
fn nibbles(qs: &[u8], offset: i8) -> [i8; 32] {
    let mut w = [0i8; 32];
    for j in 0..16 {
        w[j] = (qs[j] & 0x0F) as i8 - offset;
        w[j + 16] = (qs[j] >> 4) as i8 - offset;
    }
    w
}

/// 32 grid values of the IQ4 formats from 16 bytes of indices.
#[inline(always)]
fn iq4_grid(qs: &[u8]) -> [i8; 32] {
    let mut w = [0i8; 32];
    for j in 0..16 {
        w[j] = IQ4_VALUES[(qs[j] & 0x0F) as usize];
        w[j + 16] = IQ4_VALUES[(qs[j] >> 4) as usize];
    }
    w
}

#[inline(always)]
fn nibbles5(qs: &[u8], qh: u32, offset: i8) -> [i8; 32] {
    let mut w = [0i8; 32];
    for j in 0..16 {
        let h0 = (((qh >> j) << 4) & 0x10) as u8;
        let h1 = ((qh >> (j + 12)) & 0x10) as u8;
        w[j] = ((qs[j] & 0x0F) | h0) as i8 - offset;
        w[j + 16] = ((qs[j] >> 4) | h1) as i8 - offset;
    }
    w
}

fn dot_q4_0(row: &[u8], xq: &[Q8Block]) -> f32 {
    row.chunks_exact(18)
        .zip(xq)
        .map(|(b, y)| half(b, 0) * y.d * idot(&nibbles(&b[2..18], 8), &y.qs) as f32)
        .sum()
}

fn dot_q4_1(row: &[u8], xq: &[Q8Block]) -> f32 {
    let mut sum = 0.0;
    let mut mins = 0.0;
    for (b, y) in row.chunks_exact(20).zip(xq) {
        sum += half(b, 0) * y.d * idot(&nibbles(&b[4..20], 0), &y.qs) as f32;
        mins += half(b, 2) * y.s;
    }
    sum + mins
}

fn dot_q5_0(row: &[u8], xq: &[Q8Block]) -> f32 {
    row.chunks_exact(22)
        .zip(xq)
        .map(|(b, y)| {
            let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
            half(b, 0) * y.d * idot(&nibbles5(&b[6..22], qh, 16), &y.qs) as f32
        })
        .sum()
}

fn dot_q5_1(row: &[u8], xq: &[Q8Block]) -> f32 {
    let mut sum = 0.0;
    let mut mins = 0.0;
    for (b, y) in row.chunks_exact(24).zip(xq) {
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        sum += half(b, 0) * y.d * idot(&nibbles5(&b[8..24], qh, 0), &y.qs) as f32;
        mins += half(b, 2) * y.s;
    }
    sum + mins
}

fn dot_q8_0(row: &[u8], xq: &[Q8Block]) -> f32 {
    row.chunks_exact(34)
        .zip(xq)
        .map(|(b, y)| {
            let w: &[i8; 32] = bytemuck_i8(&b[2..34]);
            half(b, 0) * y.d * idot(w, &y.qs) as f32
        })
        .sum()
}

/// Q2_K against 8-bit activation blocks: each 16 values are `d sc q - dmin m` (4-bit `sc`
/// and `m`), so a 32-value block contributes `d_x (d Σ sc Σ(q x) - dmin Σ m Σ x)` over its
/// two halves, in integers up to the two float terms. Value `l` of block `j` is the 2-bit
/// field `j % 4` of byte `l` of the 32-byte chunk `j / 4`.
fn dot_q2_k(row: &[u8], xq: &[Q8Block]) -> f32 {
    let mut sum = 0.0;
    for (b, ys) in row.chunks_exact(84).zip(xq.chunks_exact(QK_K / Q8_BLOCK)) {
        let (scales, qs) = (&b[0..16], &b[16..80]);
        let (d, dmin) = (half(b, 80), half(b, 82));
        for (j, y) in ys.iter().enumerate() {
            let (q, shift) = (&qs[32 * (j / 4)..][..32], 2 * (j % 4));
            let (mut isc, mut imin) = (0i32, 0i32);
            for h in 0..2 {
                let (mut dot, mut sx) = (0i32, 0i32);
                for (&w, &x) in q[16 * h..16 * (h + 1)].iter().zip(&y.qs[16 * h..]) {
                    dot += ((w >> shift) & 3) as i32 * x as i32;
                    sx += x as i32;
                }
                let sc = scales[2 * j + h];
                isc += (sc & 0x0F) as i32 * dot;
                imin += (sc >> 4) as i32 * sx;
            }
            sum += y.d * (d * isc as f32 - dmin * imin as f32);
        }
    }
    sum
}

/// Q3_K against 8-bit activation blocks: values `q - 4` (`q`: two low bits as Q2_K's, the
/// third from bit `j` of `hmask`) with a signed 6-bit scale per 16, summed in integers
/// before the one float step `d d_x (...)`, as Q6_K.
fn dot_q3_k(row: &[u8], xq: &[Q8Block]) -> f32 {
    let mut sum = 0.0;
    for (b, ys) in row.chunks_exact(110).zip(xq.chunks_exact(QK_K / Q8_BLOCK)) {
        let (hmask, qs) = (&b[0..32], &b[32..96]);
        let scales = q3_k_scales(&b[96..108]);
        let d = half(b, 108);
        for (j, y) in ys.iter().enumerate() {
            let (q, shift) = (&qs[32 * (j / 4)..][..32], 2 * (j % 4));
            let mut isum = 0i32;
            for h in 0..2 {
                let dot: i32 = (16 * h..16 * (h + 1))
                    .map(|l| {
                        let low = ((q[l] >> shift) & 3) as i32;
                        let high = ((hmask[l] >> j) & 1) as i32;
                        (low + 4 * high - 4) * y.qs[l] as i32
                    })
                    .sum();
                isum += (scales[2 * j + h] as i32 - 32) * dot;
            }
            sum += d * y.d * isum as f32;
        }
    }
    sum
}

/// Q4_K (or Q5_K with `five`) against 8-bit activation blocks: each 32-value sub-block
/// is `d * sc * q - dmin * m`, so it contributes `d sc d_x sum(q x) - dmin m sum(x)`.
fn dot_q4_k(row: &[u8], xq: &[Q8Block], five: bool) -> f32 {
    let ts = if five { 176 } else { 144 };
    let (mut sum, mut mins) = (0.0, 0.0);
    for (b, ys) in row.chunks_exact(ts).zip(xq.chunks_exact(QK_K / Q8_BLOCK)) {
        let (d, dmin) = (half(b, 0), half(b, 2));
        let (qh, qs) = if five {
            (&b[16..48], &b[48..176])
        } else {
            (&b[0..0], &b[16..144])
        };
        for (j, y) in ys.iter().enumerate() {
            let (sc, m) = k4_scale_min(j, &b[4..16]);
            let q = &qs[32 * (j / 2)..][..32];
            let dot: i32 = (0..32)
                .map(|l| {
                    let mut v = if j % 2 == 0 { q[l] & 0x0F } else { q[l] >> 4 };
                    if five {
                        v |= ((qh[l] >> j) & 1) << 4;
                    }
                    v as i32 * y.qs[l] as i32
                })
                .sum();
            sum += d * sc as f32 * y.d * dot as f32;
            mins += dmin * m as f32 * y.sx;
        }
    }
    sum - mins
}

/// Q6_K against 8-bit activation blocks: a scale per 16 values, so each 32-value block
/// sums its two halves' integer products times their scales before the float step.
fn dot_q6_k(row: &[u8], xq: &[Q8Block]) -> f32 {
    let mut sum = 0.0;
    for (b, ys) in row.chunks_exact(210).zip(xq.chunks_exact(QK_K / Q8_BLOCK)) {
        let w = q6_k_values(b);
        let d = half(b, 208);
        for (j, y) in ys.iter().enumerate() {
            let half_dot = |h: usize| -> i32 {
                let at = 32 * j + 16 * h;
                (0..16)
                    .map(|l| (w[at + l] as i32 - 32) * y.qs[16 * h + l] as i32)
                    .sum()
            };
            let sc = |h: usize| b[192 + 2 * j + h] as i8 as i32;
            sum += d * y.d * (sc(0) * half_dot(0) + sc(1) * half_dot(1)) as f32;
        }
    }
    sum
}

/// The 256 unsigned 6-bit values (stored value + 32) of a Q6_K block, in order.
fn q6_k_values(b: &[u8]) -> [u8; QK_K] {
    let mut v = [0u8; QK_K];
    for n in 0..QK_K / 128 {
        let (ql, qh) = (&b[64 * n..], &b[128 + 32 * n..]);
        for l in 0..32 {
            let at = 128 * n + l;
            v[at] = (ql[l] & 0x0F) | ((qh[l] & 3) << 4);
            v[at + 32] = (ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4);
            v[at + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            v[at + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
    v
}

fn bytemuck_i8(b: &[u8]) -> &[i8; 32] {
    let b: &[u8; 32] = b.try_into().expect("32-byte block");
    // SAFETY: u8 and i8 have the same size and alignment, and every bit pattern is valid.
    unsafe { &*(b as *const [u8; 32] as *const [i8; 32]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_quantization_equals_the_scalar_loop() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let x: Vec<f32> = (0..32 * 64)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let v = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                // Some blocks all zero, some with exact ties (k + 0.5 steps).
                match i / 32 % 8 {
                    0 => 0.0,
                    1 => (i % 32) as f32 * 0.5 - 8.0,
                    _ => v * (1 + i / 97) as f32,
                }
            })
            .collect();
        let mut fast = vec![Q8Block::default(); 64];
        let mut slow = vec![Q8Block::default(); 64];
        quantize_q8(&x, &mut fast);
        quantize_q8_body(&x, &mut slow);
        for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
            assert_eq!(
                (a.d, a.s, a.sx, a.h, a.qs),
                (b.d, b.s, b.sx, b.h, b.qs),
                "block {i}"
            );
        }
    }
}
