//! Grouped-query attention over the KV cache: each query head reads its KV head's rows
//! directly (no repeated K/V), heads split between the pool's threads.

use super::pool::Pool;
use super::simd::{self, KvElem};
use crate::engine::KvCacheType;

/// One layer's keys and values, `[kv_heads][ctx][head_dim]` each, in f32 or f16.
pub struct KvCache {
    kv_heads: usize,
    ctx: usize,
    hd: usize,
    rows: KvRows,
}

enum KvRows {
    F32(Rows<f32>),
    F16(Rows<u16>),
}

struct Rows<E> {
    k: Vec<E>,
    v: Vec<E>,
}

impl<E: KvElem> Rows<E> {
    fn new(n: usize) -> Self {
        let zero = E::from_f32(0.0);
        Self {
            k: vec![zero; n],
            v: vec![zero; n],
        }
    }

    fn store(&mut self, at: usize, k: &[f32], v: &[f32]) {
        for (dst, src) in self.k[at..at + k.len()].iter_mut().zip(k) {
            *dst = E::from_f32(*src);
        }
        for (dst, src) in self.v[at..at + v.len()].iter_mut().zip(v) {
            *dst = E::from_f32(*src);
        }
    }
}

impl KvCache {
    pub fn new(ty: KvCacheType, kv_heads: usize, ctx: usize, hd: usize) -> Self {
        let n = kv_heads * ctx * hd;
        let rows = match ty {
            KvCacheType::F32 => KvRows::F32(Rows::new(n)),
            KvCacheType::F16 => KvRows::F16(Rows::new(n)),
        };
        Self {
            kv_heads,
            ctx,
            hd,
            rows,
        }
    }

    /// Writes the keys and values of position `pos` (`[kv_heads][head_dim]` each).
    pub fn store(&mut self, pos: usize, k: &[f32], v: &[f32]) {
        let hd = self.hd;
        for (h, (kr, vr)) in k.chunks_exact(hd).zip(v.chunks_exact(hd)).enumerate() {
            let at = (h * self.ctx + pos) * hd;
            match &mut self.rows {
                KvRows::F32(rows) => rows.store(at, kr, vr),
                KvRows::F16(rows) => rows.store(at, kr, vr),
            }
        }
    }

    /// The query heads of KV head `h` against its first `len` positions.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        h: usize,
        q: &[f32],
        len: usize,
        scale: f32,
        p: &mut [f32],
        stride: usize,
        out: &mut [f32],
    ) {
        let (hd, r) = (
            self.hd,
            h * self.ctx * self.hd..(h * self.ctx + len) * self.hd,
        );
        match &self.rows {
            KvRows::F32(x) => {
                simd::attend_group(q, hd, &x.k[r.clone()], &x.v[r], len, scale, p, stride, out)
            }
            KvRows::F16(x) => {
                simd::attend_group(q, hd, &x.k[r.clone()], &x.v[r], len, scale, p, stride, out)
            }
        }
    }
}

/// A buffer several threads write, each to its own heads' ranges.
struct Shared(*mut f32, usize);
// SAFETY: threads touch disjoint ranges (their own heads) and `Pool::run` waits for all.
unsafe impl Sync for Shared {}

impl Shared {
    /// # Safety
    /// No other thread may use `range` while the slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, range: std::ops::Range<usize>) -> &mut [f32] {
        assert!(range.start <= range.end && range.end <= self.1);
        // SAFETY: in bounds; exclusivity is the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(range.start), range.len()) }
    }
}

/// A chunk's queries are dealt round-robin into this many parts, so that with few KV heads
/// every thread still gets work (later queries see more keys: round-robin keeps it even).
pub const QUERY_SPLITS: usize = 4;

/// Causal attention of `n` queries at positions `start..start + n` (`q`, `out`:
/// `[n][heads * head_dim]`) over the cache, which already holds positions up to
/// `start + n - 1`. `scores` holds `QUERY_SPLITS * heads` rows of the cache's length.
pub fn attend(
    pool: &Pool,
    cache: &KvCache,
    q: &[f32],
    out: &mut [f32],
    scores: &mut [f32],
    heads: usize,
    start: usize,
) {
    let (hd, ctx, kv_heads) = (cache.hd, cache.ctx, cache.kv_heads);
    let q_dim = heads * hd;
    let n = q.len() / q_dim;
    let group = heads / kv_heads;
    let splits = QUERY_SPLITS.min(n);
    assert!(scores.len() >= splits * heads * ctx && out.len() >= q.len());
    let scale = 1.0 / (hd as f32).sqrt();
    let (out, scores) = (
        Shared(out.as_mut_ptr(), out.len()),
        Shared(scores.as_mut_ptr(), scores.len()),
    );
    // One task per (KV head, part of the queries); a KV head's query heads are adjacent.
    pool.run(kv_heads * splits, &|mine| {
        for task in mine {
            let (h, part) = (task / splits, task % splits);
            let cols = h * group * hd..(h + 1) * group * hd;
            let first_row = (part * kv_heads + h) * group * ctx;
            // SAFETY: this task's score rows and its queries' output columns are its own.
            let rows = unsafe { scores.slice(first_row..first_row + group * ctx) };
            for t in (part..n).step_by(splits) {
                let qh = &q[t * q_dim..][cols.clone()];
                // SAFETY: as above, for row `t`.
                let o = unsafe { out.slice(t * q_dim + cols.start..t * q_dim + cols.end) };
                cache.attend(h, qh, start + t + 1, scale, rows, ctx, o);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Causal grouped-query attention written out plainly.
    fn naive(
        q: &[f32],
        keys: &[Vec<f32>],
        vals: &[Vec<f32>],
        heads: usize,
        kvh: usize,
        hd: usize,
        start: usize,
    ) -> Vec<f32> {
        let n = q.len() / (heads * hd);
        let mut out = vec![0.0; q.len()];
        for t in 0..n {
            for h in 0..heads {
                let kv = h / (heads / kvh);
                let qh = &q[(t * heads + h) * hd..][..hd];
                let len = start + t + 1;
                let s: Vec<f32> = (0..len)
                    .map(|j| {
                        (0..hd).map(|d| qh[d] * keys[j][kv * hd + d]).sum::<f32>()
                            / (hd as f32).sqrt()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f32::MIN, f32::max);
                let e: Vec<f32> = s.iter().map(|v| (v - m).exp()).collect();
                let sum: f32 = e.iter().sum();
                for j in 0..len {
                    for d in 0..hd {
                        out[(t * heads + h) * hd + d] += e[j] / sum * vals[j][kv * hd + d];
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_naive_attention() {
        let (heads, kvh, hd, ctx) = (9, 3, 64, 16);
        let f = |i: usize, a: f32| (i as f32 * a).sin();
        let keys: Vec<Vec<f32>> = (0..6)
            .map(|p| (0..kvh * hd).map(|i| f(i + 1000 * p, 0.13)).collect())
            .collect();
        let vals: Vec<Vec<f32>> = (0..6)
            .map(|p| (0..kvh * hd).map(|i| f(i + 1000 * p, 0.29)).collect())
            .collect();
        for threads in [1, 2] {
            let pool = Pool::new(threads).unwrap();
            let mut cache = KvCache::new(KvCacheType::F32, kvh, ctx, hd);
            for p in 0..6 {
                cache.store(p, &keys[p], &vals[p]);
            }
            // Positions 3..6 as a chunk of 3 queries.
            let q: Vec<f32> = (0..3 * heads * hd).map(|i| f(i, 0.07)).collect();
            let mut out = vec![0.0; q.len()];
            let mut scores = vec![0.0; QUERY_SPLITS * heads * ctx];
            attend(&pool, &cache, &q, &mut out, &mut scores, heads, 3);
            let want = naive(&q, &keys, &vals, heads, kvh, hd, 3);
            for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{threads} threads, element {i}: {a} vs {b}"
                );
            }
        }
    }
}
