//! AVX2 packed kernels (CPUs without AVX-512 VNNI): the same layout, with `maddubs`.

use super::{Line, Q8Block, GROUP};
use std::arch::x86_64::*;

/// Whether the CPU has what these kernels need, whatever the cap.
pub fn detected() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// Whether they may run: the CPU has them and the cap allows them.
pub fn available() -> bool {
    crate::cpu::allows(crate::CpuFeatures::Avx2) && detected()
}

fn to_array(v: __m128) -> [f32; GROUP] {
    let mut out = [0f32; GROUP];
    // SAFETY: `out` is 4 f32 long; the store is unaligned.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), v) };
    out
}

/// The low and the high nibbles of 32 bytes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn nibbles(w: __m256i) -> (__m256i, __m256i) {
    let mask = _mm256_set1_epi8(0x0F);
    (
        _mm256_and_si256(w, mask),
        _mm256_and_si256(_mm256_srli_epi16::<4>(w), mask),
    )
}

/// Block column `c` of a unit of four nibble lines and one shared line of fifth bits
/// (Q5_0, Q5_K; see the module's layout): the low and high 16 values of rows 0-1 and of
/// rows 2-3, each `nibble | fifth << 4`.
///
/// # Safety
/// `quad` points at the unit's five lines, in bounds.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) unsafe fn five_bits(
    quad: *const Line,
    c: usize,
) -> ((__m256i, __m256i), (__m256i, __m256i)) {
    // SAFETY: the caller passes five lines in bounds; lines are 64-byte aligned.
    let (w, h) = unsafe { (quad.add(c) as *const __m256i, quad.add(4) as *const __m256i) };
    let (w01, w23, h01, h23) = unsafe {
        (
            _mm256_load_si256(w),
            _mm256_load_si256(w.add(1)),
            _mm256_load_si256(h),
            _mm256_load_si256(h.add(1)),
        )
    };
    // Bits 2c and 2c + 1 of each byte are the fifth bits of values k and k + 16.
    let (shift, fifth) = (_mm_cvtsi32_si128(2 * c as i32), _mm256_set1_epi8(0x10));
    let with_fifth = |w: __m256i, h: __m256i| {
        let ((lo, hi), h) = (nibbles(w), _mm256_srl_epi16(h, shift));
        (
            _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16::<4>(h), fifth)),
            _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16::<3>(h), fifth)),
        )
    };
    (with_fifth(w01, h01), with_fifth(w23, h23))
}

/// `lo * xl + hi * xh` summed per 4 bytes: unsigned weights below 64 times signed bytes
/// stay within i16 in pairs (2 * 63 * 127 < 2^15).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn idot(lo: __m256i, hi: __m256i, xl: __m256i, xh: __m256i) -> __m256i {
    let p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_maddubs_epi16(hi, xh));
    _mm256_madd_epi16(p, _mm256_set1_epi16(1))
}

/// Four rows' values spread to the lanes of two row-pair vectors: `[d0 x4, d1 x4]`,
/// `[d2 x4, d3 x4]`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn spread(d4: __m128) -> (__m256, __m256) {
    let d = _mm256_castps128_ps256(d4);
    (
        _mm256_permutevar8x32_ps(d, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)),
        _mm256_permutevar8x32_ps(d, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3)),
    )
}

/// Each row's total from the row-pair accumulators (four partial sums per row), plus
/// `extra`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn finish(acc01: __m256, acc23: __m256, extra: __m128) -> [f32; GROUP] {
    let (r0, r1) = (
        _mm256_castps256_ps128(acc01),
        _mm256_extractf128_ps::<1>(acc01),
    );
    let (r2, r3) = (
        _mm256_castps256_ps128(acc23),
        _mm256_extractf128_ps::<1>(acc23),
    );
    let sums = _mm_hadd_ps(_mm_hadd_ps(r0, r1), _mm_hadd_ps(r2, r3));
    to_array(_mm_add_ps(sums, extra))
}

/// # Safety
/// The CPU must pass [`available`]; `qs` holds `nb` lines, `sc` their scales (8 halves per
/// line when `OFF == 0`, else 4) and every `ys[t]` at least `nb` blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn q4<const OFF: i32, const T: usize>(
    sc: &[u16],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let per_col = if OFF == 0 { 2 * GROUP } else { GROUP };
    assert!(sc.len() >= qs.len() * per_col && ys.iter().all(|y| y.len() >= qs.len()));
    let mut acc01 = [_mm256_setzero_ps(); T];
    let mut acc23 = [_mm256_setzero_ps(); T];
    let mut mins = [_mm_setzero_ps(); T];
    for (b, line) in qs.iter().enumerate() {
        // SAFETY: lines are 64-byte aligned; the bounds were asserted above.
        unsafe {
            super::avx512::prefetch(line.0.as_ptr(), sc.as_ptr().add(b * per_col));
            let (lo01, hi01) = nibbles(_mm256_load_si256(line.0.as_ptr() as *const _));
            let (lo23, hi23) = nibbles(_mm256_load_si256(line.0.as_ptr().add(32) as *const _));
            let sp = sc.as_ptr().add(b * per_col) as *const __m128i;
            let (d4, m4) = if OFF == 0 {
                let dm = _mm256_cvtph_ps(_mm_loadu_si128(sp));
                (_mm256_castps256_ps128(dm), _mm256_extractf128_ps::<1>(dm))
            } else {
                let d = _mm_cvtph_ps(_mm_loadl_epi64(sp));
                (d, _mm_mul_ps(d, _mm_set1_ps(-(OFF as f32))))
            };
            let (d01, d23) = spread(d4);
            for t in 0..T {
                let y = ys[t].get_unchecked(b);
                let (xl, xh) = halves(y);
                let yd = _mm256_set1_ps(y.d);
                let (p01, p23) = (idot(lo01, hi01, xl, xh), idot(lo23, hi23, xl, xh));
                let (p01, p23) = (_mm256_cvtepi32_ps(p01), _mm256_cvtepi32_ps(p23));
                acc01[t] = _mm256_fmadd_ps(p01, _mm256_mul_ps(d01, yd), acc01[t]);
                acc23[t] = _mm256_fmadd_ps(p23, _mm256_mul_ps(d23, yd), acc23[t]);
                let s = if OFF == 0 { y.s } else { y.sx };
                mins[t] = _mm_fmadd_ps(m4, _mm_set1_ps(s), mins[t]);
            }
        }
    }
    std::array::from_fn(|t| finish(acc01[t], acc23[t], mins[t]))
}

/// # Safety
/// As for [`q4`], over Q5_0's units: five lines (four of nibbles, one of fifth bits) and
/// 16 halves per four block columns. Each block's `sum((u - 16) q)` is formed in integers
/// (`u = nibble | fifth << 4`) before its one float step, as the row kernel and llama.cpp
/// do; the same operations for every token, so its outputs do not depend on `T`.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn q5<const T: usize>(
    sc: &[u16],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let nb = qs.len() / 5 * 4;
    assert!(sc.len() >= nb * GROUP && ys.iter().all(|y| y.len() >= nb));
    let mut acc01 = [_mm256_setzero_ps(); T];
    let mut acc23 = [_mm256_setzero_ps(); T];
    let sixteen = _mm256_set1_epi8(16);
    for b in 0..nb {
        // SAFETY: the unit's five lines are in bounds (asserted above).
        unsafe {
            let ((lo01, hi01), (lo23, hi23)) = five_bits(qs.as_ptr().add(b / 4 * 5), b % 4);
            let sp = sc.as_ptr().add(b * GROUP) as *const __m128i;
            let (d01, d23) = spread(_mm_cvtph_ps(_mm_loadl_epi64(sp)));
            for t in 0..T {
                let y = ys[t].get_unchecked(b);
                let (xl, xh) = halves(y);
                let yd = _mm256_set1_ps(y.d);
                let offset = idot(sixteen, sixteen, xl, xh);
                let p01 = _mm256_sub_epi32(idot(lo01, hi01, xl, xh), offset);
                let p23 = _mm256_sub_epi32(idot(lo23, hi23, xl, xh), offset);
                let (p01, p23) = (_mm256_cvtepi32_ps(p01), _mm256_cvtepi32_ps(p23));
                acc01[t] = _mm256_fmadd_ps(p01, _mm256_mul_ps(d01, yd), acc01[t]);
                acc23[t] = _mm256_fmadd_ps(p23, _mm256_mul_ps(d23, yd), acc23[t]);
            }
        }
    }
    std::array::from_fn(|t| finish(acc01[t], acc23[t], _mm_setzero_ps()))
}

/// A block's first and second 16 activations, each in both 128-bit lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn halves(y: &Q8Block) -> (__m256i, __m256i) {
    let q = y.qs.as_ptr() as *const __m128i;
    // SAFETY: `qs` is 32 bytes, 16-byte aligned (`Q8Block` is `align(16)`, `qs` at 16).
    unsafe {
        (
            _mm256_broadcastsi128_si256(_mm_load_si128(q)),
            _mm256_broadcastsi128_si256(_mm_load_si128(q.add(1))),
        )
    }
}

/// # Safety
/// As for [`q4`], with two lines and 4 halves per block column. The weights are turned back
/// into signed bytes: `maddubs` of unsigned `w + 128` with activations could saturate i16.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn q8<const T: usize>(
    sc: &[u16],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let nb = qs.len() / 2;
    assert!(sc.len() >= nb * GROUP && ys.iter().all(|y| y.len() >= nb));
    let flip = _mm256_set1_epi8(-128);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); T];
    for (b, lines) in qs.chunks_exact(2).enumerate() {
        // SAFETY: lines are 64-byte aligned; the bounds were asserted above.
        unsafe {
            super::avx512::prefetch(lines[0].0.as_ptr(), sc.as_ptr().add(b * GROUP));
            super::avx512::prefetch(lines[1].0.as_ptr(), sc.as_ptr().add(b * GROUP));
            let w: [__m256i; GROUP] = std::array::from_fn(|r| {
                let p = lines[r / 2].0.as_ptr().add((r % 2) * 32);
                _mm256_xor_si256(_mm256_load_si256(p as *const _), flip)
            });
            let abs_w: [__m256i; GROUP] = std::array::from_fn(|r| _mm256_sign_epi8(w[r], w[r]));
            let d4 = _mm_cvtph_ps(_mm_loadl_epi64(sc.as_ptr().add(b * GROUP) as *const _));
            let d8 = _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(d4), d4);
            for t in 0..T {
                let y = ys[t].get_unchecked(b);
                let x = _mm256_loadu_si256(y.qs.as_ptr() as *const _);
                let p: [__m256i; GROUP] = std::array::from_fn(|r| {
                    let m = _mm256_maddubs_epi16(abs_w[r], _mm256_sign_epi8(x, w[r]));
                    _mm256_madd_epi16(m, ones)
                });
                // Per 128-bit lane: [row 0, row 1, row 2, row 3] partial sums.
                let rows =
                    _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
                let scale = _mm256_mul_ps(d8, _mm256_set1_ps(y.d));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(rows), scale, acc[t]);
            }
        }
    }
    std::array::from_fn(|t| {
        let a = acc[t];
        to_array(_mm_add_ps(
            _mm256_castps256_ps128(a),
            _mm256_extractf128_ps::<1>(a),
        ))
    })
}
