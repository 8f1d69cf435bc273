//! NEON kernels for every packed layout (see [`super`]), in three variants chosen at run
//! time: plain NEON (`smull` + pairwise adds), dotprod (`sdot`) and i8mm (`smmla`, two
//! rows by two tokens per instruction, for prefill tiles).
//!
//! Every format is first turned into signed 8-bit weights, the 16 values a block's first
//! and second activation halves multiply; one integer routine ([`isums`]) then forms each
//! row's exact block sum in the variant's way, and one float step per block follows, the
//! same for every variant and tile width. The integer sums are exact and the float steps
//! are the portable kernels' own operations in their order (unfused multiplies and adds),
//! so the three variants, decode (one token) and prefill (four), and the portable kernels
//! on any CPU all agree to the bit: an ARM build reproduces an x86 build's portable tier.
//!
//! `sdot` and `smmla` are written as inline assembly: their intrinsics are not stable Rust.

use super::{Line, Q8Block, GROUP};
use crate::dequant::IQ4_VALUES;
use std::arch::aarch64::*;
use std::arch::asm;

/// Which instructions the integer sums use.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Neon,
    Dot,
    I8mm,
}

/// Whether the CPU has `sdot` (FEAT_DotProd), whatever the cap.
pub fn dotprod_detected() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}

/// Whether the CPU has `smmla` (FEAT_I8MM) and `sdot`, whatever the cap.
pub fn i8mm_detected() -> bool {
    dotprod_detected() && std::arch::is_aarch64_feature_detected!("i8mm")
}

/// Whether `variant` may run: the CPU has it and the cap allows it.
pub fn available(variant: Variant) -> bool {
    use crate::cpu::{allows, CpuFeatures};
    match variant {
        Variant::Neon => allows(CpuFeatures::Neon),
        Variant::Dot => allows(CpuFeatures::Dotprod) && dotprod_detected(),
        Variant::I8mm => allows(CpuFeatures::I8mm) && i8mm_detected(),
    }
}

/// `acc + a · b` per 4 bytes (`sdot`).
///
/// # Safety
/// The CPU must have FEAT_DotProd.
#[inline(always)]
unsafe fn sdot(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: register-only; the caller guarantees the instruction exists.
    unsafe {
        asm!(
            ".arch_extension dotprod",
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc, a = in(vreg) a, b = in(vreg) b,
            options(pure, nomem, nostack),
        )
    };
    acc
}

/// `acc + A Bᵀ` for `A`, `B` two rows of 8 bytes each (`smmla`): lanes
/// `[a0·b0, a0·b1, a1·b0, a1·b1]`.
///
/// # Safety
/// The CPU must have FEAT_I8MM.
#[inline(always)]
unsafe fn smmla(mut acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: register-only; the caller guarantees the instruction exists.
    unsafe {
        asm!(
            ".arch_extension i8mm",
            "smmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc, a = in(vreg) a, b = in(vreg) b,
            options(pure, nomem, nostack),
        )
    };
    acc
}

/// Four f16 values as f32 (`fcvtl`, base ARMv8: its intrinsic is not stable Rust either).
#[inline(always)]
fn f16x4(bits: &[u16]) -> float32x4_t {
    let bits = &bits[..4];
    // SAFETY: 4 halves are in bounds; `fcvtl` is part of every AArch64 FPU.
    unsafe {
        let h = vld1_u16(bits.as_ptr());
        let out: float32x4_t;
        asm!("fcvtl {o:v}.4s, {h:v}.4h", o = out(vreg) out, h = in(vreg) h,
             options(pure, nomem, nostack));
        out
    }
}

/// `a · b` summed per 4 lanes without `sdot`: widening multiplies, pairwise adds. Each
/// i16 lane holds one product (at most 128 * 127), so nothing saturates.
#[inline(always)]
fn dot_neon(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: NEON is part of every AArch64 CPU.
    unsafe {
        let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
        let hi = vmull_high_s8(a, b);
        vpadalq_s16(vpadalq_s16(acc, lo), hi)
    }
}

/// Row sums `[r0, r1, r2, r3]` of four rows' 4-lane partial sums.
#[inline(always)]
fn reduce4(a: [int32x4_t; GROUP]) -> int32x4_t {
    // SAFETY: NEON.
    unsafe { vpaddq_s32(vpaddq_s32(a[0], a[1]), vpaddq_s32(a[2], a[3])) }
}

/// One block column's exact integer sums `[r0..r3]` for each of `T` tokens: `w[r][h]`
/// times `x[t][h]`, summed over the `H` 16-byte halves.
///
/// # Safety
/// The CPU must have what `V` uses.
#[inline(always)]
unsafe fn isums<const V: u8, const H: usize, const T: usize>(
    w: &[[int8x16_t; H]; GROUP],
    x: &[[int8x16_t; H]; T],
) -> [int32x4_t; T] {
    if V == I8MM && T % 2 == 0 {
        // SAFETY: the caller checked FEAT_I8MM.
        return unsafe { isums_i8mm(w, x) };
    }
    std::array::from_fn(|t| {
        let rows = std::array::from_fn(|r| {
            let mut acc = unsafe { vdupq_n_s32(0) };
            for h in 0..H {
                acc = if V == NEON {
                    dot_neon(acc, w[r][h], x[t][h])
                } else {
                    // SAFETY: the caller checked FEAT_DotProd (i8mm CPUs have it too).
                    unsafe { sdot(acc, w[r][h], x[t][h]) }
                };
            }
            acc
        });
        reduce4(rows)
    })
}

/// [`isums`] with `smmla`: rows in pairs times tokens in pairs, 8 values per step.
///
/// # Safety
/// The CPU must have FEAT_I8MM; `T` is even.
#[inline(always)]
unsafe fn isums_i8mm<const H: usize, const T: usize>(
    w: &[[int8x16_t; H]; GROUP],
    x: &[[int8x16_t; H]; T],
) -> [int32x4_t; T] {
    // SAFETY: NEON throughout; `smmla` as the caller guarantees.
    unsafe {
        // `[a's first 8 | b's first 8]` and `[a's last 8 | b's last 8]`.
        let pair = |a: int8x16_t, b: int8x16_t| {
            let (a, b) = (vreinterpretq_s64_s8(a), vreinterpretq_s64_s8(b));
            (
                vreinterpretq_s8_s64(vzip1q_s64(a, b)),
                vreinterpretq_s8_s64(vzip2q_s64(a, b)),
            )
        };
        let wp: [[(int8x16_t, int8x16_t); H]; 2] =
            std::array::from_fn(|p| std::array::from_fn(|h| pair(w[2 * p][h], w[2 * p + 1][h])));
        let mut out = [vdupq_n_s32(0); T];
        for q in 0..T / 2 {
            let xp: [(int8x16_t, int8x16_t); H] =
                std::array::from_fn(|h| pair(x[2 * q][h], x[2 * q + 1][h]));
            // [r·t0, r·t1, r'·t0, r'·t1] for rows 0-1 and rows 2-3.
            let m: [int32x4_t; 2] = std::array::from_fn(|p| {
                let mut acc = vdupq_n_s32(0);
                for h in 0..H {
                    acc = smmla(acc, wp[p][h].0, xp[h].0);
                    acc = smmla(acc, wp[p][h].1, xp[h].1);
                }
                acc
            });
            out[2 * q] = vuzp1q_s32(m[0], m[1]);
            out[2 * q + 1] = vuzp2q_s32(m[0], m[1]);
        }
        out
    }
}

const NEON: u8 = 0;
const DOT: u8 = 1;
const I8MM: u8 = 2;

/// A token's block: its two 16-value halves.
#[inline(always)]
fn halves(y: &Q8Block) -> [int8x16_t; 2] {
    // SAFETY: `qs` is 32 bytes.
    unsafe { [vld1q_s8(y.qs.as_ptr()), vld1q_s8(y.qs.as_ptr().add(16))] }
}

/// Row `r`'s 16 bytes of a line: low nibbles (values 0-15) and high nibbles (16-31).
#[inline(always)]
fn nibbles(line: &Line, r: usize) -> (uint8x16_t, uint8x16_t) {
    // SAFETY: 16 bytes at `r * 16 < 64`.
    unsafe {
        let w = vld1q_u8(line.0.as_ptr().add(r * 16));
        (vandq_u8(w, vdupq_n_u8(0x0F)), vshrq_n_u8::<4>(w))
    }
}

#[inline(always)]
fn s8(v: uint8x16_t) -> int8x16_t {
    // SAFETY: a reinterpretation.
    unsafe { vreinterpretq_s8_u8(v) }
}

/// The float step shared by every format, as the portable kernels write it:
/// `acc += d * d_x * isum + extra` per row (`extra`: a min term, or `None`).
#[inline(always)]
fn step(
    acc: &mut float32x4_t,
    isum: int32x4_t,
    d: float32x4_t,
    yd: f32,
    extra: Option<float32x4_t>,
) {
    // SAFETY: NEON.
    unsafe {
        let v = vmulq_f32(vmulq_n_f32(d, yd), vcvtq_f32_s32(isum));
        *acc = vaddq_f32(*acc, extra.map_or(v, |e| vaddq_f32(v, e)));
    }
}

#[inline(always)]
fn to_rows(v: float32x4_t) -> [f32; GROUP] {
    let mut out = [0f32; GROUP];
    // SAFETY: 4 f32.
    unsafe { vst1q_f32(out.as_mut_ptr(), v) };
    out
}

/// Blocks per K-quant super-block.
const SUB: usize = 8;

/// The kernel for `kind`, as the portable ones compute it (see [`super::portable`]).
///
/// # Safety
/// The CPU must have what `V` uses; the slices are as [`super::PackedMatrix::tile`] cuts
/// them.
#[inline(always)]
unsafe fn kernel<const V: u8, const T: usize>(
    kind: super::PackedKind,
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    use super::PackedKind as K;
    let zero = unsafe { vdupq_n_f32(0.0) };
    let mut acc = [zero; T];
    let x_of = |b: usize| -> [[int8x16_t; 2]; T] { std::array::from_fn(|t| halves(&ys[t][b])) };
    match kind {
        K::Q4_0 | K::Q4_1 => {
            let off = kind == K::Q4_0;
            let per = if off { GROUP } else { 2 * GROUP };
            for (b, line) in qs.iter().enumerate() {
                let d = f16x4(&sc[b * per..]);
                let m = if off {
                    unsafe { vmulq_n_f32(d, -8.0) }
                } else {
                    f16x4(&sc[b * per + GROUP..])
                };
                let w = std::array::from_fn(|r| {
                    let (lo, hi) = nibbles(line, r);
                    [s8(lo), s8(hi)]
                });
                let i = unsafe { isums::<V, 2, T>(&w, &x_of(b)) };
                for t in 0..T {
                    let y = &ys[t][b];
                    let s = if off { y.sx } else { y.s };
                    step(
                        &mut acc[t],
                        i[t],
                        d,
                        y.d,
                        Some(unsafe { vmulq_n_f32(m, s) }),
                    );
                }
            }
        }
        K::Q5_0 => {
            for (u, lines) in qs.chunks_exact(5).enumerate() {
                for c in 0..4 {
                    let b = 4 * u + c;
                    let d = f16x4(&sc[b * GROUP..]);
                    let w = std::array::from_fn(|r| {
                        let (lo, hi) = fifth_bits(&lines[c], &lines[4], r, c);
                        // u - 16: signed weights, no offset term.
                        let sixteen = unsafe { vdupq_n_s8(16) };
                        unsafe { [vsubq_s8(s8(lo), sixteen), vsubq_s8(s8(hi), sixteen)] }
                    });
                    let i = unsafe { isums::<V, 2, T>(&w, &x_of(b)) };
                    for t in 0..T {
                        step(&mut acc[t], i[t], d, ys[t][b].d, None);
                    }
                }
            }
        }
        K::Q8_0 => {
            for (b, lines) in qs.chunks_exact(2).enumerate() {
                let d = f16x4(&sc[b * GROUP..]);
                // Stored as w + 128: flipping the top bit gives the signed weight.
                let w = std::array::from_fn(|r| {
                    let p = lines[r / 2].0[(r % 2) * 32..].as_ptr();
                    unsafe {
                        let flip = vdupq_n_u8(0x80);
                        [
                            s8(veorq_u8(vld1q_u8(p), flip)),
                            s8(veorq_u8(vld1q_u8(p.add(16)), flip)),
                        ]
                    }
                });
                let i = unsafe { isums::<V, 2, T>(&w, &x_of(b)) };
                for t in 0..T {
                    step(&mut acc[t], i[t], d, ys[t][b].d, None);
                }
            }
        }
        K::Q4K | K::Q5K => {
            let five = kind == K::Q5K;
            let per = if five { 10 } else { 8 };
            for (u, sc) in sc.chunks_exact(2 * GROUP).enumerate() {
                let lines = &qs[u * per..(u + 1) * per];
                let (d, dmin) = (f16x4(sc), f16x4(&sc[GROUP..]));
                for j in 0..SUB {
                    let b = u * SUB + j;
                    // [sc0..sc3, m0..m3] as floats.
                    let (scf, mf) = unsafe {
                        let s = vmovl_u8(vld1_u8(subs.as_ptr().add(b * 2 * GROUP)));
                        (
                            vcvtq_f32_u32(vmovl_u16(vget_low_u16(s))),
                            vcvtq_f32_u32(vmovl_high_u16(s)),
                        )
                    };
                    let (db, mb) = unsafe { (vmulq_f32(d, scf), vmulq_f32(dmin, mf)) };
                    let w = std::array::from_fn(|r| {
                        let (lo, hi) = if five {
                            fifth_bits(&lines[j / 4 * 5 + j % 4], &lines[j / 4 * 5 + 4], r, j % 4)
                        } else {
                            nibbles(&lines[j], r)
                        };
                        [s8(lo), s8(hi)]
                    });
                    let i = unsafe { isums::<V, 2, T>(&w, &x_of(b)) };
                    for t in 0..T {
                        let y = &ys[t][b];
                        // `- m * sx`, as the portable kernel subtracts it.
                        let m = unsafe { vnegq_f32(vmulq_n_f32(mb, y.sx)) };
                        step(&mut acc[t], i[t], db, y.d, Some(m));
                    }
                }
            }
        }
        K::Q6K => {
            for (u, sc) in sc.chunks_exact(GROUP).enumerate() {
                let lines = &qs[u * 12..(u + 1) * 12];
                let d = f16x4(sc);
                for j in 0..SUB {
                    let (b, pair, c) = (u * SUB + j, j / 2, j % 2);
                    let (nib, high) = (&lines[pair * 3 + c], &lines[pair * 3 + 2]);
                    let w: [[[int8x16_t; 1]; GROUP]; 2] = {
                        let both: [(int8x16_t, int8x16_t); GROUP] = std::array::from_fn(|r| {
                            let (lo, hi) = nibbles(nib, r);
                            unsafe {
                                let h = vld1q_u8(high.0.as_ptr().add(r * 16));
                                let h = if c == 0 { h } else { vshrq_n_u8::<4>(h) };
                                let three = vdupq_n_u8(3);
                                let lo = vorrq_u8(lo, vshlq_n_u8::<4>(vandq_u8(h, three)));
                                let hi = vorrq_u8(
                                    hi,
                                    vshlq_n_u8::<4>(vandq_u8(vshrq_n_u8::<2>(h), three)),
                                );
                                let k32 = vdupq_n_s8(32);
                                (vsubq_s8(s8(lo), k32), vsubq_s8(s8(hi), k32))
                            }
                        });
                        [
                            std::array::from_fn(|r| [both[r].0]),
                            std::array::from_fn(|r| [both[r].1]),
                        ]
                    };
                    let x = x_of(b);
                    let xa: [[int8x16_t; 1]; T] = std::array::from_fn(|t| [x[t][0]]);
                    let xz: [[int8x16_t; 1]; T] = std::array::from_fn(|t| [x[t][1]]);
                    let (a, z) =
                        unsafe { (isums::<V, 1, T>(&w[0], &xa), isums::<V, 1, T>(&w[1], &xz)) };
                    let (sa, sz) = unsafe {
                        let s = vmovl_s8(vld1_s8(subs.as_ptr().add(b * 2 * GROUP) as *const i8));
                        (vmovl_s16(vget_low_s16(s)), vmovl_high_s16(s))
                    };
                    for t in 0..T {
                        let i = unsafe { vmlaq_s32(vmulq_s32(sa, a[t]), sz, z[t]) };
                        step(&mut acc[t], i, d, ys[t][b].d, None);
                    }
                }
            }
        }
        K::IQ4NL | K::IQ4XS => {
            let xs = kind == K::IQ4XS;
            let grid = unsafe { vld1q_s8(IQ4_VALUES.as_ptr()) };
            for (b, line) in qs.iter().enumerate() {
                let mut d = f16x4(&sc[if xs { b / SUB } else { b } * GROUP..]);
                if xs {
                    d = unsafe {
                        let s = vmovl_s8(vld1_s8(subs.as_ptr().add(b * GROUP) as *const i8));
                        vmulq_f32(d, vcvtq_f32_s32(vmovl_s16(vget_low_s16(s))))
                    };
                }
                let w = std::array::from_fn(|r| {
                    let (lo, hi) = nibbles(line, r);
                    unsafe { [vqtbl1q_s8(grid, lo), vqtbl1q_s8(grid, hi)] }
                });
                let i = unsafe { isums::<V, 2, T>(&w, &x_of(b)) };
                for t in 0..T {
                    step(&mut acc[t], i[t], d, ys[t][b].d, None);
                }
            }
        }
    }
    std::array::from_fn(|t| to_rows(acc[t]))
}

/// Row `r`'s values `nibble | fifth << 4` of block column `c` of a unit whose fifth bits
/// sit in `high` (bits `2c` and `2c + 1` of byte `k`: values `k` and `k + 16`).
#[inline(always)]
fn fifth_bits(nib: &Line, high: &Line, r: usize, c: usize) -> (uint8x16_t, uint8x16_t) {
    let (lo, hi) = nibbles(nib, r);
    // SAFETY: 16 bytes at `r * 16 < 64`.
    unsafe {
        let h = vshlq_u8(
            vld1q_u8(high.0.as_ptr().add(r * 16)),
            vdupq_n_s8(-2 * c as i8),
        );
        (
            vorrq_u8(lo, vshlq_n_u8::<4>(vandq_u8(h, vdupq_n_u8(1)))),
            vorrq_u8(hi, vshlq_n_u8::<3>(vandq_u8(h, vdupq_n_u8(2)))),
        )
    }
}

/// Plain NEON.
///
/// # Safety
/// The slices are as [`super::PackedMatrix::tile`] cuts them.
pub unsafe fn tile_neon<const T: usize>(
    kind: super::PackedKind,
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    // SAFETY: as the caller guarantees.
    unsafe { kernel::<NEON, T>(kind, sc, subs, qs, ys) }
}

/// With `sdot`.
///
/// # Safety
/// The CPU must have FEAT_DotProd; the slices as for [`tile_neon`].
#[target_feature(enable = "dotprod")]
pub unsafe fn tile_dot<const T: usize>(
    kind: super::PackedKind,
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    // SAFETY: as the caller guarantees.
    unsafe { kernel::<DOT, T>(kind, sc, subs, qs, ys) }
}

/// With `smmla` for even tiles (`sdot` for one token).
///
/// # Safety
/// The CPU must have FEAT_I8MM and FEAT_DotProd; the slices as for [`tile_neon`].
#[target_feature(enable = "dotprod,i8mm")]
pub unsafe fn tile_i8mm<const T: usize>(
    kind: super::PackedKind,
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    // SAFETY: as the caller guarantees.
    unsafe { kernel::<I8MM, T>(kind, sc, subs, qs, ys) }
}
