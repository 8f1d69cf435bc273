//! AVX-512 VNNI kernels for the packed K-quants (see [`super`] for the layout): one 64-byte
//! register holds a block column of all four rows, and `vpdpbusd` forms the products and
//! their sums in one step (no 16-bit intermediate, so no saturation to avoid). Row `r` of
//! a group owns lanes `4r..4r + 4` of every vector.

use super::avx2_k::prefetch;
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

/// The four rows' totals of an accumulator, each row's four lanes added `(l0 + l1) + (l2 +
/// l3)` (Q6_K's exact partial sums; Q4_K's four blocks' partial sums).
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

/// Lane `4r + i` of two sub-block byte runs widened to `u32` (`a`: blocks `j, j + 1`,
/// `b`: blocks `j + 2, j + 3`, each `[sc0..sc3, m0..m3]`): row `r`'s scale of block `j + i`.
/// Add 4 for the mins.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn scale_index() -> __m512i {
    _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27)
}

/// Four blocks' integer dots (row `r` in lanes `4r..4r + 4` of each) summed per row: lane
/// `4r + i` gets row `r`'s total of block `i`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn sum_four(d: [__m512i; 4]) -> __m512i {
    let s01 = _mm512_add_epi32(
        _mm512_unpacklo_epi32(d[0], d[1]),
        _mm512_unpackhi_epi32(d[0], d[1]),
    );
    let s23 = _mm512_add_epi32(
        _mm512_unpacklo_epi32(d[2], d[3]),
        _mm512_unpackhi_epi32(d[2], d[3]),
    );
    _mm512_add_epi32(
        _mm512_unpacklo_epi64(s01, s23),
        _mm512_unpackhi_epi64(s01, s23),
    )
}

/// Four consecutive blocks' activation scales `[d0..d3]` and sums `[sx0..sx3]`, each
/// repeated in every 16-byte lane (lane `4r + i` meets block `i`).
///
/// # Safety
/// `y` must hold 4 blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
unsafe fn four_scales(y: *const Q8Block) -> (__m512, __m512) {
    // SAFETY: each block starts with `d, s, sx, pad`.
    let v: [__m128; 4] = std::array::from_fn(|i| unsafe { _mm_loadu_ps(&(*y.add(i)).d) });
    let (lo01, lo23) = (_mm_unpacklo_ps(v[0], v[1]), _mm_unpacklo_ps(v[2], v[3]));
    let (hi01, hi23) = (_mm_unpackhi_ps(v[0], v[1]), _mm_unpackhi_ps(v[2], v[3]));
    (
        _mm512_broadcast_f32x4(_mm_movelh_ps(lo01, lo23)),
        _mm512_broadcast_f32x4(_mm_movelh_ps(hi01, hi23)),
    )
}

/// Q4_K, or Q5_K with `FIVE`: per block `d sc * d_x * sum(u q)`, and the mins' `dmin m *
/// sum(x)` subtracted at the end. Each row's block sum is formed in integers, four blocks'
/// sums share one vector (lane `4r + i`: row `r`, block `4k + i`), so the float step runs
/// once per four blocks; the lanes are added `(b0 + b1) + (b2 + b3)` at the end. The tiled
/// prefill kernels ([`super::amx`]) keep the same four partial sums in the same order: a
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
    let spread_min = _mm512_add_epi32(spread, _mm512_set1_epi32(4));
    let sc_index = scale_index();
    let m_index = _mm512_add_epi32(sc_index, _mm512_set1_epi32(4));
    let mut acc = [_mm512_setzero_ps(); T];
    let mut mins = [_mm512_setzero_ps(); T];
    for u in 0..units {
        // SAFETY: every pointer below stays within the bounds asserted above.
        unsafe {
            // [d0..d3, dmin0..dmin3] of the super-block, spread to the rows' lanes.
            let dm = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(
                sc.as_ptr().add(u * 8) as *const _,
            )));
            let (d, dmin) = (
                _mm512_permutexvar_ps(spread, dm),
                _mm512_permutexvar_ps(spread_min, dm),
            );
            let lines = qs.as_ptr().add(u * per);
            for k in 0..SUB / 4 {
                let b0 = u * SUB + 4 * k;
                let sub = subs.as_ptr().add(b0 * 2 * GROUP);
                let mut w = [(_mm512_setzero_si512(), _mm512_setzero_si512()); 4];
                for (i, w) in w.iter_mut().enumerate() {
                    let j = 4 * k + i;
                    let line = if FIVE {
                        lines.add(j / 4 * 5 + j % 4)
                    } else {
                        lines.add(j)
                    };
                    prefetch(line, sub);
                    let q = _mm512_load_si512(line as *const _);
                    let mut lo = _mm512_and_si512(q, mask);
                    let mut hi = _mm512_and_si512(_mm512_srli_epi16::<4>(q), mask);
                    if FIVE {
                        // Bits 2c and 2c + 1 of each byte are the fifth bits of values k, k + 16.
                        let h = _mm512_load_si512(lines.add(j / 4 * 5 + 4) as *const _);
                        let h = _mm512_srl_epi16(h, _mm_cvtsi32_si128(2 * i as i32));
                        lo =
                            _mm512_or_si512(lo, _mm512_and_si512(_mm512_slli_epi16::<4>(h), fifth));
                        hi =
                            _mm512_or_si512(hi, _mm512_and_si512(_mm512_slli_epi16::<3>(h), fifth));
                    }
                    *w = (lo, hi);
                }
                // d sc and dmin m of the four blocks, lane 4r + i.
                let a = _mm512_cvtepu8_epi32(_mm_loadu_si128(sub as *const _));
                let z = _mm512_cvtepu8_epi32(_mm_loadu_si128(sub.add(4 * GROUP) as *const _));
                let dsc = _mm512_mul_ps(
                    d,
                    _mm512_cvtepi32_ps(_mm512_permutex2var_epi32(a, sc_index, z)),
                );
                let dmm = _mm512_mul_ps(
                    dmin,
                    _mm512_cvtepi32_ps(_mm512_permutex2var_epi32(a, m_index, z)),
                );
                for t in 0..T {
                    let y = ys[t].as_ptr().add(b0);
                    let dots = std::array::from_fn(|i| {
                        let (xl, xh) = halves(&*y.add(i));
                        let dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[i].0, xl);
                        _mm512_dpbusd_epi32(dot, w[i].1, xh)
                    });
                    let (dx, sx) = four_scales(y);
                    let scale = _mm512_mul_ps(dsc, dx);
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum_four(dots)), scale, acc[t]);
                    mins[t] = _mm512_fmadd_ps(dmm, sx, mins[t]);
                }
            }
        }
    }
    std::array::from_fn(|t| {
        let (a, m) = (rows(acc[t]), rows(mins[t]));
        std::array::from_fn(|r| a[r] - m[r])
    })
}

/// Lane `4r + i` of two blocks' sub-scales widened to `i32` (`[a0..a3 b0..b3]` each, `a`
/// for values 0..16, `b` for 16..32): row `r`'s scale of half `i` (`a, b` of the first
/// block, then of the second).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn half_index() -> __m512i {
    _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)
}

/// Two consecutive blocks' activation scales `[d0 d0 d1 d1]` and `32 *` their halves'
/// sums `[h0 h0' h1 h1']`, each repeated in every 16-byte lane.
///
/// # Safety
/// `y` must hold 2 blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
unsafe fn two_halves(y: *const Q8Block) -> (__m512, __m512i) {
    // SAFETY: each block starts with `d, s, sx, h`.
    let (v0, v1) = unsafe { (_mm_loadu_ps(&(*y).d), _mm_loadu_ps(&(*y.add(1)).d)) };
    let d = _mm_shuffle_ps::<0b00_00_00_00>(v0, v1);
    // [sx0 sx1 h0 h1]: the four 16-bit sums sit in words 4..8.
    let h = _mm_srli_si128::<8>(_mm_castps_si128(_mm_unpackhi_ps(v0, v1)));
    let h = _mm_slli_epi32::<5>(_mm_cvtepi16_epi32(h));
    (_mm512_broadcast_f32x4(d), _mm512_broadcast_i32x4(h))
}

/// Q6_K (decode and prefill: it has no tiled kernel): `d * a * d_x * sum((u - 32) q)` per
/// 16-value half with its own scale `a`. `vpdpbusd` takes the 6-bit weights `u` as they
/// are; `32 * sum(q)` per half comes with the activations (`Q8Block::h`). Two blocks' four
/// halves share one vector (lane `4r + i`: row `r`, half `i`), so the float step runs once
/// per two blocks.
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
    let (mask, top) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(0x30));
    let (spread, halves_of) = (spread_index(), half_index());
    let mut acc = [_mm512_setzero_ps(); T];
    for u in 0..units {
        // SAFETY: every pointer below stays within the bounds asserted above.
        unsafe {
            let d4 = _mm_cvtph_ps(_mm_loadl_epi64(sc.as_ptr().add(u * GROUP) as *const _));
            let d = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d4));
            let lines = qs.as_ptr().add(u * 12);
            // Blocks 2p and 2p + 1 share a line of top bit pairs (low and high half of each byte).
            for pair in 0..SUB / 2 {
                let b0 = u * SUB + 2 * pair;
                let sub = subs.as_ptr().add(b0 * 2 * GROUP);
                let h = _mm512_load_si512(lines.add(pair * 3 + 2) as *const _);
                let w: [(__m512i, __m512i); 2] = std::array::from_fn(|c| {
                    let line = lines.add(pair * 3 + c);
                    prefetch(line, sub);
                    let q = _mm512_load_si512(line as *const _);
                    let h = if c == 0 { h } else { _mm512_srli_epi16::<4>(h) };
                    (
                        _mm512_or_si512(
                            _mm512_and_si512(q, mask),
                            _mm512_and_si512(_mm512_slli_epi16::<4>(h), top),
                        ),
                        _mm512_or_si512(
                            _mm512_and_si512(_mm512_srli_epi16::<4>(q), mask),
                            _mm512_and_si512(_mm512_slli_epi16::<2>(h), top),
                        ),
                    )
                });
                let s = _mm512_cvtepi8_epi32(_mm_loadu_si128(sub as *const _));
                let ds = _mm512_mul_ps(
                    d,
                    _mm512_cvtepi32_ps(_mm512_permutexvar_epi32(halves_of, s)),
                );
                for t in 0..T {
                    let y = ys[t].as_ptr().add(b0);
                    let (x0, x1) = (halves(&*y), halves(&*y.add(1)));
                    let zero = _mm512_setzero_si512();
                    let dots = [
                        _mm512_dpbusd_epi32(zero, w[0].0, x0.0),
                        _mm512_dpbusd_epi32(zero, w[0].1, x0.1),
                        _mm512_dpbusd_epi32(zero, w[1].0, x1.0),
                        _mm512_dpbusd_epi32(zero, w[1].1, x1.1),
                    ];
                    let (dx, offset) = two_halves(y);
                    let sums = _mm512_sub_epi32(sum_four(dots), offset);
                    let scale = _mm512_mul_ps(ds, dx);
                    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc[t]);
                }
            }
        }
    }
    std::array::from_fn(|t| rows(acc[t]))
}
