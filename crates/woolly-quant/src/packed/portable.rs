//! The packed kernels in plain Rust: any CPU, and the reference the SIMD ones are tested
//! against. `OFF` is the weight offset folded into the activation sums (8 for Q4_0), or 0
//! when the group stores its own mins (Q4_1).

use super::{Line, Q8Block, GROUP};
use crate::dequant::IQ4_VALUES;

/// Blocks per K-quant super-block.
const SUB: usize = 8;

fn f16(bits: u16) -> f32 {
    half::f16::from_bits(bits).to_f32()
}

pub fn q4<const OFF: i32, const T: usize>(
    sc: &[u16],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let per_col = if OFF == 0 { 2 * GROUP } else { GROUP };
    let mut out = [[0f32; GROUP]; T];
    for (b, line) in qs.iter().enumerate() {
        let sc = &sc[b * per_col..(b + 1) * per_col];
        for r in 0..GROUP {
            let d = f16(sc[r]);
            let m = if OFF == 0 {
                f16(sc[GROUP + r])
            } else {
                -(OFF as f32) * d
            };
            let q = &line.0[r * 16..(r + 1) * 16];
            for (t, y) in ys.iter().enumerate() {
                let y = &y[b];
                let (lo, hi) = y.qs.split_at(16);
                let dot: i32 = q
                    .iter()
                    .zip(lo.iter().zip(hi))
                    .map(|(&w, (&a, &b))| (w & 0x0F) as i32 * a as i32 + (w >> 4) as i32 * b as i32)
                    .sum();
                let s = if OFF == 0 { y.s } else { y.sx };
                out[t][r] += d * y.d * dot as f32 + m * s;
            }
        }
    }
    out
}

/// Q5_0: `d (u - 16)` with `u` a nibble and a fifth bit, summed in integers per block;
/// four block columns per unit.
pub fn q5<const T: usize>(sc: &[u16], qs: &[Line], ys: [&[Q8Block]; T]) -> [[f32; GROUP]; T] {
    let mut out = [[0f32; GROUP]; T];
    for (u, lines) in qs.chunks_exact(5).enumerate() {
        for c in 0..4 {
            let b = 4 * u + c;
            for r in 0..GROUP {
                let d = f16(sc[b * GROUP + r]);
                let (q, h) = (&lines[c].0[r * 16..][..16], &lines[4].0[r * 16..][..16]);
                for (t, y) in ys.iter().enumerate() {
                    let y = &y[b];
                    let dot: i32 = (0..16)
                        .map(|k| {
                            let lo = (q[k] & 0x0F) | ((h[k] >> (2 * c)) & 1) << 4;
                            let hi = (q[k] >> 4) | ((h[k] >> (2 * c + 1)) & 1) << 4;
                            (lo as i32 - 16) * y.qs[k] as i32
                                + (hi as i32 - 16) * y.qs[k + 16] as i32
                        })
                        .sum();
                    out[t][r] += d * y.d * dot as f32;
                }
            }
        }
    }
    out
}

pub fn q8<const T: usize>(sc: &[u16], qs: &[Line], ys: [&[Q8Block]; T]) -> [[f32; GROUP]; T] {
    let mut out = [[0f32; GROUP]; T];
    for (b, lines) in qs.chunks_exact(2).enumerate() {
        for r in 0..GROUP {
            let d = f16(sc[b * GROUP + r]);
            let q = &lines[r / 2].0[(r % 2) * 32..][..32];
            for (t, y) in ys.iter().enumerate() {
                let y = &y[b];
                let dot: i32 = q
                    .iter()
                    .zip(&y.qs)
                    .map(|(&u, &x)| (u as i32 - 128) * x as i32)
                    .sum();
                out[t][r] += d * y.d * dot as f32;
            }
        }
    }
    out
}

/// Q4_K, or Q5_K with `FIVE` (fifth bits: one line after every 4 nibble lines).
pub fn q4k<const FIVE: bool, const T: usize>(
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let per = if FIVE { 10 } else { 8 };
    let mut out = [[0f32; GROUP]; T];
    for (u, sc) in sc.chunks_exact(2 * GROUP).enumerate() {
        let lines = &qs[u * per..(u + 1) * per];
        for j in 0..SUB {
            let b = u * SUB + j;
            let sub = &subs[b * 2 * GROUP..(b + 1) * 2 * GROUP];
            let (nib, high) = if FIVE {
                (&lines[j / 4 * 5 + j % 4].0, Some(&lines[j / 4 * 5 + 4].0))
            } else {
                (&lines[j].0, None)
            };
            for r in 0..GROUP {
                let d = f16(sc[r]) * sub[r] as f32;
                let m = f16(sc[GROUP + r]) * sub[GROUP + r] as f32;
                for (t, y) in ys.iter().enumerate() {
                    let y = &y[b];
                    let dot: i32 = (0..16)
                        .map(|k| {
                            let q = nib[r * 16 + k];
                            let (mut lo, mut hi) = (q & 0x0F, q >> 4);
                            if let Some(high) = high {
                                let h = high[r * 16 + k] >> (2 * (j % 4));
                                lo |= (h & 1) << 4;
                                hi |= ((h >> 1) & 1) << 4;
                            }
                            lo as i32 * y.qs[k] as i32 + hi as i32 * y.qs[k + 16] as i32
                        })
                        .sum();
                    out[t][r] += d * y.d * dot as f32 - m * y.sx;
                }
            }
        }
    }
    out
}

/// Q6_K: nibble lines in pairs, each pair followed by a line of their top bit pairs.
pub fn q6k<const T: usize>(
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let mut out = [[0f32; GROUP]; T];
    for (u, sc) in sc.chunks_exact(GROUP).enumerate() {
        let lines = &qs[u * 12..(u + 1) * 12];
        for j in 0..SUB {
            let (b, pair, c) = (u * SUB + j, j / 2, j % 2);
            let sub = &subs[b * 2 * GROUP..(b + 1) * 2 * GROUP];
            let (nib, high) = (&lines[pair * 3 + c].0, &lines[pair * 3 + 2].0);
            for r in 0..GROUP {
                let d = f16(sc[r]);
                for (t, y) in ys.iter().enumerate() {
                    let y = &y[b];
                    let (mut a, mut z) = (0i32, 0i32);
                    for k in 0..16 {
                        let (q, h) = (nib[r * 16 + k], high[r * 16 + k] >> (4 * c));
                        let lo = ((q & 0x0F) | (h & 3) << 4) as i32 - 32;
                        let hi = ((q >> 4) | ((h >> 2) & 3) << 4) as i32 - 32;
                        a += lo * y.qs[k] as i32;
                        z += hi * y.qs[k + 16] as i32;
                    }
                    let (sa, sz) = (sub[r] as i8 as i32, sub[GROUP + r] as i8 as i32);
                    out[t][r] += d * y.d * (sa * a + sz * z) as f32;
                }
            }
        }
    }
    out
}

/// IQ4_NL, or IQ4_XS with `XS` (a signed scale byte per block and row in `subs`): grid
/// values times the activations, `d (* scale)` per block.
pub fn iq4<const XS: bool, const T: usize>(
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let mut out = [[0f32; GROUP]; T];
    for (b, line) in qs.iter().enumerate() {
        let u = if XS { b / SUB } else { b };
        for r in 0..GROUP {
            let mut d = f16(sc[u * GROUP + r]);
            if XS {
                d *= subs[b * GROUP + r] as i8 as f32;
            }
            let q = &line.0[r * 16..(r + 1) * 16];
            for (t, y) in ys.iter().enumerate() {
                let y = &y[b];
                let dot: i32 = q
                    .iter()
                    .enumerate()
                    .map(|(k, &w)| {
                        IQ4_VALUES[(w & 0x0F) as usize] as i32 * y.qs[k] as i32
                            + IQ4_VALUES[(w >> 4) as usize] as i32 * y.qs[k + 16] as i32
                    })
                    .sum();
                out[t][r] += d * y.d * dot as f32;
            }
        }
    }
    out
}
