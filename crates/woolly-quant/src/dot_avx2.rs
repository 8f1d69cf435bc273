//! AVX2 + FMA versions of the 32-value block dot products: 32 weights are widened to
//! bytes in registers and multiplied with the 8-bit activations by `maddubs`.

use super::dequant::{half, q3_k_scales};
use super::dot::Q8Block;
use std::arch::x86_64::*;

/// Whether the kernels below may run: the packed AVX2 kernels' gate.
pub(crate) use super::packed::avx2_available as available;

/// The two little-endian f16 at `b[0..4]` as `[b0, b1, 0, 0]`, converted by the F16C unit.
/// Loading a whole u32 (`vmovd`) keeps the conversion free of false dependencies.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn two_halves(b: &[u8]) -> __m128 {
    let bits = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    _mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32))
}

/// `[y.d, y.s, 0, 0]`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn scales(y: &Q8Block) -> __m128 {
    _mm_setr_ps(y.d, y.s, 0.0, 0.0)
}

/// 16 bytes of nibbles → 32 bytes: low nibbles in the low lane, high nibbles in the high.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn unpack_nibbles(p: &[u8; 16]) -> __m256i {
    // SAFETY: reads exactly the 16 bytes of `p`.
    let qs = unsafe { _mm_loadu_si128(p.as_ptr() as *const __m128i) };
    let mask = _mm_set1_epi8(0x0F);
    let lo = _mm_and_si128(qs, mask);
    let hi = _mm_and_si128(_mm_srli_epi16(qs, 4), mask);
    _mm256_set_m128i(hi, lo)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn load32<T: Copy>(bytes: &[T; 32]) -> __m256i {
    debug_assert_eq!(std::mem::size_of::<T>(), 1);
    // SAFETY: reads exactly the 32 one-byte elements of `bytes`.
    unsafe { _mm256_loadu_si256(bytes.as_ptr() as *const __m256i) }
}

/// Sum of products of unsigned bytes `u` with signed bytes `s`, as 8 f32 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dot_us8(u: __m256i, s: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(u, s);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// Sum of products of two signed byte vectors (via |a| and sign(b, a)).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dot_ss8(a: __m256i, b: __m256i) -> __m256 {
    dot_us8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a))
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Sums a row's blocks with four independent accumulators, so consecutive blocks do not
/// wait on each other's FMA latency.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn sum_blocks<const BYTES: usize>(
    row: &[u8],
    xq: &[Q8Block],
    block: impl Fn(&[u8], &Q8Block) -> (__m256, __m128),
) -> (f32, f32) {
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut mins = _mm_setzero_ps();
    let (rows4, xq4) = (row.chunks_exact(4 * BYTES), xq.chunks_exact(4));
    let (row_tail, xq_tail) = (rows4.remainder(), xq4.remainder());
    for (b4, y4) in rows4.zip(xq4) {
        for k in 0..4 {
            let (p, m) = block(&b4[k * BYTES..(k + 1) * BYTES], &y4[k]);
            acc[k] = _mm256_add_ps(acc[k], p);
            mins = _mm_add_ps(mins, m);
        }
    }
    for (b, y) in row_tail.chunks_exact(BYTES).zip(xq_tail) {
        let (p, m) = block(b, y);
        acc[0] = _mm256_add_ps(acc[0], p);
        mins = _mm_add_ps(mins, m);
    }
    let total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    (hsum(total), _mm_cvtss_f32(_mm_movehdup_ps(mins)))
}

/// Callers must check [`available`] first.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot_q4_0(row: &[u8], xq: &[Q8Block]) -> f32 {
    sum_blocks::<18>(row, xq, |b, y| {
        let w = _mm256_sub_epi8(
            unpack_nibbles(b[2..18].try_into().unwrap()),
            _mm256_set1_epi8(8),
        );
        let d = _mm_mul_ps(two_halves(b), scales(y));
        (
            _mm256_mul_ps(_mm256_broadcastss_ps(d), dot_ss8(w, load32(&y.qs))),
            _mm_setzero_ps(),
        )
    })
    .0
}

/// `sum(d_w * d_x * (w . q)) + sum(m_w * s_x)`: the offset `m` meets the activation sums.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot_q4_1(row: &[u8], xq: &[Q8Block]) -> f32 {
    let (dots, mins) = sum_blocks::<20>(row, xq, |b, y| {
        let w = unpack_nibbles(b[4..20].try_into().unwrap());
        // [d_w * d_x, m_w * s_x, 0, 0]
        let dm = _mm_mul_ps(two_halves(b), scales(y));
        (
            _mm256_mul_ps(_mm256_broadcastss_ps(dm), dot_us8(w, load32(&y.qs))),
            dm,
        )
    });
    dots + mins
}

#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot_q8_0(row: &[u8], xq: &[Q8Block]) -> f32 {
    sum_blocks::<34>(row, xq, |b, y| {
        let w = load32(b[2..34].try_into().unwrap());
        let d = _mm_mul_ps(two_halves(b), scales(y));
        (
            _mm256_mul_ps(_mm256_broadcastss_ps(d), dot_ss8(w, load32(&y.qs))),
            _mm_setzero_ps(),
        )
    })
    .0
}

/// The sum of eight i32 lanes (exact, so the K-quant kernels below give the portable
/// ones' integers and, with the same float steps, their bits).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    _mm_cvtsi128_si32(s)
}

/// `[a x 8, b x 8]` as i16: one factor per 16-value half of a 32-byte block (the low and
/// high 128-bit lanes, after `maddubs` pairs the bytes).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn per_half(a: i32, b: i32) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(b as i16), _mm_set1_epi16(a as i16))
}

/// Bits `shift..shift + width` of every byte (the bits shifted in across bytes are masked).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn bit_field(v: __m256i, shift: usize, mask: i8) -> __m256i {
    let count = _mm_cvtsi32_si128(shift as i32);
    _mm256_and_si256(_mm256_srl_epi16(v, count), _mm256_set1_epi8(mask))
}

/// Q2_K: the portable kernel's integers by `maddubs` (2-bit weights times signed
/// activations, and the activations' per-half sums against the mins), then its float step.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot_q2_k(row: &[u8], xq: &[Q8Block]) -> f32 {
    let ones = _mm256_set1_epi8(1);
    let mut sum = 0.0;
    for (b, ys) in row.chunks_exact(84).zip(xq.chunks_exact(8)) {
        let (scales, d, dmin) = (&b[0..16], half(b, 80), half(b, 82));
        for (n, ys) in ys.chunks_exact(4).enumerate() {
            let q = load32(b[16 + 32 * n..48 + 32 * n].try_into().unwrap());
            for (jj, y) in ys.iter().enumerate() {
                let j = 4 * n + jj;
                let x = load32(&y.qs);
                let (s0, s1) = (scales[2 * j] as i32, scales[2 * j + 1] as i32);
                let dots = _mm256_maddubs_epi16(bit_field(q, 2 * jj, 3), x);
                let sums = _mm256_maddubs_epi16(ones, x);
                let isc = hsum_i32(_mm256_madd_epi16(dots, per_half(s0 & 15, s1 & 15)));
                let imin = hsum_i32(_mm256_madd_epi16(sums, per_half(s0 >> 4, s1 >> 4)));
                sum += y.d * (d * isc as f32 - dmin * imin as f32);
            }
        }
    }
    sum
}

/// Q3_K: `q - 4` as `maddubs(q, x) - maddubs(4, x)` in 16-bit pairs, scaled per half.
#[target_feature(enable = "avx2,fma,f16c")]
pub fn dot_q3_k(row: &[u8], xq: &[Q8Block]) -> f32 {
    let four = _mm256_set1_epi8(4);
    let mut sum = 0.0;
    for (b, ys) in row.chunks_exact(110).zip(xq.chunks_exact(8)) {
        let hmask = load32(b[0..32].try_into().unwrap());
        let (scales, d) = (q3_k_scales(&b[96..108]), half(b, 108));
        for (n, ys) in ys.chunks_exact(4).enumerate() {
            let q = load32(b[32 + 32 * n..64 + 32 * n].try_into().unwrap());
            for (jj, y) in ys.iter().enumerate() {
                let j = 4 * n + jj;
                let x = load32(&y.qs);
                let high = _mm256_slli_epi16::<2>(bit_field(hmask, j, 1));
                let u = _mm256_or_si256(bit_field(q, 2 * jj, 3), high);
                let pairs =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(u, x), _mm256_maddubs_epi16(four, x));
                let sc = per_half(scales[2 * j] as i32 - 32, scales[2 * j + 1] as i32 - 32);
                let isum = hsum_i32(_mm256_madd_epi16(pairs, sc));
                sum += d * y.d * isum as f32;
            }
        }
    }
    sum
}
