//! The packed kernels in plain Rust: any CPU, and the reference the SIMD ones are tested
//! against. `OFF` is the weight offset folded into the activation sums (8 for Q4_0), or 0
//! when the group stores its own mins (Q4_1).

use super::{Line, Q8Block, GROUP};

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
