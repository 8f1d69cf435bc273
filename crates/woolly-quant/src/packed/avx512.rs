//! AVX-512 VNNI packed kernels: one 64-byte load carries a block column of four rows, and
//! `vpdpbusd` multiplies the unsigned weights with the signed activations in one step.

use super::{Line, Q8Block, GROUP};
use std::arch::x86_64::*;

/// Whether the CPU has what these kernels need, whatever the cap.
pub fn detected() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
        && super::avx2::detected()
}

/// Whether they may run: the CPU has them and the cap allows them.
pub fn available() -> bool {
    crate::cpu::allows(crate::CpuFeatures::Avx512) && detected()
}

// The kernels sum each block's integer products for a row before converting them (exact,
// so in any order), then apply the scales block after block: the same float operations in
// the same order as the AMX kernels, so a prefill and a decode step agree to the bit.

/// Every lane of each group of 4 gets the group's integer sum.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn sum_quads_epi32(v: __m512i) -> __m512i {
    let v = _mm512_add_epi32(v, _mm512_shuffle_epi32::<0b10_11_00_01>(v));
    _mm512_add_epi32(v, _mm512_shuffle_epi32::<0b01_00_11_10>(v))
}

/// Every lane of each group of 8 gets the group's integer sum.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn sum_octets_epi32(v: __m512i) -> __m512i {
    let v = sum_quads_epi32(v);
    _mm512_add_epi32(v, _mm512_shuffle_i32x4::<0b10_11_00_01>(v, v))
}

/// Lanes `0, step, 2 step, 3 step` of `v`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn pick4<const STEP: i32>(v: __m512) -> __m128 {
    let idx = _mm512_setr_epi32(
        0,
        STEP,
        2 * STEP,
        3 * STEP,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    );
    _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, v))
}

/// Bytes ahead of the current line to prefetch: one core keeps only a few cache misses in
/// flight by itself, too few to stream weights at DRAM speed without software prefetch.
pub const PREFETCH_AHEAD: usize = 1024;

/// Touches the weights and scales `PREFETCH_AHEAD` bytes ahead (past a matrix's end the
/// hint is simply dropped: prefetches never fault).
#[inline(always)]
pub fn prefetch(quants: *const u8, scales: *const u16) {
    // SAFETY: prefetch is a hint and never faults; wrapping_add avoids out-of-bounds UB.
    unsafe {
        _mm_prefetch::<_MM_HINT_T0>(quants.wrapping_add(PREFETCH_AHEAD) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(scales.wrapping_add(PREFETCH_AHEAD / 4) as *const i8);
    }
}

pub(super) fn to_array(v: __m128) -> [f32; GROUP] {
    let mut out = [0f32; GROUP];
    // SAFETY: `out` is 4 f32 long; the store is unaligned.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), v) };
    out
}

/// # Safety
/// The CPU must pass [`available`]; `qs` holds `nb` lines, `sc` their scales (8 halves per
/// line when `OFF == 0`, else 4) and every `ys[t]` at least `nb` blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn q4<const OFF: i32, const T: usize>(
    sc: &[u16],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let per_col = if OFF == 0 { 2 * GROUP } else { GROUP };
    assert!(sc.len() >= qs.len() * per_col && ys.iter().all(|y| y.len() >= qs.len()));
    let mask = _mm512_set1_epi8(0x0F);
    let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    let mut acc = [_mm512_setzero_ps(); T];
    let mut mins = [_mm_setzero_ps(); T];
    for (b, line) in qs.iter().enumerate() {
        // SAFETY: lines are 64-byte aligned; the bounds were asserted above.
        unsafe {
            prefetch(line.0.as_ptr(), sc.as_ptr().add(b * per_col));
            let w = _mm512_load_si512(line.0.as_ptr() as *const _);
            let lo = _mm512_and_si512(w, mask);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(w), mask);
            let sp = sc.as_ptr().add(b * per_col) as *const __m128i;
            let (d4, m4) = if OFF == 0 {
                let dm = _mm256_cvtph_ps(_mm_loadu_si128(sp));
                (_mm256_castps256_ps128(dm), _mm256_extractf128_ps::<1>(dm))
            } else {
                let d = _mm_cvtph_ps(_mm_loadl_epi64(sp));
                (d, _mm_mul_ps(d, _mm_set1_ps(-(OFF as f32))))
            };
            let d16 = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d4));
            for t in 0..T {
                let y = ys[t].get_unchecked(b);
                let q = y.qs.as_ptr() as *const __m128i;
                let xl = _mm512_broadcast_i32x4(_mm_load_si128(q));
                let xh = _mm512_broadcast_i32x4(_mm_load_si128(q.add(1)));
                let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xl);
                let dot = sum_quads_epi32(_mm512_dpbusd_epi32(dot, hi, xh));
                let scale = _mm512_mul_ps(d16, _mm512_set1_ps(y.d));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[t]);
                let s = if OFF == 0 { y.s } else { y.sx };
                mins[t] = _mm_fmadd_ps(m4, _mm_set1_ps(s), mins[t]);
            }
        }
    }
    std::array::from_fn(|t| to_array(_mm_add_ps(pick4::<4>(acc[t]), mins[t])))
}

/// # Safety
/// As for [`q4`], with two lines and 4 halves per block column.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn q8<const T: usize>(
    sc: &[u16],
    qs: &[Line],
    ys: [&[Q8Block]; T],
) -> [[f32; GROUP]; T] {
    let nb = qs.len() / 2;
    assert!(sc.len() >= nb * GROUP && ys.iter().all(|y| y.len() >= nb));
    let spread01 = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    let spread23 = _mm512_setr_epi32(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    let mut acc01 = [_mm512_setzero_ps(); T];
    let mut acc23 = [_mm512_setzero_ps(); T];
    let mut mins = [_mm_setzero_ps(); T];
    for (b, lines) in qs.chunks_exact(2).enumerate() {
        // SAFETY: lines are 64-byte aligned; the bounds were asserted above.
        unsafe {
            prefetch(lines[0].0.as_ptr(), sc.as_ptr().add(b * GROUP));
            prefetch(lines[1].0.as_ptr(), sc.as_ptr().add(b * GROUP));
            let w01 = _mm512_load_si512(lines[0].0.as_ptr() as *const _);
            let w23 = _mm512_load_si512(lines[1].0.as_ptr() as *const _);
            let d4 = _mm_cvtph_ps(_mm_loadl_epi64(sc.as_ptr().add(b * GROUP) as *const _));
            let m4 = _mm_mul_ps(d4, _mm_set1_ps(-128.0));
            let d = _mm512_castps128_ps512(d4);
            let (d01, d23) = (
                _mm512_permutexvar_ps(spread01, d),
                _mm512_permutexvar_ps(spread23, d),
            );
            for t in 0..T {
                let y = ys[t].get_unchecked(b);
                let x = _mm512_broadcast_i64x4(_mm256_loadu_si256(y.qs.as_ptr() as *const _));
                let yd = _mm512_set1_ps(y.d);
                let p01 = sum_octets_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w01, x));
                let p23 = sum_octets_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w23, x));
                acc01[t] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(p01), _mm512_mul_ps(d01, yd), acc01[t]);
                acc23[t] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(p23), _mm512_mul_ps(d23, yd), acc23[t]);
                mins[t] = _mm_fmadd_ps(m4, _mm_set1_ps(y.sx), mins[t]);
            }
        }
    }
    std::array::from_fn(|t| {
        // Rows 0 and 1 sit in lanes 0 and 8 of `acc01`, rows 2 and 3 in those of `acc23`.
        let rows = _mm512_permutex2var_ps(
            acc01[t],
            _mm512_setr_epi32(0, 8, 16, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            acc23[t],
        );
        to_array(_mm_add_ps(_mm512_castps512_ps128(rows), mins[t]))
    })
}
