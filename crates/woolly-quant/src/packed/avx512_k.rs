//! AVX-512 VNNI kernels for the packed K-quants (see [`super`] for the layout): one 64-byte
//! register holds a block column of all four rows, and `vpdpbusd` forms the products and
//! their sums in one step (no 16-bit intermediate, so no saturation to avoid). Row `r` of
//! a group owns lanes `4r..4r + 4` of every vector.

use super::avx2_k::prefetch;
use super::avx512::{pick4, sum_quads_epi32, to_array};
use super::{Line, Q8Block, GROUP};
use std::arch::x86_64::*;

/// Blocks per super-block.
const SUB: usize = 8;

/// Lane `i` takes element `i / 4`: four row values spread to their rows' lanes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn spread_index() -> __m512i {
    _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)
}

/// The four rows' totals of an accumulator (each row's four lanes added: Q6_K converts and
/// scales the exact partial sums lane by lane, and adds them only here).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn rows(acc: __m512) -> [f32; GROUP] {
    let v = _mm512_add_ps(acc, _mm512_permute_ps::<0b10_11_00_01>(acc));
    let v = _mm512_add_ps(v, _mm512_permute_ps::<0b01_00_11_10>(v));
    let idx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    let mut out = [0f32; GROUP];
    // SAFETY: `out` is 4 f32 long; the store is unaligned.
    unsafe {
        _mm_storeu_ps(
            out.as_mut_ptr(),
            _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, v)),
        )
    };
    out
}

/// A block's 32 activations as two registers: values 0..16 in every 16-byte lane, then
/// values 16..32.
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
unsafe fn halves(y: &Q8Block) -> (__m512i, __m512i) {
    let q = y.qs.as_ptr() as *const __m128i;
    // SAFETY: `qs` is 32 bytes at offset 16 of a 16-byte aligned block.
    unsafe {
        (
            _mm512_broadcast_i32x4(_mm_load_si128(q)),
            _mm512_broadcast_i32x4(_mm_load_si128(q.add(1))),
        )
    }
}

/// Q4_K, or Q5_K with `FIVE`: per block `d sc * d_x * sum(u q)`, and the mins' `dmin m *
/// sum(x)` subtracted at the end. Each row's sum is formed in integers before the float
/// step, whose operations and order are the tiled prefill kernels' ([`super::amx`]): a
/// prompt gives the same logits prefilled at once or a token at a time.
///
/// # Safety
/// The CPU must pass [`super::avx512::available`]; for `units` super-blocks
/// (`sc.len() / 8`), `subs` holds 64 bytes, `qs` 8 (10 with `FIVE`) lines and every `ys[t]`
/// 8 blocks each.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
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
    let (mask, fifth, spread) = (
        _mm512_set1_epi8(0x0F),
        _mm512_set1_epi8(0x10),
        spread_index(),
    );
    let mut acc = [_mm512_setzero_ps(); T];
    let mut mins = [_mm_setzero_ps(); T];
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
                let w = _mm512_load_si512(line as *const _);
                let mut lo = _mm512_and_si512(w, mask);
                let mut hi = _mm512_and_si512(_mm512_srli_epi16::<4>(w), mask);
                if FIVE {
                    // Bits 2c and 2c + 1 of each byte are the fifth bits of values k, k + 16.
                    let h = _mm512_load_si512(lines.add(j / 4 * 5 + 4) as *const _);
                    let h = _mm512_srl_epi16(h, _mm_cvtsi32_si128(2 * (j % 4) as i32));
                    lo = _mm512_or_si512(lo, _mm512_and_si512(_mm512_slli_epi16::<4>(h), fifth));
                    hi = _mm512_or_si512(hi, _mm512_and_si512(_mm512_slli_epi16::<3>(h), fifth));
                }
                // [sc0..sc3, m0..m3] times [d, dmin]: the rows' block scales and mins.
                let s8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(sub as *const _));
                let dmb = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(s8));
                let d = _mm512_permutexvar_ps(spread, _mm512_castps256_ps512(dmb));
                let m = _mm256_extractf128_ps::<1>(dmb);
                for t in 0..T {
                    let y = ys[t].get_unchecked(b);
                    let (xl, xh) = halves(y);
                    let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xl);
                    let dot = sum_quads_epi32(_mm512_dpbusd_epi32(dot, hi, xh));
                    let scale = _mm512_mul_ps(d, _mm512_set1_ps(y.d));
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[t]);
                    mins[t] = _mm_fmadd_ps(m, _mm_set1_ps(y.sx), mins[t]);
                }
            }
        }
    }
    std::array::from_fn(|t| to_array(_mm_sub_ps(pick4::<4>(acc[t]), mins[t])))
}

/// Q6_K (decode and prefill: it has no tiled kernel): each block's two 16-value halves are summed as integers, `(u - 32) q` times their
/// own scale, then scaled once by `d * d_x`. The weights become signed (`u - 32`) and the
/// activations unsigned (`q + 128`, one xor), so the `128 * sum(u - 32)` this adds depends
/// on the weights alone: it is formed once per block column and starts the sums.
///
/// # Safety
/// The CPU must pass [`super::avx512::available`]; for `units` super-blocks
/// (`sc.len() / 4`), `subs` holds 64 bytes, `qs` 12 lines and every `ys[t]` 8 blocks each.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn q6k<const T: usize>(
    sc: &[u16],
    subs: &[u8],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let units = sc.len() / GROUP;
    assert!(subs.len() >= units * SUB * 2 * GROUP && qs.len() >= units * 12);
    assert!(ys.iter().all(|y| y.len() >= units * SUB));
    let (mask, top, thirty_two, bias) = (
        _mm512_set1_epi8(0x0F),
        _mm512_set1_epi8(0x30),
        _mm512_set1_epi8(32),
        _mm512_set1_epi8(-128),
    );
    let spread = spread_index();
    // Lane `i` takes element `4 + i / 4`: the second halves' scales.
    let spread_b = _mm512_add_epi32(spread, _mm512_set1_epi32(4));
    let mut acc = [_mm512_setzero_ps(); T];
    for u in 0..units {
        // SAFETY: every pointer below stays within the bounds asserted above.
        unsafe {
            let d4 = _mm_cvtph_ps(_mm_loadl_epi64(sc.as_ptr().add(u * GROUP) as *const _));
            let d = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d4));
            let lines = qs.as_ptr().add(u * 12);
            for j in 0..SUB {
                let (b, pair, c) = (u * SUB + j, j / 2, j % 2);
                let line = lines.add(pair * 3 + c);
                let sub = subs.as_ptr().add(b * 2 * GROUP);
                prefetch(line, sub);
                let w = _mm512_load_si512(line as *const _);
                let h = _mm512_load_si512(lines.add(pair * 3 + 2) as *const _);
                // This block's bit pairs sit in the low (c = 0) or high half of each byte.
                let h = if c == 0 { h } else { _mm512_srli_epi16::<4>(h) };
                let lo = _mm512_or_si512(
                    _mm512_and_si512(w, mask),
                    _mm512_and_si512(_mm512_slli_epi16::<4>(h), top),
                );
                let hi = _mm512_or_si512(
                    _mm512_and_si512(_mm512_srli_epi16::<4>(w), mask),
                    _mm512_and_si512(_mm512_slli_epi16::<2>(h), top),
                );
                let (lo, hi) = (
                    _mm512_sub_epi8(lo, thirty_two),
                    _mm512_sub_epi8(hi, thirty_two),
                );
                // -128 * sum(u - 32) per lane: (-128 as u8 = 128) times the weights, negated.
                let zero = _mm512_setzero_si512();
                let start_lo = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, lo));
                let start_hi = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, hi));
                // Sub-scales [a0 a1 a2 a3 b0 b1 b2 b3], signed.
                let s8 =
                    _mm512_castsi256_si512(_mm256_cvtepi8_epi32(_mm_loadl_epi64(sub as *const _)));
                let (sa, sb) = (
                    _mm512_permutexvar_epi32(spread, s8),
                    _mm512_permutexvar_epi32(spread_b, s8),
                );
                for t in 0..T {
                    let y = ys[t].get_unchecked(b);
                    let (xl, xh) = halves(y);
                    let (xl, xh) = (_mm512_xor_si512(xl, bias), _mm512_xor_si512(xh, bias));
                    let a = _mm512_dpbusd_epi32(start_lo, xl, lo);
                    let z = _mm512_dpbusd_epi32(start_hi, xh, hi);
                    let p = _mm512_add_epi32(_mm512_mullo_epi32(a, sa), _mm512_mullo_epi32(z, sb));
                    let scale = _mm512_mul_ps(d, _mm512_set1_ps(y.d));
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), scale, acc[t]);
                }
            }
        }
    }
    std::array::from_fn(|t| rows(acc[t]))
}
