//! Reference dequantization: GGUF blocks to f32, one block at a time, following ggml's
//! block layouts. The fused kernels are tested against these.

use half::{bf16, f16};

use super::{GgmlType, QK_K};

/// Why a slice of blocks could not be dequantized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantError {
    #[error("{ty}: {bytes} bytes is not a whole number of {block_bytes}-byte blocks")]
    PartialBlock {
        ty: GgmlType,
        bytes: usize,
        block_bytes: usize,
    },
    #[error("{ty}: {bytes} bytes hold {elements} values but the output has room for {out}")]
    OutputSize {
        ty: GgmlType,
        bytes: usize,
        elements: usize,
        out: usize,
    },
}

/// Dequantizes `data` (whole blocks of `ty`) into `out`, which must hold exactly as many
/// values as the blocks encode.
pub fn dequantize(ty: GgmlType, data: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    let (bs, ts) = (ty.block_size(), ty.type_size());
    if !data.len().is_multiple_of(ts) {
        return Err(QuantError::PartialBlock {
            ty,
            bytes: data.len(),
            block_bytes: ts,
        });
    }
    let elements = data.len() / ts * bs;
    if elements != out.len() {
        return Err(QuantError::OutputSize {
            ty,
            bytes: data.len(),
            elements,
            out: out.len(),
        });
    }
    let block_fn: fn(&[u8], &mut [f32]) = match ty {
        GgmlType::F32 => f32_block,
        GgmlType::F16 => f16_block,
        GgmlType::BF16 => bf16_block,
        GgmlType::Q4_0 => q4_0,
        GgmlType::Q4_1 => q4_1,
        GgmlType::Q5_0 => q5_0,
        GgmlType::Q5_1 => q5_1,
        GgmlType::Q8_0 => q8_0,
        GgmlType::Q8_1 => q8_1,
        GgmlType::Q2K => q2_k,
        GgmlType::Q3K => q3_k,
        GgmlType::Q4K => q4_k,
        GgmlType::Q5K => q5_k,
        GgmlType::Q6K => q6_k,
        GgmlType::Q8K => q8_k,
        GgmlType::IQ4NL => iq4_nl,
        GgmlType::IQ4XS => iq4_xs,
    };
    for (block, y) in data.chunks_exact(ts).zip(out.chunks_exact_mut(bs)) {
        block_fn(block, y);
    }
    Ok(())
}

#[inline]
pub(crate) fn half(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

fn f32_block(b: &[u8], y: &mut [f32]) {
    y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
}

fn f16_block(b: &[u8], y: &mut [f32]) {
    y[0] = half(b, 0);
}

fn bf16_block(b: &[u8], y: &mut [f32]) {
    y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32();
}

/// d: f16, qs: 16 bytes of nibbles; low nibbles are values 0..16, high nibbles 16..32.
fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    let qs = &b[2..18];
    for j in 0..16 {
        y[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
        y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
    }
}

/// d, m: f16, then nibbles as in Q4_0 without the offset.
fn q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half(b, 0), half(b, 2));
    let qs = &b[4..20];
    for j in 0..16 {
        y[j] = (qs[j] & 0x0F) as f32 * d + m;
        y[j + 16] = (qs[j] >> 4) as f32 * d + m;
    }
}

/// The fifth bit of value `j` is bit `j` of the 32-bit `qh`.
fn fifth_bits(qh: u32, j: usize) -> (u8, u8) {
    (
        (((qh >> j) << 4) & 0x10) as u8,
        ((qh >> (j + 12)) & 0x10) as u8,
    )
}

fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    let qs = &b[6..22];
    for j in 0..16 {
        let (h0, h1) = fifth_bits(qh, j);
        y[j] = (((qs[j] & 0x0F) | h0) as i32 - 16) as f32 * d;
        y[j + 16] = (((qs[j] >> 4) | h1) as i32 - 16) as f32 * d;
    }
}

fn q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half(b, 0), half(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let qs = &b[8..24];
    for j in 0..16 {
        let (h0, h1) = fifth_bits(qh, j);
        y[j] = ((qs[j] & 0x0F) | h0) as f32 * d + m;
        y[j + 16] = ((qs[j] >> 4) | h1) as f32 * d + m;
    }
}

fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    for (y, &q) in y.iter_mut().zip(&b[2..34]) {
        *y = q as i8 as f32 * d;
    }
}

/// d, s (= d * sum(qs)): f16; qs: 32 × i8.
fn q8_1(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    for (y, &q) in y.iter_mut().zip(&b[4..36]) {
        *y = q as i8 as f32 * d;
    }
}

/// scales: 16 bytes (4-bit scale, 4-bit min), qs: 64 bytes of 2-bit values, d, dmin: f16.
fn q2_k(b: &[u8], y: &mut [f32]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (half(b, 80), half(b, 82));
    let mut is = 0;
    for (n, q) in qs.chunks_exact(32).enumerate() {
        for j in 0..4 {
            let shift = 2 * j;
            for half_idx in 0..2 {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * (sc & 0x0F) as f32, dmin * (sc >> 4) as f32);
                let base = n * 128 + j * 32 + half_idx * 16;
                for l in 0..16 {
                    let v = (q[l + half_idx * 16] >> shift) & 3;
                    y[base + l] = dl * v as f32 - ml;
                }
            }
        }
    }
}

/// The twelve packed bytes of Q3_K hold sixteen 6-bit scales.
pub(crate) fn q3_k_scales(packed: &[u8]) -> [i8; 16] {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let word = |i: usize| {
        u32::from_le_bytes([
            packed[4 * i],
            packed[4 * i + 1],
            packed[4 * i + 2],
            packed[4 * i + 3],
        ])
    };
    let (a0, a1, tmp) = (word(0), word(1), word(2));
    let aux = [
        (a0 & KMASK2) | ((tmp & KMASK1) << 4),
        (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4),
        ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4),
        ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4),
    ];
    let mut out = [0i8; 16];
    for (i, w) in aux.iter().enumerate() {
        for (k, byte) in w.to_le_bytes().iter().enumerate() {
            out[4 * i + k] = *byte as i8;
        }
    }
    out
}

/// hmask: 32 bytes (third bit), qs: 64 bytes (low two bits), scales: 12 bytes, d: f16.
fn q3_k(b: &[u8], y: &mut [f32]) {
    let (hmask, qs) = (&b[0..32], &b[32..96]);
    let scales = q3_k_scales(&b[96..108]);
    let d = half(b, 108);
    let mut is = 0;
    let mut m = 1u8;
    for (n, q) in qs.chunks_exact(32).enumerate() {
        for j in 0..4 {
            let shift = 2 * j;
            for half_idx in 0..2 {
                let dl = d * (scales[is] as i32 - 32) as f32;
                is += 1;
                let base = n * 128 + j * 32 + half_idx * 16;
                for l in 0..16 {
                    let k = l + half_idx * 16;
                    let low = ((q[k] >> shift) & 3) as i32;
                    let high = if hmask[k] & m != 0 { 0 } else { 4 };
                    y[base + l] = dl * (low - high) as f32;
                }
            }
            m <<= 1;
        }
    }
}

/// Scale and min number `j` (6 bits each) of the twelve packed bytes of Q4_K and Q5_K.
pub(crate) fn k4_scale_min(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Scales and mins `(d1, m1, d2, m2)` of the two 32-value halves of 64-value group `i`.
fn k4_pair(i: usize, scales: &[u8], d: f32, dmin: f32) -> (f32, f32, f32, f32) {
    let (s1, m1) = k4_scale_min(2 * i, scales);
    let (s2, m2) = k4_scale_min(2 * i + 1, scales);
    (
        d * s1 as f32,
        dmin * m1 as f32,
        d * s2 as f32,
        dmin * m2 as f32,
    )
}

/// d, dmin: f16, scales: 12 bytes, qs: 128 bytes of nibbles (64 values per 32 bytes).
fn q4_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half(b, 0), half(b, 2));
    let scales = &b[4..16];
    for (i, q) in b[16..144].chunks_exact(32).enumerate() {
        let (d1, m1, d2, m2) = k4_pair(i, scales, d, dmin);
        let y = &mut y[i * 64..];
        for l in 0..32 {
            y[l] = d1 * (q[l] & 0x0F) as f32 - m1;
            y[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
        }
    }
}

/// As Q4_K with a fifth bit per value in qh (32 bytes).
fn q5_k(b: &[u8], y: &mut [f32]) {
    let (d, dmin) = (half(b, 0), half(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    for (i, ql) in b[48..176].chunks_exact(32).enumerate() {
        let (d1, m1, d2, m2) = k4_pair(i, scales, d, dmin);
        let (u1, u2) = (1u8 << (2 * i), 2u8 << (2 * i));
        let y = &mut y[i * 64..];
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[l] = d1 * ((ql[l] & 0x0F) + h1) as f32 - m1;
            y[l + 32] = d2 * ((ql[l] >> 4) + h2) as f32 - m2;
        }
    }
}

/// ql: 128 bytes (low four bits), qh: 64 bytes (high two bits), scales: 16 × i8, d: f16.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let d = half(b, 208);
    for n in 0..QK_K / 128 {
        let ql = &b[64 * n..];
        let qh = &b[128 + 32 * n..];
        let sc = &b[192 + 8 * n..];
        let y = &mut y[128 * n..];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}

/// d: f32, qs: 256 × i8, then 16 block sums (i16) the dequantizer does not need.
fn q8_k(b: &[u8], y: &mut [f32]) {
    let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    for (y, &q) in y.iter_mut().zip(&b[4..4 + QK_K]) {
        *y = q as i8 as f32 * d;
    }
}

/// The 16 values of the IQ4 formats' non-linear 4-bit grid.
pub(crate) const IQ4_VALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Block `ib`'s 6-bit scale of an IQ4_XS super-block, less its offset of 32.
pub(crate) fn iq4_xs_scale(b: &[u8], ib: usize) -> i32 {
    let high = u16::from_le_bytes([b[2], b[3]]);
    let low = (b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0F;
    (low as i32 | (((high >> (2 * ib)) & 3) as i32) << 4) - 32
}

/// d: f16, qs: 16 bytes of grid indices (value j low, value j + 16 high).
fn iq4_nl(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    for (j, &q) in b[2..18].iter().enumerate() {
        y[j] = d * IQ4_VALUES[(q & 0x0F) as usize] as f32;
        y[j + 16] = d * IQ4_VALUES[(q >> 4) as usize] as f32;
    }
}

/// d: f16, scales_h: u16, scales_l: 4 bytes (eight 6-bit scales), qs: 128 bytes, laid out
/// per 32 values as IQ4_NL's.
fn iq4_xs(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    for (ib, (q, y)) in b[8..136]
        .chunks_exact(16)
        .zip(y.chunks_exact_mut(32))
        .enumerate()
    {
        let dl = d * iq4_xs_scale(b, ib) as f32;
        for (j, &q) in q.iter().enumerate() {
            y[j] = dl * IQ4_VALUES[(q & 0x0F) as usize] as f32;
            y[j + 16] = dl * IQ4_VALUES[(q >> 4) as usize] as f32;
        }
    }
}
