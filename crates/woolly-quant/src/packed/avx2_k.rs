//! AVX2 kernels for the packed K-quants (see [`super`] for the layout). They also serve
//! AVX-512 CPUs, for decode and prefill alike, so the two agree to the bit there too.

use super::avx2::{five_bits, halves, idot, nibbles};
use super::{Line, Q8Block, GROUP};
use crate::dequant::IQ4_VALUES;
use std::arch::x86_64::*;

/// Blocks per super-block.
const SUB: usize = 8;

/// Touches the quants and sub-scales one stride ahead (prefetches never fault).
#[inline(always)]
pub(super) fn prefetch(quants: *const Line, subs: *const u8) {
    // SAFETY: a hint only; wrapping_add keeps the pointer arithmetic defined.
    unsafe {
        let ahead = super::avx512::PREFETCH_AHEAD;
        _mm_prefetch::<_MM_HINT_T0>((quants as *const i8).wrapping_add(ahead));
        _mm_prefetch::<_MM_HINT_T0>((subs as *const i8).wrapping_add(ahead / 8));
    }
}

/// Rows 0-1 and rows 2-3 of a line.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load_pairs(line: *const Line) -> (__m256i, __m256i) {
    // SAFETY: the caller passes a line in bounds; lines are 64-byte aligned.
    unsafe {
        let p = line as *const __m256i;
        (_mm256_load_si256(p), _mm256_load_si256(p.add(1)))
    }
}

// The kernels keep one accumulator per token: the integer sums of rows 0-1 and 2-3 are
// paired up by one horizontal add into lanes `[r0 r0 r2 r2 | r1 r1 r3 r3]` before the
// float step, so a 4-token tile fits the 16 registers without spilling.

/// Lanes `[v0 v0 v2 v2 | v1 v1 v3 v3]` of four row values, the accumulators' layout.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn interleave(v: __m128) -> __m256 {
    _mm256_permutevar8x32_ps(
        _mm256_castps128_ps256(v),
        _mm256_setr_epi32(0, 0, 2, 2, 1, 1, 3, 3),
    )
}

/// The four rows' totals of an accumulator.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn rows(acc: __m256) -> [f32; GROUP] {
    let s = _mm_hadd_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
    let mut out = [0f32; GROUP];
    // SAFETY: `out` is 4 f32 long; the store is unaligned.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), _mm_shuffle_ps::<0b11_01_10_00>(s, s)) };
    out
}

/// Per-row integer sums `[r0 r0 r2 r2 | r1 r1 r3 r3]` of rows 0-1 and 2-3's 4-lane sums.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn pair_up(i01: __m256i, i23: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_hadd_epi32(i01, i23))
}

/// Q4_K, or Q5_K with `FIVE`: per block `d sc * d_x * sum(u q)`, and `dmin m * sum(x)`
/// subtracted at the end.
///
/// # Safety
/// The CPU must pass [`super::avx2::available`]; for `units` super-blocks (`sc.len() / 8`),
/// `subs` holds 64 bytes, `qs` 8 (10 with `FIVE`) lines and every `ys[t]` 8 blocks each.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn q4k<const FIVE: bool, const T: usize>(
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let units = sc.len() / (2 * GROUP);
    let per = if FIVE { 10 } else { 8 };
    assert!(subs.len() >= units * SUB * 2 * GROUP && qs.len() >= units * per);
    assert!(ys.iter().all(|y| y.len() >= units * SUB));
    let mut acc = [_mm256_setzero_ps(); T];
    for u in 0..units {
        // SAFETY: every pointer below stays within the bounds asserted above.
        unsafe {
            // [d0..d3, dmin0..dmin3] of the super-block.
            let dm = _mm256_cvtph_ps(_mm_loadu_si128(sc.as_ptr().add(u * 8) as *const _));
            let lines = qs.as_ptr().add(u * per);
            for j in 0..SUB {
                let b = u * SUB + j;
                let line = if FIVE {
                    lines.add(j / 4 * 5 + j % 4)
                } else {
                    lines.add(j)
                };
                let sub = subs.as_ptr().add(b * 2 * GROUP);
                prefetch(line, sub);
                let ((lo01, hi01), (lo23, hi23)) = if FIVE {
                    five_bits(lines.add(j / 4 * 5), j % 4)
                } else {
                    let (w01, w23) = load_pairs(line);
                    (nibbles(w01), nibbles(w23))
                };
                // [sc0..sc3, m0..m3] times [d, dmin]: the rows' block scales and mins.
                let s8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(sub as *const _));
                let dmb = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(s8));
                let d = interleave(_mm256_castps256_ps128(dmb));
                // The mins once per row: in the first of each row's two lanes.
                let m = _mm256_blend_ps::<0b0101_0101>(
                    _mm256_setzero_ps(),
                    interleave(_mm256_extractf128_ps::<1>(dmb)),
                );
                for t in 0..T {
                    let y = ys[t].get_unchecked(b);
                    let (xl, xh) = halves(y);
                    let p = pair_up(idot(lo01, hi01, xl, xh), idot(lo23, hi23, xl, xh));
                    acc[t] = _mm256_fmadd_ps(p, _mm256_mul_ps(d, _mm256_set1_ps(y.d)), acc[t]);
                    acc[t] = _mm256_fnmadd_ps(m, _mm256_set1_ps(y.sx), acc[t]);
                }
            }
        }
    }
    std::array::from_fn(|t| rows(acc[t]))
}

/// Q6_K: each block's two 16-value halves are summed as integers, `(u - 32) q` times their
/// own scale, then scaled once by `d * d_x`.
///
/// # Safety
/// The CPU must pass [`super::avx2::available`]; for `units` super-blocks (`sc.len() / 4`),
/// `subs` holds 64 bytes, `qs` 12 lines and every `ys[t]` 8 blocks each.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn q6k<const T: usize>(
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let units = sc.len() / GROUP;
    assert!(subs.len() >= units * SUB * 2 * GROUP && qs.len() >= units * 12);
    assert!(ys.iter().all(|y| y.len() >= units * SUB));
    let top = _mm256_set1_epi8(0x30);
    let thirty_two = _mm256_set1_epi8(32);
    // i16 scale `k` of 8 in every i16 of lane 0, scale `k + 1` in lane 1.
    let pick = |k: i8| {
        let (a, b) = (2 * k, 2 * k + 2);
        _mm256_setr_epi8(
            a,
            a + 1,
            a,
            a + 1,
            a,
            a + 1,
            a,
            a + 1,
            a,
            a + 1,
            a,
            a + 1,
            a,
            a + 1,
            a,
            a + 1,
            b,
            b + 1,
            b,
            b + 1,
            b,
            b + 1,
            b,
            b + 1,
            b,
            b + 1,
            b,
            b + 1,
            b,
            b + 1,
            b,
            b + 1,
        )
    };
    // Sub-scales are [a0 a1 a2 a3 b0 b1 b2 b3]: first halves, then second halves.
    let (pa01, pa23, pb01, pb23) = (pick(0), pick(2), pick(4), pick(6));
    let mut acc = [_mm256_setzero_ps(); T];
    for u in 0..units {
        // SAFETY: every pointer below stays within the bounds asserted above.
        unsafe {
            let d4 = _mm_cvtph_ps(_mm_loadl_epi64(sc.as_ptr().add(u * GROUP) as *const _));
            let d = interleave(d4);
            let lines = qs.as_ptr().add(u * 12);
            for j in 0..SUB {
                let (b, pair, c) = (u * SUB + j, j / 2, j % 2);
                let line = lines.add(pair * 3 + c);
                let sub = subs.as_ptr().add(b * 2 * GROUP);
                prefetch(line, sub);
                let (w01, w23) = load_pairs(line);
                let (h01, h23) = load_pairs(lines.add(pair * 3 + 2));
                // This block's bit pairs sit in the low (c = 0) or high half of each byte.
                let six = |w: __m256i, h: __m256i| {
                    let h = if c == 0 { h } else { _mm256_srli_epi16::<4>(h) };
                    let (lo, hi) = nibbles(w);
                    (
                        _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16::<4>(h), top)),
                        _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16::<2>(h), top)),
                    )
                };
                let ((lo01, hi01), (lo23, hi23)) = (six(w01, h01), six(w23, h23));
                let s16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64(
                    sub as *const _,
                )));
                let (sa01, sa23) = (
                    _mm256_shuffle_epi8(s16, pa01),
                    _mm256_shuffle_epi8(s16, pa23),
                );
                let (sb01, sb23) = (
                    _mm256_shuffle_epi8(s16, pb01),
                    _mm256_shuffle_epi8(s16, pb23),
                );
                for t in 0..T {
                    let y = ys[t].get_unchecked(b);
                    let (xl, xh) = halves(y);
                    let (ol, oh) = (
                        _mm256_maddubs_epi16(thirty_two, xl),
                        _mm256_maddubs_epi16(thirty_two, xh),
                    );
                    // (u - 32) x in i16 pairs, times the half's scale, summed in i32.
                    let dot = |lo, hi, sa, sb| {
                        let a = _mm256_sub_epi16(_mm256_maddubs_epi16(lo, xl), ol);
                        let b = _mm256_sub_epi16(_mm256_maddubs_epi16(hi, xh), oh);
                        _mm256_add_epi32(_mm256_madd_epi16(a, sa), _mm256_madd_epi16(b, sb))
                    };
                    let p = pair_up(dot(lo01, hi01, sa01, sb01), dot(lo23, hi23, sa23, sb23));
                    acc[t] = _mm256_fmadd_ps(p, _mm256_mul_ps(d, _mm256_set1_ps(y.d)), acc[t]);
                }
            }
        }
    }
    std::array::from_fn(|t| rows(acc[t]))
}

/// IQ4_NL, or IQ4_XS with `XS`: nibbles looked up in the grid by one byte shuffle, signed
/// weights times signed activations as `|w| * (x * sign w)`, `d (* scale)` per block.
///
/// # Safety
/// The CPU must pass [`super::avx2::available`]; for `nb` blocks (`qs.len()`), `sc` holds 4
/// halves per block (per 8 blocks with `XS`), `subs` 4 bytes per block with `XS`, and
/// every `ys[t]` `nb` blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn iq4<const XS: bool, const T: usize>(
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let nb = qs.len();
    let units = if XS { nb / SUB } else { nb };
    assert!(sc.len() >= units * GROUP && (!XS || subs.len() >= nb * GROUP));
    assert!(ys.iter().all(|y| y.len() >= nb));
    // SAFETY: the grid is 16 bytes.
    let grid = unsafe { _mm_loadu_si128(IQ4_VALUES.as_ptr() as *const __m128i) };
    let grid = _mm256_broadcastsi128_si256(grid);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); T];
    for b in 0..nb {
        // SAFETY: every pointer below stays within the bounds asserted above.
        unsafe {
            let line = qs.as_ptr().add(b);
            prefetch(line, subs.as_ptr().wrapping_add(b * GROUP));
            let look = |w: __m256i| {
                let (lo, hi) = nibbles(w);
                let (lo, hi) = (_mm256_shuffle_epi8(grid, lo), _mm256_shuffle_epi8(grid, hi));
                (lo, _mm256_sign_epi8(lo, lo), hi, _mm256_sign_epi8(hi, hi))
            };
            let (w01, w23) = load_pairs(line);
            let (l01, al01, h01, ah01) = look(w01);
            let (l23, al23, h23, ah23) = look(w23);
            let d4 = if XS {
                let d = _mm_cvtph_ps(_mm_loadl_epi64(sc.as_ptr().add(b / SUB * GROUP) as *const _));
                let s = (subs.as_ptr().add(b * GROUP) as *const i32).read_unaligned();
                _mm_mul_ps(d, _mm_cvtepi32_ps(_mm_cvtepi8_epi32(_mm_cvtsi32_si128(s))))
            } else {
                _mm_cvtph_ps(_mm_loadl_epi64(sc.as_ptr().add(b * GROUP) as *const _))
            };
            let d = interleave(d4);
            for t in 0..T {
                let y = ys[t].get_unchecked(b);
                let (xl, xh) = halves(y);
                // |w| |x| <= 127 * 127: a pair fits i16, two pairs may not.
                let dot = |l, al, h, ah| {
                    let a = _mm256_maddubs_epi16(al, _mm256_sign_epi8(xl, l));
                    let z = _mm256_maddubs_epi16(ah, _mm256_sign_epi8(xh, h));
                    _mm256_add_epi32(_mm256_madd_epi16(a, ones), _mm256_madd_epi16(z, ones))
                };
                let p = pair_up(dot(l01, al01, h01, ah01), dot(l23, al23, h23, ah23));
                acc[t] = _mm256_fmadd_ps(p, _mm256_mul_ps(d, _mm256_set1_ps(y.d)), acc[t]);
            }
        }
    }
    std::array::from_fn(|t| rows(acc[t]))
}
