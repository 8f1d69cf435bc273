//! The f32 vector loops of attention (`q · k`, `out += p * v`), over f32 or f16 cache
//! rows. Each has a plain body that the compiler vectorizes, instantiated once more inside
//! an AVX-512 function so it gets 16-lane code where the CPU has it; the f16 rows are
//! converted by the F16C / AVX-512 units. On ARM, attention has a NEON kernel of its own
//! (the f16 rows converted by `fcvtl`, four at a time); the other loops' plain bodies are
//! vectorized for NEON by the compiler. All obey the [cap](crate::cpu).

use crate::cpu::allows;
use crate::CpuFeatures;
#[cfg(target_arch = "aarch64")]
use std::arch::aarch64::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
#[cfg(target_arch = "x86_64")]
use std::sync::OnceLock;

#[cfg(target_arch = "x86_64")]
fn avx512() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    allows(CpuFeatures::Avx512)
        && *HAS
            .get_or_init(|| is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("f16c"))
}

#[cfg(target_arch = "x86_64")]
use crate::packed::avx2_available as avx2;

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

/// Lanes of the max and sum reductions: the compiler keeps a reduction in order (one lane)
/// unless told otherwise, so the loops below name the lanes themselves.
const LANES: usize = 16;

#[inline(always)]
fn softmax_body(x: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    for chunk in x.chunks(LANES) {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = m.max(v);
        }
    }
    let max = lanes.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for v in x.iter_mut() {
        *v = exp(*v - max);
    }
    let mut lanes = [0f32; LANES];
    for chunk in x.chunks(LANES) {
        for (s, &v) in lanes.iter_mut().zip(chunk) {
            *s += v;
        }
    }
    let inv = 1.0 / lanes.iter().sum::<f32>();
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// `x = cap * tanh(x / cap)`, with `tanh(y) = 1 - 2 / (e^(2y) + 1)` on [`exp`]: exact at
/// the limits, about 1e-7 absolute near 0.
#[inline(always)]
fn softcap_body(x: &mut [f32], cap: f32) {
    let inv = 1.0 / cap;
    for v in x.iter_mut() {
        *v = cap * (1.0 - 2.0 / (exp(2.0 * *v * inv) + 1.0));
    }
}

/// A row of raw scores `first..len` made into attention weights: soft-capped when the
/// model asks, then softmaxed.
#[inline(always)]
fn weigh_body(x: &mut [f32], softcap: f32) {
    if softcap > 0.0 {
        softcap_body(x, softcap);
    }
    softmax_body(x)
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
fn softcap_avx512(x: &mut [f32], cap: f32) {
    softcap_body(x, cap)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn swiglu_avx512(gate: &mut [f32], up: &[f32]) {
    swiglu_body(gate, up)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softmax_avx2(x: &mut [f32]) {
    softmax_body(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softcap_avx2(x: &mut [f32], cap: f32) {
    softcap_body(x, cap)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn swiglu_avx2(gate: &mut [f32], up: &[f32]) {
    swiglu_body(gate, up)
}

/// In-place soft-capping and softmax over `x[first..]`; the scores before `first`
/// become 0.
fn weigh_window(x: &mut [f32], first: usize, softcap: f32) {
    if softcap > 0.0 {
        self::softcap(&mut x[first..], softcap);
    }
    softmax(&mut x[first..]);
    x[..first].fill(0.0);
}

/// In-place `x = cap * tanh(x / cap)`: Gemma 2's soft-capping of scores and logits.
pub fn softcap(x: &mut [f32], cap: f32) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { softcap_avx512(x, cap) };
    }
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA.
        return unsafe { softcap_avx2(x, cap) };
    }
    softcap_body(x, cap)
}

/// In-place softmax.
pub fn softmax(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx512() {
        // SAFETY: the CPU has AVX-512F.
        return unsafe { softmax_avx512(x) };
    }
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA.
        return unsafe { softmax_avx2(x) };
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
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA.
        return unsafe { swiglu_avx2(gate, up) };
    }
    swiglu_body(gate, up)
}

/// A KV cache element: f32, or f16 bits.
pub trait KvElem: Copy + Send + Sync + 'static {
    /// f16 rows: queries are rounded to f16 before they meet the keys, as llama.cpp's CPU
    /// `K·Q` product does (the scores go through `exp`, so this is the rounding that
    /// shows). The probabilities stay f32: llama.cpp keeps them f32 for a batch of tokens
    /// but rounds them for a single one; rounding nowhere keeps a prefill and a decode step
    /// bit-identical, and rounding them in decode did not bring its tokens closer.
    const HALF: bool;
    fn to_f32(self) -> f32;
    fn from_f32(v: f32) -> Self;
    /// 16 values from `p` as f32 lanes.
    ///
    /// # Safety
    /// `p` must be valid for 16 reads; the CPU must have AVX-512F and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> __m512;
    /// 8 values from `p` as f32 lanes.
    ///
    /// # Safety
    /// `p` must be valid for 8 reads; the CPU must have AVX and F16C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> __m256;
    /// 4 values from `p` as f32 lanes.
    ///
    /// # Safety
    /// `p` must be valid for 4 reads.
    #[cfg(target_arch = "aarch64")]
    unsafe fn load4(p: *const Self) -> float32x4_t;
}

impl KvElem for f32 {
    const HALF: bool = false;
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
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: the caller's promise.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn load4(p: *const Self) -> float32x4_t {
        // SAFETY: the caller's promise.
        unsafe { vld1q_f32(p) }
    }
}

impl KvElem for u16 {
    const HALF: bool = true;
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
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> __m256 {
        // SAFETY: the caller's promise.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    unsafe fn load4(p: *const Self) -> float32x4_t {
        // SAFETY: the caller's promise; `fcvtl` is part of every AArch64 FPU (its
        // intrinsic is not stable Rust).
        unsafe {
            let h = vld1_u16(p);
            let out: float32x4_t;
            std::arch::asm!("fcvtl {o:v}.4s, {h:v}.4h", o = out(vreg) out, h = in(vreg) h,
                options(pure, nomem, nostack));
            out
        }
    }
}

/// Keys per block of the transposed K layout: a block holds 16 positions' keys as
/// `[head_dim][16]`, so 16 scores come from one multiply-add per dimension, with no
/// horizontal sums.
pub const KEY_BLOCK: usize = 16;

/// Positions the K and V rows are padded to: the kernels score 32 keys per step.
pub const KEY_STEP: usize = 2 * KEY_BLOCK;

/// The most query vectors one [`attend_queries`] call takes.
pub const MAX_QUERIES: usize = 4;

/// How raw dot products become scores: `scale * q.k`, then `softcap * tanh(s / softcap)`
/// when `softcap > 0` (Gemma 2).
#[derive(Clone, Copy, Debug)]
pub struct Scoring {
    pub scale: f32,
    pub softcap: f32,
}

/// One query vector: `softmax(score(q . k_j))` over the first `len` keys (see
/// [`Scoring`]), then `out = sum_j p_j v_j`.
pub struct Query<'a> {
    pub q: &'a [f32],
    /// Keys `first..len` are seen (`first > 0`: a sliding window); the others weigh 0.
    pub first: usize,
    pub len: usize,
    pub out: &'a mut [f32],
}

/// Up to [`MAX_QUERIES`] queries (heads and positions) over one KV head: `kt` holds its
/// keys transposed in blocks of [`KEY_BLOCK`] (see above), `v` its value rows, both
/// padded to a multiple of [`KEY_STEP`] positions. Each block of keys and each value row
/// is read once for all the queries. `scores` holds one row of `stride` per query.
pub fn attend_queries<E: KvElem>(
    queries: &mut [Query],
    hd: usize,
    kt: &[E],
    v: &[E],
    scoring: Scoring,
    scores: &mut [f32],
    stride: usize,
) {
    let (scale, softcap) = (scoring.scale, scoring.softcap);
    let nq = queries.len();
    let max_len = queries.iter().map(|q| q.len).max().unwrap_or(0);
    let padded = max_len.next_multiple_of(KEY_STEP);
    assert!(nq <= MAX_QUERIES && queries.iter().all(|q| q.q.len() == hd && q.out.len() == hd));
    assert!(kt.len() >= padded * hd && v.len() >= max_len * hd && stride >= padded);
    assert!(nq == 0 || scores.len() >= (nq - 1) * stride + padded);
    #[cfg(target_arch = "x86_64")]
    if avx512() && (hd == 64 || hd == 128) {
        // SAFETY: the CPU has AVX-512F and F16C; the lengths were checked above.
        unsafe {
            match (hd, nq) {
                (_, 0) => {}
                (64, 1) => attend_avx512::<E, 4, 1>(queries, kt, v, scoring, scores, stride),
                (64, 2) => attend_avx512::<E, 4, 2>(queries, kt, v, scoring, scores, stride),
                (64, 3) => attend_avx512::<E, 4, 3>(queries, kt, v, scoring, scores, stride),
                (64, _) => attend_avx512::<E, 4, 4>(queries, kt, v, scoring, scores, stride),
                (_, 1) => attend_avx512::<E, 8, 1>(queries, kt, v, scoring, scores, stride),
                (_, 2) => attend_avx512::<E, 8, 2>(queries, kt, v, scoring, scores, stride),
                (_, 3) => attend_avx512::<E, 8, 3>(queries, kt, v, scoring, scores, stride),
                (_, _) => attend_avx512::<E, 8, 4>(queries, kt, v, scoring, scores, stride),
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2() && hd.is_multiple_of(8) && hd <= MAX_HEAD_DIM {
        // SAFETY: the CPU has AVX2, FMA and F16C; the lengths were checked above.
        unsafe {
            match nq {
                0 => {}
                1 => attend_avx2::<E, 1>(queries, hd, kt, v, scoring, scores, stride),
                2 => attend_avx2::<E, 2>(queries, hd, kt, v, scoring, scores, stride),
                3 => attend_avx2::<E, 3>(queries, hd, kt, v, scoring, scores, stride),
                _ => attend_avx2::<E, 4>(queries, hd, kt, v, scoring, scores, stride),
            }
        }
        return;
    }
    #[cfg(target_arch = "aarch64")]
    if allows(CpuFeatures::Neon) && hd.is_multiple_of(4) && hd <= MAX_HEAD_DIM {
        // SAFETY: NEON is baseline; the lengths were checked above.
        unsafe {
            match nq {
                0 => {}
                1 => attend_neon::<E, 1>(queries, hd, kt, v, scoring, scores, stride),
                2 => attend_neon::<E, 2>(queries, hd, kt, v, scoring, scores, stride),
                3 => attend_neon::<E, 3>(queries, hd, kt, v, scoring, scores, stride),
                _ => attend_neon::<E, 4>(queries, hd, kt, v, scoring, scores, stride),
            }
        }
        return;
    }
    for (i, query) in queries.iter_mut().enumerate() {
        let p = &mut scores[i * stride..][..query.len];
        for (b, block) in p.chunks_mut(KEY_BLOCK).enumerate() {
            let keys = &kt[b * KEY_BLOCK * hd..][..KEY_BLOCK * hd];
            let mut acc = [0f32; KEY_BLOCK];
            for (&qd, lanes) in query.q.iter().zip(keys.chunks_exact(KEY_BLOCK)) {
                let qd = round_as::<E>(qd);
                for (a, k) in acc.iter_mut().zip(lanes) {
                    *a += qd * k.to_f32();
                }
            }
            for (s, a) in block.iter_mut().zip(acc) {
                *s = a * scale;
            }
        }
        weigh_window(p, query.first, softcap);
        query.out.fill(0.0);
        for (&pj, row) in p.iter().zip(v.chunks_exact(hd)) {
            for (o, x) in query.out.iter_mut().zip(row) {
                *o += pj * x.to_f32();
            }
        }
    }
}

/// `x` rounded to the precision of `E`.
fn round_as<E: KvElem>(x: f32) -> f32 {
    if E::HALF {
        half::f16::from_f32(x).to_f32()
    } else {
        x
    }
}

/// [`attend_queries`] for `Q` queries of `16 * L` dims: per dimension one load of 32 keys
/// feeds `2 Q` multiply-adds into registers; the weighted sum of values keeps every
/// query's output in registers (two at a time for 128 dims).
///
/// # Safety
/// AVX-512F and F16C; the lengths [`attend_queries`] checks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
unsafe fn attend_avx512<E: KvElem, const L: usize, const Q: usize>(
    queries: &mut [Query],
    kt: &[E],
    v: &[E],
    scoring: Scoring,
    scores: &mut [f32],
    stride: usize,
) {
    let (scale, softcap) = (scoring.scale, scoring.softcap);
    let hd = 16 * L;
    let lens: [usize; Q] = std::array::from_fn(|i| queries[i].len);
    let max_len = lens.iter().copied().max().unwrap_or(0);
    // SAFETY: the bounds are the caller's promise, checked by `attend_queries`.
    unsafe {
        let mut rounded = [[0f32; 128]; Q];
        for (r, query) in rounded.iter_mut().zip(queries.iter()) {
            for c in 0..L {
                let x = _mm512_loadu_ps(query.q.as_ptr().add(16 * c));
                _mm512_storeu_ps(r.as_mut_ptr().add(16 * c), round16::<E>(x));
            }
        }
        let qp: [*const f32; Q] = std::array::from_fn(|i| rounded[i].as_ptr());
        let sp = scores.as_mut_ptr();
        let (scale_v, neg) = (_mm512_set1_ps(scale), _mm512_set1_ps(f32::NEG_INFINITY));
        let mut j0 = 0;
        while j0 < max_len {
            let kp = kt.as_ptr().add(j0 * hd);
            let mut a0 = [_mm512_setzero_ps(); Q];
            let mut a1 = [_mm512_setzero_ps(); Q];
            for d in 0..hd {
                let k0 = E::load16(kp.add(d * KEY_BLOCK));
                let k1 = E::load16(kp.add((hd + d) * KEY_BLOCK));
                for i in 0..Q {
                    let qd = _mm512_set1_ps(*qp[i].add(d));
                    a0[i] = _mm512_fmadd_ps(qd, k0, a0[i]);
                    a1[i] = _mm512_fmadd_ps(qd, k1, a1[i]);
                }
            }
            // Keys a query does not see (later positions, padding) score -inf.
            for i in 0..Q {
                let valid = |from: usize| {
                    let n = lens[i].saturating_sub(from).min(KEY_BLOCK);
                    ((1u32 << n) - 1) as __mmask16
                };
                let row = sp.add(i * stride + j0);
                _mm512_storeu_ps(row, _mm512_mask_mul_ps(neg, valid(j0), a0[i], scale_v));
                let s1 = _mm512_mask_mul_ps(neg, valid(j0 + KEY_BLOCK), a1[i], scale_v);
                _mm512_storeu_ps(row.add(KEY_BLOCK), s1);
            }
            j0 += KEY_STEP;
        }
        for (i, &len) in lens.iter().enumerate() {
            let row = std::slice::from_raw_parts_mut(sp.add(i * stride), max_len);
            weigh_body(&mut row[queries[i].first..len], softcap);
            row[..queries[i].first].fill(0.0);
            row[len..].fill(0.0);
        }
        let rows: [*const f32; Q] = std::array::from_fn(|i| sp.add(i * stride) as *const f32);
        let outs: [*mut f32; Q] = std::array::from_fn(|i| queries[i].out.as_mut_ptr());
        if L == 4 || Q == 1 {
            weighted_values::<E, L, Q>(rows, v.as_ptr(), max_len, outs);
        } else {
            weighted_values::<E, L, 2>([rows[0], rows[1]], v.as_ptr(), max_len, [outs[0], outs[1]]);
            match Q {
                3 => weighted_values::<E, L, 1>([rows[2]], v.as_ptr(), max_len, [outs[2]]),
                4 => weighted_values::<E, L, 2>(
                    [rows[2], rows[3]],
                    v.as_ptr(),
                    max_len,
                    [outs[2], outs[3]],
                ),
                _ => {}
            }
        }
    }
}

/// The widest head the AVX2 kernel takes.
const MAX_HEAD_DIM: usize = 256;

/// [`attend_queries`] in 8-lane AVX2 registers: per dimension the 16 keys of a block feed
/// `2 Q` multiply-adds; the weighted sum of values runs 64 dimensions of one query at a
/// time. Every score and output lane sees the same multiply-adds in the same order as in
/// the AVX-512 kernel, so both give the same bits.
///
/// # Safety
/// AVX2, FMA and F16C; the lengths [`attend_queries`] checks, and `hd` a multiple of 8 up
/// to [`MAX_HEAD_DIM`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn attend_avx2<E: KvElem, const Q: usize>(
    queries: &mut [Query],
    hd: usize,
    kt: &[E],
    v: &[E],
    scoring: Scoring,
    scores: &mut [f32],
    stride: usize,
) {
    let (scale, softcap) = (scoring.scale, scoring.softcap);
    let lens: [usize; Q] = std::array::from_fn(|i| queries[i].len);
    let max_len = lens.iter().copied().max().unwrap_or(0);
    // SAFETY: the bounds are the caller's promise, checked by `attend_queries`.
    unsafe {
        let mut rounded = [[0f32; MAX_HEAD_DIM]; Q];
        for (r, query) in rounded.iter_mut().zip(queries.iter()) {
            for (d, &x) in r.iter_mut().zip(query.q) {
                *d = round_as::<E>(x);
            }
        }
        let qp: [*const f32; Q] = std::array::from_fn(|i| rounded[i].as_ptr());
        let sp = scores.as_mut_ptr();
        let scale_v = _mm256_set1_ps(scale);
        for j0 in (0..max_len).step_by(KEY_BLOCK) {
            let kp = kt.as_ptr().add(j0 * hd);
            let mut a0 = [_mm256_setzero_ps(); Q];
            let mut a1 = [_mm256_setzero_ps(); Q];
            for d in 0..hd {
                let k0 = E::load8(kp.add(d * KEY_BLOCK));
                let k1 = E::load8(kp.add(d * KEY_BLOCK + 8));
                for i in 0..Q {
                    let qd = _mm256_set1_ps(*qp[i].add(d));
                    a0[i] = _mm256_fmadd_ps(qd, k0, a0[i]);
                    a1[i] = _mm256_fmadd_ps(qd, k1, a1[i]);
                }
            }
            // Scores past a query's length are never read: its row is cut at `len` below.
            for i in 0..Q {
                let row = sp.add(i * stride + j0);
                _mm256_storeu_ps(row, _mm256_mul_ps(a0[i], scale_v));
                _mm256_storeu_ps(row.add(8), _mm256_mul_ps(a1[i], scale_v));
            }
        }
        for (i, query) in queries.iter_mut().enumerate() {
            let row = std::slice::from_raw_parts_mut(sp.add(i * stride), max_len);
            weigh_body(&mut row[query.first..lens[i]], softcap);
            row[..query.first].fill(0.0);
            let out = query.out.as_mut_ptr();
            for c0 in (0..hd).step_by(64) {
                let width = (hd - c0).min(64) / 8;
                let mut o = [_mm256_setzero_ps(); 8];
                for (j, &p) in row[..lens[i]].iter().enumerate() {
                    let (pj, vr) = (_mm256_set1_ps(p), v.as_ptr().add(j * hd + c0));
                    for (c, oc) in o.iter_mut().enumerate().take(width) {
                        *oc = _mm256_fmadd_ps(pj, E::load8(vr.add(8 * c)), *oc);
                    }
                }
                for (c, oc) in o.iter().enumerate().take(width) {
                    _mm256_storeu_ps(out.add(c0 + 8 * c), *oc);
                }
            }
        }
    }
}

/// [`attend_queries`] in 4-lane NEON registers, as the AVX2 kernel: per dimension the 16
/// keys of a block feed `4 Q` multiply-adds; the weighted sum of values runs 32
/// dimensions of one query at a time. The multiply-adds are unfused, in the portable
/// loop's order, so both give the same bits (an ARM build reproduces the portable tier).
///
/// # Safety
/// The lengths [`attend_queries`] checks, and `hd` a multiple of 4 up to
/// [`MAX_HEAD_DIM`].
#[cfg(target_arch = "aarch64")]
unsafe fn attend_neon<E: KvElem, const Q: usize>(
    queries: &mut [Query],
    hd: usize,
    kt: &[E],
    v: &[E],
    scoring: Scoring,
    scores: &mut [f32],
    stride: usize,
) {
    let (scale, softcap) = (scoring.scale, scoring.softcap);
    let lens: [usize; Q] = std::array::from_fn(|i| queries[i].len);
    let max_len = lens.iter().copied().max().unwrap_or(0);
    // SAFETY: the bounds are the caller's promise, checked by `attend_queries`.
    unsafe {
        let mut rounded = [[0f32; MAX_HEAD_DIM]; Q];
        for (r, query) in rounded.iter_mut().zip(queries.iter()) {
            for (d, &x) in r.iter_mut().zip(query.q) {
                *d = round_as::<E>(x);
            }
        }
        let sp = scores.as_mut_ptr();
        for j0 in (0..max_len).step_by(KEY_BLOCK) {
            let kp = kt.as_ptr().add(j0 * hd);
            let mut a = [[vdupq_n_f32(0.0); 4]; Q];
            for d in 0..hd {
                let k: [float32x4_t; 4] =
                    std::array::from_fn(|c| E::load4(kp.add(d * KEY_BLOCK + 4 * c)));
                for i in 0..Q {
                    let qd = rounded[i][d];
                    for c in 0..4 {
                        a[i][c] = vaddq_f32(a[i][c], vmulq_n_f32(k[c], qd));
                    }
                }
            }
            // Scores past a query's length are never read: its row is cut at `len` below.
            for i in 0..Q {
                let row = sp.add(i * stride + j0);
                for c in 0..4 {
                    vst1q_f32(row.add(4 * c), vmulq_n_f32(a[i][c], scale));
                }
            }
        }
        for (i, query) in queries.iter_mut().enumerate() {
            let row = std::slice::from_raw_parts_mut(sp.add(i * stride), max_len);
            weigh_body(&mut row[query.first..lens[i]], softcap);
            row[..query.first].fill(0.0);
            let out = query.out.as_mut_ptr();
            for c0 in (0..hd).step_by(32) {
                let width = (hd - c0).min(32) / 4;
                let mut o = [vdupq_n_f32(0.0); 8];
                for (j, &p) in row[..lens[i]].iter().enumerate() {
                    let vr = v.as_ptr().add(j * hd + c0);
                    for (c, oc) in o.iter_mut().enumerate().take(width) {
                        *oc = vaddq_f32(*oc, vmulq_n_f32(E::load4(vr.add(4 * c)), p));
                    }
                }
                for (c, oc) in o.iter().enumerate().take(width) {
                    vst1q_f32(out.add(c0 + 4 * c), *oc);
                }
            }
        }
    }
}

/// 16 lanes rounded to the precision of `E`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
#[inline]
fn round16<E: KvElem>(x: __m512) -> __m512 {
    if E::HALF {
        _mm512_cvtph_ps(_mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(x))
    } else {
        x
    }
}

/// `out_i = sum_j p_ij v_j` for `P` queries over `len` value rows of `16 * L`.
///
/// # Safety
/// AVX-512F and F16C; `p` rows and `v` hold `len` entries / rows, `out` 16 L values each.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,f16c")]
#[inline]
unsafe fn weighted_values<E: KvElem, const L: usize, const P: usize>(
    p: [*const f32; P],
    v: *const E,
    len: usize,
    out: [*mut f32; P],
) {
    // SAFETY: the caller's promise.
    unsafe {
        let mut o = [[_mm512_setzero_ps(); L]; P];
        for j in 0..len {
            let row = v.add(j * 16 * L);
            let vr: [__m512; L] = std::array::from_fn(|c| E::load16(row.add(16 * c)));
            for i in 0..P {
                let pj = _mm512_set1_ps(*p[i].add(j));
                for c in 0..L {
                    o[i][c] = _mm512_fmadd_ps(pj, vr[c], o[i][c]);
                }
            }
        }
        for (oi, dst) in o.iter().zip(out) {
            for (c, oc) in oi.iter().enumerate() {
                _mm512_storeu_ps(dst.add(16 * c), *oc);
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

    fn reference(q: &[f32], k: &[f32], v: &[f32], scale: f32, cap: f32) -> Vec<f32> {
        let hd = q.len();
        let s: Vec<f32> = k
            .chunks(hd)
            .map(|r| r.iter().zip(q).map(|(a, b)| a * b).sum::<f32>() * scale)
            .map(|s| if cap > 0.0 { cap * (s / cap).tanh() } else { s })
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

    /// Key rows in the transposed block layout, padded to `KEY_STEP` positions with `pad`.
    fn transpose(k: &[f32], hd: usize, pad: f32) -> Vec<f32> {
        let n = (k.len() / hd).next_multiple_of(KEY_STEP);
        let mut out = vec![pad; n * hd];
        for (j, row) in k.chunks(hd).enumerate() {
            for (d, &x) in row.iter().enumerate() {
                out[(j / KEY_BLOCK * hd + d) * KEY_BLOCK + j % KEY_BLOCK] = x;
            }
        }
        out
    }

    #[test]
    fn softcap_is_cap_tanh() {
        let mut x: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.37).collect();
        let want: Vec<f32> = x.iter().map(|v| 30.0 * (v / 30.0).tanh()).collect();
        softcap(&mut x, 30.0);
        for (a, b) in x.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5 * 30.0, "{a} vs {b}");
        }
    }

    #[test]
    fn attention_matches_a_scalar_reference() {
        // 64 and 128 take the SIMD paths where the CPU has them, 48 the portable one; 1 to
        // 4 queries of different lengths cover every register batch and the masking; scores
        // plain and soft-capped hard (Gemma 2 caps at 50, on scores of a larger scale).
        for (hd, cap) in [48, 64, 128]
            .into_iter()
            .flat_map(|hd| [(hd, 0.0), (hd, 0.5)])
        {
            let scoring = Scoring {
                scale: 0.125,
                softcap: cap,
            };
            for nq in 1..=MAX_QUERIES {
                let (keys, stride) = (37, 64);
                let f = |i: usize, a: f32| (i as f32 * a).sin();
                let lens: Vec<usize> = (0..nq).map(|i| keys - 5 * i).collect();
                // Sliding windows too: query i sees keys 4 i.. only.
                let firsts: Vec<usize> = (0..nq).map(|i| 4 * i).collect();
                let q: Vec<f32> = (0..nq * hd).map(|i| f(i, 0.37)).collect();
                let k: Vec<f32> = (0..keys * hd).map(|i| f(i, 0.11)).collect();
                let v: Vec<f32> = (0..keys * hd).map(|i| f(i, 0.23)).collect();
                let want: Vec<f32> = (0..nq)
                    .flat_map(|i| {
                        let (a, l) = (firsts[i] * hd, lens[i] * hd);
                        reference(&q[i * hd..][..hd], &k[a..l], &v[a..l], 0.125, cap)
                    })
                    .collect();
                let run = |kt: &dyn Fn(&mut [Query], &mut [f32])| {
                    let mut out = vec![0.0; nq * hd];
                    let mut queries: Vec<Query> = out
                        .chunks_mut(hd)
                        .enumerate()
                        .map(|(i, o)| Query {
                            q: &q[i * hd..][..hd],
                            first: firsts[i],
                            len: lens[i],
                            out: o,
                        })
                        .collect();
                    let mut p = vec![0.0; nq * stride];
                    kt(&mut queries, &mut p);
                    out
                };
                // Padding past the keys must not leak in, even when it is not finite.
                let kt = transpose(&k, hd, f32::NAN);
                let out = run(&|qs, p| attend_queries(qs, hd, &kt, &v, scoring, p, stride));
                for (a, b) in out.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-5, "hd {hd} cap {cap} x{nq}: {a} vs {b}");
                }
                // f16 rows: the same within f16 rounding.
                let h = |x: &[f32]| -> Vec<u16> { x.iter().map(|&v| u16::from_f32(v)).collect() };
                let (kt16, v16) = (h(&transpose(&k, hd, 0.0)), h(&v));
                let out = run(&|qs, p| attend_queries(qs, hd, &kt16, &v16, scoring, p, stride));
                for (a, b) in out.iter().zip(&want) {
                    assert!((a - b).abs() < 2e-3, "hd {hd} x{nq} f16: {a} vs {b}");
                }
            }
        }
    }
}
