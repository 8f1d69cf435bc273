//! The f32 vector loops of attention (`q · k`, `out += p * v`), over f32 or f16 cache
//! rows. Each has a plain body that the compiler vectorizes, instantiated once more inside
//! an AVX-512 function so it gets 16-lane code where the CPU has it; the f16 rows are
//! converted by the F16C / AVX-512 units.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::sync::OnceLock;

fn avx512() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("f16c")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    crate::quant::f32_dot_inline(a, b)
}

/// `a · b`.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { dot_avx512(a, b) };
    }
    crate::quant::f32_dot(a, b)
}

/// `e^x` to about 2e-7 relative, branch-free so loops over it vectorize: `2^(x log2 e)`
/// split into an integer power (built in the exponent bits) and a polynomial fraction.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let t = x.clamp(-87.0, 88.0) * std::f32::consts::LOG2_E;
    let n = (t + 0.5).floor();
    let f = t - n;
    // 2^f on [-0.5, 0.5], Taylor series of e^(f ln 2) to the 6th power.
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_129 + f * (0.001_333_356 + f * 0.000_154_035_3)))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[inline(always)]
fn softmax_body(x: &mut [f32]) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[inline(always)]
fn swiglu_body(gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + exp(-*g)) * u;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn softmax_avx512(x: &mut [f32]) {
    softmax_body(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn swiglu_avx512(gate: &mut [f32], up: &[f32]) {
    swiglu_body(gate, up)
}

/// In-place softmax.
pub fn softmax(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { softmax_avx512(x) };
    }
    softmax_body(x)
}

/// `gate = silu(gate) * up`.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { swiglu_avx512(gate, up) };
    }
    swiglu_body(gate, up)
}

/// A KV cache element: f32, or f16 bits.
pub trait KvElem: Copy + Send + Sync + 'static {
    fn to_f32(self) -> f32;
    fn from_f32(v: f32) -> Self;
    /// 16 values from `p` as f32 lanes.
    ///
    /// # Safety
    /// `p` must be valid for 16 reads; the CPU must have AVX-512F and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> __m512;
}

impl KvElem for f32 {
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> Self {
        v
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> __m512 {
        // SAFETY: the caller's promise.
        unsafe { _mm512_loadu_ps(p) }
    }
}

impl KvElem for u16 {
    fn to_f32(self) -> f32 {
        half::f16::from_bits(self).to_f32()
    }
    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v).to_bits()
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> __m512 {
        // SAFETY: the caller's promise.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
    }
}

/// Query heads that share one KV head, over its first `len` cached positions: for each
/// head `g`, `p_g = softmax(scale * q_g · k_j)` into `scores[g * stride..][..len]`, then
/// `out_g = sum_j p_gj v_j`. `q` and `out` hold the heads side by side, `hd` wide each;
/// `k` and `v` the positions' rows. Each K and V row is read once for all the heads.
#[allow(clippy::too_many_arguments)]
pub fn attend_group<E: KvElem>(
    q: &[f32],
    hd: usize,
    k: &[E],
    v: &[E],
    len: usize,
    scale: f32,
    scores: &mut [f32],
    stride: usize,
    out: &mut [f32],
) {
    let heads = q.len() / hd;
    assert!(k.len() >= len * hd && v.len() >= len * hd && out.len() == q.len());
    assert!(len <= stride && scores.len() >= (heads - 1) * stride + len);
    let mut g = 0;
    while g < heads {
        let q = &q[g * hd..];
        let (scores, out) = (&mut scores[g * stride..], &mut out[g * hd..]);
        #[cfg(target_arch = "x86_64")]
        if avx512() && (hd == 64 || hd == 128) {
            // Up to 4 heads of 64 (2 of 128) keep their queries and outputs in registers.
            let batch = (heads - g).min(if hd == 64 { 4 } else { 2 });
            // SAFETY: the CPU has AVX-512F and F16C; lengths were checked above.
            unsafe {
                match (hd, batch) {
                    (64, 1) => attend_avx512::<E, 4, 1>(q, k, v, len, scale, scores, stride, out),
                    (64, 2) => attend_avx512::<E, 4, 2>(q, k, v, len, scale, scores, stride, out),
                    (64, 3) => attend_avx512::<E, 4, 3>(q, k, v, len, scale, scores, stride, out),
                    (64, _) => attend_avx512::<E, 4, 4>(q, k, v, len, scale, scores, stride, out),
                    (_, 1) => attend_avx512::<E, 8, 1>(q, k, v, len, scale, scores, stride, out),
                    (_, _) => attend_avx512::<E, 8, 2>(q, k, v, len, scale, scores, stride, out),
                }
            }
            g += batch;
            continue;
        }
        let (q, p, out) = (&q[..hd], &mut scores[..len], &mut out[..hd]);
        for (s, row) in p.iter_mut().zip(k.chunks_exact(hd)) {
            *s = q.iter().zip(row).map(|(a, b)| a * b.to_f32()).sum::<f32>() * scale;
        }
        softmax(p);
        out.fill(0.0);
        for (&pj, row) in p.iter().zip(v.chunks_exact(hd)) {
            for (o, x) in out.iter_mut().zip(row) {
                *o += pj * x.to_f32();
            }
        }
        g += 1;
    }
}

/// The horizontal sums of four vectors, as `[sum(a0), sum(a1), sum(a2), sum(a3)]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
#[inline]
fn sum4(a: [__m512; 4]) -> __m128 {
    // Per 128-bit lane: [a0 a1 a0 a1] halves, then [a0 a1 a2 a3] partial sums.
    let s01 = _mm512_add_ps(
        _mm512_unpacklo_ps(a[0], a[1]),
        _mm512_unpackhi_ps(a[0], a[1]),
    );
    let s23 = _mm512_add_ps(
        _mm512_unpacklo_ps(a[2], a[3]),
        _mm512_unpackhi_ps(a[2], a[3]),
    );
    let s = _mm512_add_ps(
        _mm512_shuffle_ps::<0b01_00_01_00>(s01, s23),
        _mm512_shuffle_ps::<0b11_10_11_10>(s01, s23),
    );
    let lo = _mm_add_ps(_mm512_castps512_ps128(s), _mm512_extractf32x4_ps::<1>(s));
    let hi = _mm_add_ps(
        _mm512_extractf32x4_ps::<2>(s),
        _mm512_extractf32x4_ps::<3>(s),
    );
    _mm_add_ps(lo, hi)
}

/// [`attend_group`] for `G` heads of `16 * L` dims, queries and outputs in registers.
///
/// # Safety
/// AVX-512F and F16C; `q` and `out` hold `G` heads, `k` and `v` `len` rows, and `scores`
/// `G` rows of `stride >= len`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
#[allow(clippy::too_many_arguments)]
unsafe fn attend_avx512<E: KvElem, const L: usize, const G: usize>(
    q: &[f32],
    k: &[E],
    v: &[E],
    len: usize,
    scale: f32,
    scores: &mut [f32],
    stride: usize,
    out: &mut [f32],
) {
    let hd = 16 * L;
    // SAFETY: the bounds are the caller's promise, checked by `attend_group`.
    unsafe {
        let qv: [[__m512; L]; G] = std::array::from_fn(|g| {
            std::array::from_fn(|c| _mm512_loadu_ps(q.as_ptr().add(g * hd + 16 * c)))
        });
        let sp = scores.as_mut_ptr();
        let dot = |qg: &[__m512; L], row: *const E| {
            let mut acc = _mm512_mul_ps(qg[0], E::load16(row));
            for (c, qc) in qg.iter().enumerate().skip(1) {
                acc = _mm512_fmadd_ps(*qc, E::load16(row.add(16 * c)), acc);
            }
            acc
        };
        // Four rows at a time, so one transposing reduction yields four scores.
        let mut j = 0;
        while j + 4 <= len {
            let rows: [*const E; 4] = std::array::from_fn(|r| k.as_ptr().add((j + r) * hd));
            for (g, qg) in qv.iter().enumerate() {
                let acc = rows.map(|row| dot(qg, row));
                let s = _mm_mul_ps(sum4(acc), _mm_set1_ps(scale));
                _mm_storeu_ps(sp.add(g * stride + j), s);
            }
            j += 4;
        }
        for j in j..len {
            let row = k.as_ptr().add(j * hd);
            for (g, qg) in qv.iter().enumerate() {
                *sp.add(g * stride + j) = _mm512_reduce_add_ps(dot(qg, row)) * scale;
            }
        }
        for g in 0..G {
            let p = &mut scores[g * stride..g * stride + len];
            softmax_body(p);
        }
        let sp = scores.as_ptr();
        let mut o = [[_mm512_setzero_ps(); L]; G];
        for j in 0..len {
            let row = v.as_ptr().add(j * hd);
            let vr: [__m512; L] = std::array::from_fn(|c| E::load16(row.add(16 * c)));
            for (g, og) in o.iter_mut().enumerate() {
                let p = _mm512_set1_ps(*sp.add(g * stride + j));
                for c in 0..L {
                    og[c] = _mm512_fmadd_ps(p, vr[c], og[c]);
                }
            }
        }
        for (g, og) in o.iter().enumerate() {
            for (c, oc) in og.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(g * hd + 16 * c), *oc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_accurate() {
        for i in -870..=880 {
            let x = i as f32 * 0.1;
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= want * (3e-7 + 1e-7 * x.abs()),
                "exp({x}) = {got}, want {want}"
            );
        }
        let mut p = [1.0, 2.0, 3.0, f32::NEG_INFINITY];
        softmax(&mut p);
        let e = [1f32.exp(), 2f32.exp(), 3f32.exp()];
        let sum: f32 = e.iter().sum();
        for i in 0..3 {
            assert!((p[i] - e[i] / sum).abs() < 1e-6);
        }
        assert!(p[3] < 1e-30);
    }

    fn reference(q: &[f32], k: &[f32], v: &[f32], scale: f32) -> Vec<f32> {
        let hd = q.len();
        let s: Vec<f32> = k
            .chunks(hd)
            .map(|r| r.iter().zip(q).map(|(a, b)| a * b).sum::<f32>() * scale)
            .collect();
        let max = s.iter().cloned().fold(f32::MIN, f32::max);
        let e: Vec<f32> = s.iter().map(|x| (x - max).exp()).collect();
        let sum: f32 = e.iter().sum();
        let mut out = vec![0.0; hd];
        for (p, row) in e.iter().zip(v.chunks(hd)) {
            for (o, x) in out.iter_mut().zip(row) {
                *o += p / sum * x;
            }
        }
        out
    }

    #[test]
    fn attention_matches_a_scalar_reference() {
        // 64 and 128 take the SIMD paths where the CPU has them, 48 the portable one.
        // 64 and 128 take the SIMD paths where the CPU has them, 48 the portable one;
        // 1 to 5 heads per KV head cover every register batch.
        for hd in [48, 64, 128] {
            for heads in 1..=5 {
                let (len, stride) = (37, 40);
                let f = |i: usize, a: f32| (i as f32 * a).sin();
                let q: Vec<f32> = (0..heads * hd).map(|i| f(i, 0.37)).collect();
                let k: Vec<f32> = (0..len * hd).map(|i| f(i, 0.11)).collect();
                let v: Vec<f32> = (0..len * hd).map(|i| f(i, 0.23)).collect();
                let want: Vec<f32> = q
                    .chunks(hd)
                    .flat_map(|qh| reference(qh, &k, &v, 0.125))
                    .collect();
                let mut p = vec![0.0; heads * stride];
                let mut out = vec![0.0; heads * hd];
                attend_group(&q, hd, &k, &v, len, 0.125, &mut p, stride, &mut out);
                for (a, b) in out.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-5, "hd {hd} x{heads}: {a} vs {b}");
                }
                // f16 rows: the same within f16 rounding.
                let h =
                    |x: &Vec<f32>| -> Vec<u16> { x.iter().map(|&v| u16::from_f32(v)).collect() };
                attend_group(&q, hd, &h(&k), &h(&v), len, 0.125, &mut p, stride, &mut out);
                for (a, b) in out.iter().zip(&want) {
                    assert!((a - b).abs() < 2e-3, "hd {hd} x{heads} f16: {a} vs {b}");
                }
            }
        }
        let x: Vec<f32> = (0..100).map(|i| i as f32 * 0.01).collect();
        let want: f32 = x.iter().map(|v| v * v).sum();
        assert!((dot(&x, &x) - want).abs() < 1e-3);
    }
}
