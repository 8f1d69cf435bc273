//! Reading GGUF blocks on the device: weights stay in their file layout, bound as `u32`
//! words, and each kernel thread dequantizes one 32-weight unit into registers.
//!
//! Unit `u` of a row is weights `32u..32u + 32`: one block of Q4_0/Q4_1/Q8_0, 32 F16/F32
//! values, or one eighth of a K-quant super-block.

use cubecl::prelude::*;

/// Weight formats, as the comptime tag of the kernels that read them.
pub mod format {
    pub const F32: u32 = 0;
    pub const F16: u32 = 1;
    pub const Q4_0: u32 = 2;
    pub const Q4_1: u32 = 3;
    pub const Q8_0: u32 = 4;
    pub const Q4_K: u32 = 5;
    pub const Q5_K: u32 = 6;
    pub const Q6_K: u32 = 7;
}

/// The little-endian `u32` at byte `off`, which need not be aligned (Q4_0 blocks are 18
/// bytes, Q6_K 210). Buffers carry a spare word at the end for the unaligned tail.
#[cube]
pub fn word_at(w: &[u32], off: usize) -> u32 {
    let i = off / 4;
    let shift = ((off % 4) * 8) as u32;
    let lo = w[i];
    let mut v = lo;
    if shift != 0 {
        v = (lo >> shift) | (w[i + 1] << (32 - shift));
    }
    v
}

#[cube]
pub fn byte_at(w: &[u32], off: usize) -> u32 {
    (w[off / 4] >> (((off % 4) * 8) as u32)) & 0xFF
}

/// IEEE half bits to f32 (normals and subnormals; weights hold no infinities).
#[cube]
pub fn half_to_f32(h: u32) -> f32 {
    let exp = (h >> 10) & 0x1F;
    let mant = h & 0x3FF;
    let mut v = f32::reinterpret(((exp + 112) << 23) | (mant << 13));
    if exp == 0 {
        v = f32::cast_from(mant) * 5.960_464_5e-8;
    }
    if (h & 0x8000) != 0 {
        v = -v;
    }
    v
}

/// The f16 at byte `off` (even).
#[cube]
pub fn half_at(w: &[u32], off: usize) -> f32 {
    half_to_f32((w[off / 4] >> (((off % 4) * 8) as u32)) & 0xFFFF)
}

/// A signed byte as f32.
#[cube]
fn signed(b: u32) -> f32 {
    let mut v = f32::cast_from(b);
    if b >= 128 {
        v -= 256.0;
    }
    v
}

/// Whether [`dequantize_unit`] leaves an offset in `out[34]`, multiplied by the sum of the
/// unit's activations.
pub fn has_offset(format: u32) -> bool {
    format == format::Q4_1 || format == format::Q4_K || format == format::Q5_K
}

/// Whether that sum is the one recorded when the activations were rounded to 8 bits (the
/// f16 `d · Σq` Q4_1's CPU kernels and llama.cpp's take from the activation block) rather
/// than the sum of the rounded activations (the K-quants').
pub fn recorded_offset_sum(format: u32) -> bool {
    format == format::Q4_1
}

/// Scale and min of sub-block `j` from a Q4_K/Q5_K block's 12 packed 6-bit values.
#[cube]
#[allow(unused_assignments)]
fn scale_min_k4(w: &[u32], scales: usize, j: usize) -> (f32, f32) {
    let mut sc = 0u32;
    let mut m = 0u32;
    if j < 4 {
        sc = byte_at(w, scales + j) & 63;
        m = byte_at(w, scales + j + 4) & 63;
    } else {
        let hi = byte_at(w, scales + j + 4);
        sc = (hi & 0xF) | ((byte_at(w, scales + j - 4) >> 6) << 4);
        m = (hi >> 4) | ((byte_at(w, scales + j) >> 6) << 4);
    }
    (f32::cast_from(sc), f32::cast_from(m))
}

/// Unit `u` of the row starting at byte `row`, as weight `j` = `out[32 + j / 16] · out[j]
/// + out[34]`: the quants as integers (so that, with 8-bit activations, the products are
/// exact and summed as the CPU kernels and llama.cpp sum them), a scale per 16 weights and
/// an offset (Q4_1's min, a K-quant sub-block's `-dmin · m`; see [`has_offset`]).
#[cube]
pub fn dequantize_unit(
    w: &[u32],
    row: usize,
    u: usize,
    out: &mut Array<f32>,
    #[comptime] format: u32,
) {
    out[32] = 1.0;
    out[33] = 1.0;
    out[34] = 0.0;
    if comptime![format == format::F32] {
        let base = (row + u * 128) / 4;
        #[unroll]
        for j in 0..32usize {
            out[j] = f32::reinterpret(w[base + j]);
        }
    } else if comptime![format == format::F16] {
        let base = row + u * 64;
        #[unroll]
        for k in 0..16usize {
            let v = word_at(w, base + 4 * k);
            out[2 * k] = half_to_f32(v & 0xFFFF);
            out[2 * k + 1] = half_to_f32(v >> 16);
        }
    } else if comptime![format == format::Q4_0] {
        let b = row + u * 18;
        let d = half_at(w, b);
        #[unroll]
        for k in 0..4usize {
            let q = word_at(w, b + 2 + 4 * k);
            #[unroll]
            for i in 0..4usize {
                let byte = (q >> (8 * i as u32)) & 0xFF;
                out[4 * k + i] = f32::cast_from(byte & 0xF) - 8.0;
                out[16 + 4 * k + i] = f32::cast_from(byte >> 4) - 8.0;
            }
        }
        out[32] = d;
        out[33] = d;
    } else if comptime![format == format::Q4_1] {
        let b = row + u * 20;
        let d = half_at(w, b);
        let m = half_at(w, b + 2);
        #[unroll]
        for k in 0..4usize {
            let q = word_at(w, b + 4 + 4 * k);
            #[unroll]
            for i in 0..4usize {
                let byte = (q >> (8 * i as u32)) & 0xFF;
                out[4 * k + i] = f32::cast_from(byte & 0xF);
                out[16 + 4 * k + i] = f32::cast_from(byte >> 4);
            }
        }
        out[32] = d;
        out[33] = d;
        out[34] = m;
    } else if comptime![format == format::Q8_0] {
        let b = row + u * 34;
        let d = half_at(w, b);
        #[unroll]
        for k in 0..8usize {
            let q = word_at(w, b + 2 + 4 * k);
            #[unroll]
            for i in 0..4usize {
                out[4 * k + i] = signed((q >> (8 * i as u32)) & 0xFF);
            }
        }
        out[32] = d;
        out[33] = d;
    } else if comptime![format == format::Q4_K || format == format::Q5_K] {
        let five = comptime![format == format::Q5_K];
        let block_bytes = comptime![if five { 176usize } else { 144usize }];
        let (s, j) = (u / 8, u % 8);
        let b = row + s * block_bytes;
        let d = half_at(w, b);
        let dmin = half_at(w, b + 2);
        let (sc, m) = scale_min_k4(w, b + 4, j);
        let (scale, offset) = (d * sc, dmin * m);
        let qs_at = comptime![if five { 48usize } else { 16usize }];
        let qs = b + qs_at + 32 * (j / 2);
        let shift = (4 * (j % 2)) as u32;
        #[unroll]
        for k in 0..8usize {
            let q = word_at(w, qs + 4 * k);
            let mut high = 0u32;
            if comptime![five] {
                high = word_at(w, b + 16 + 4 * k);
            }
            #[unroll]
            for i in 0..4usize {
                let mut v = (q >> (8 * i as u32 + shift)) & 0xF;
                if comptime![five] {
                    v += ((high >> (8 * i as u32 + j as u32)) & 1) << 4;
                }
                out[4 * k + i] = f32::cast_from(v);
            }
        }
        out[32] = scale;
        out[33] = scale;
        out[34] = -offset;
    } else if comptime![format == format::Q6_K] {
        let (s, j) = (u / 8, u % 8);
        let b = row + s * 210;
        let (half, g) = (j / 4, j % 4);
        let ql = b + 64 * half + 32 * (g % 2);
        let low_shift = (4 * (g / 2)) as u32;
        let qh = b + 128 + 32 * half;
        let high_shift = (2 * g) as u32;
        let d = half_at(w, b + 208);
        let sc = b + 192 + 8 * half + 2 * g;
        let scale_lo = d * signed(byte_at(w, sc));
        let scale_hi = d * signed(byte_at(w, sc + 1));
        #[unroll]
        for k in 0..8usize {
            let lo = word_at(w, ql + 4 * k);
            let hi = word_at(w, qh + 4 * k);
            #[unroll]
            for i in 0..4usize {
                let v = ((lo >> (8 * i as u32 + low_shift)) & 0xF)
                    | (((hi >> (8 * i as u32 + high_shift)) & 3) << 4);
                out[4 * k + i] = f32::cast_from(v) - 32.0;
            }
        }
        out[32] = scale_lo;
        out[33] = scale_hi;
    }
}
