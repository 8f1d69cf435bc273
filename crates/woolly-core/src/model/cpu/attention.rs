//! Grouped-query attention over the KV cache: the queries of a KV head (its query heads,
//! and during a prefill several positions) read its keys and values together, with no
//! repeated K/V, the KV heads and parts of the chunk split between the pool's threads.

use super::pool::{Pool, SharedMut};
pub use super::simd::Scoring;
use super::simd::{self, KvElem, Query, KEY_BLOCK, KEY_STEP, MAX_QUERIES};
use crate::engine::KvCacheType;

/// One layer's keys and values, in f32 or f16, per KV head: the keys transposed in blocks
/// of 16 positions (`[ctx / 16][head_dim][16]`, see [`simd::attend_queries`]), the values
/// as rows (`[ctx][head_dim]`), both padded to a multiple of 32 positions.
pub struct KvCache {
    kv_heads: usize,
    /// Positions, padded.
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

    /// Writes positions `start..start + n` of every head (`k`, `v`: `[n][heads][hd]`), a
    /// block of 16 positions per pool task: in the transposed K layout a block's keys are
    /// one region, so every region has a single writer.
    fn store(
        &mut self,
        pool: &Pool,
        shape: (usize, usize, usize),
        start: usize,
        k: &[f32],
        v: &[f32],
    ) {
        let (heads, ctx, hd) = shape;
        let n = k.len() / (heads * hd);
        let first = start / KEY_BLOCK;
        let blocks = (start + n).div_ceil(KEY_BLOCK) - first;
        let (kc, vc) = (SharedMut::new(&mut self.k), SharedMut::new(&mut self.v));
        pool.run(blocks, &|mine| {
            for block in mine.map(|b| first + b) {
                let positions =
                    (block * KEY_BLOCK).max(start)..((block + 1) * KEY_BLOCK).min(start + n);
                for h in 0..heads {
                    let keys = (h * ctx / KEY_BLOCK + block) * hd * KEY_BLOCK;
                    let values = (h * ctx + positions.start) * hd..(h * ctx + positions.end) * hd;
                    // SAFETY: block `block` of head `h`, and the value rows of its positions,
                    // are written by this task alone.
                    let (kd, vd) =
                        unsafe { (kc.slice(keys..keys + hd * KEY_BLOCK), vc.slice(values)) };
                    for (i, pos) in positions.clone().enumerate() {
                        let row = ((pos - start) * heads + h) * hd;
                        let lanes = kd[pos % KEY_BLOCK..].iter_mut().step_by(KEY_BLOCK);
                        for (dst, src) in lanes.zip(&k[row..row + hd]) {
                            *dst = E::from_f32(*src);
                        }
                        for (dst, src) in vd[i * hd..(i + 1) * hd].iter_mut().zip(&v[row..row + hd])
                        {
                            *dst = E::from_f32(*src);
                        }
                    }
                }
            }
        });
    }

    fn attend(
        &self,
        cache: &KvCache,
        h: usize,
        queries: &mut [Query],
        scoring: Scoring,
        scores: &mut [f32],
    ) {
        let n = cache.ctx * cache.hd;
        let (k, v) = (&self.k[h * n..(h + 1) * n], &self.v[h * n..(h + 1) * n]);
        simd::attend_queries(queries, cache.hd, k, v, scoring, scores, cache.ctx);
    }
}

impl KvCache {
    pub fn new(ty: KvCacheType, kv_heads: usize, ctx: usize, hd: usize) -> Self {
        let ctx = ctx.next_multiple_of(KEY_STEP);
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

    /// Writes the keys and values of positions `start..start + n` (`k`, `v`:
    /// `[n][kv_heads][head_dim]`), split over the pool.
    pub fn store(&mut self, pool: &Pool, start: usize, k: &[f32], v: &[f32]) {
        assert!(k.len() == v.len() && k.len().is_multiple_of(self.kv_heads * self.hd));
        assert!(start + k.len() / (self.kv_heads * self.hd) <= self.ctx);
        let shape = (self.kv_heads, self.ctx, self.hd);
        match &mut self.rows {
            KvRows::F32(rows) => rows.store(pool, shape, start, k, v),
            KvRows::F16(rows) => rows.store(pool, shape, start, k, v),
        }
    }

    /// Up to [`MAX_QUERIES`] queries of KV head `h`; `scores` holds a row per query.
    fn attend(&self, h: usize, queries: &mut [Query], scoring: Scoring, scores: &mut [f32]) {
        match &self.rows {
            KvRows::F32(rows) => rows.attend(self, h, queries, scoring, scores),
            KvRows::F16(rows) => rows.attend(self, h, queries, scoring, scores),
        }
    }
}

/// A chunk's queries are dealt round-robin into this many parts, so that with few KV heads
/// every thread still gets work (later queries see more keys: round-robin keeps it even).
pub const QUERY_SPLITS: usize = 4;

/// The length of the `scores` buffer [`attend`] needs.
pub fn scores_len(kv_heads: usize, ctx: usize) -> usize {
    kv_heads * QUERY_SPLITS * MAX_QUERIES * ctx.next_multiple_of(KEY_STEP)
}

/// Which positions the queries of a chunk see: each its own and the ones before, back to
/// the last `window` of them when `window > 0` (sliding-window layers).
#[derive(Clone, Copy)]
pub struct Causal {
    /// The position of the chunk's first query.
    pub start: usize,
    pub window: usize,
}

/// Attention of `n` queries at positions `start..start + n` (`q`, `out`:
/// `[n][heads * head_dim]`) over the cache, which already holds positions up to
/// `start + n - 1`. `scores` is [`scores_len`] long.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    pool: &Pool,
    cache: &KvCache,
    q: &[f32],
    out: &mut [f32],
    scores: &mut [f32],
    heads: usize,
    Causal { start, window }: Causal,
    scoring: Scoring,
) {
    let (hd, ctx, kv_heads) = (cache.hd, cache.ctx, cache.kv_heads);
    let q_dim = heads * hd;
    let n = q.len() / q_dim;
    let group = heads / kv_heads;
    let splits = QUERY_SPLITS.min(n);
    assert!(scores.len() >= scores_len(kv_heads, ctx) && out.len() >= q.len());
    assert!(start + n <= ctx);
    let (out, scores) = (SharedMut::new(out), SharedMut::new(scores));
    // One task per (KV head, part of the positions); its queries go to the kernel a batch
    // of up to MAX_QUERIES (head, position) pairs at a time.
    pool.run(kv_heads * splits, &|mine| {
        for task in mine {
            let (h, part) = (task / splits, task % splits);
            let rows = MAX_QUERIES * ctx;
            // SAFETY: this task's score rows are its own.
            let scores = unsafe { scores.slice(task * rows..(task + 1) * rows) };
            let mut pending = [(0usize, 0usize); MAX_QUERIES];
            let mut count = 0;
            let run = |pending: &[(usize, usize)], scores: &mut [f32]| {
                let mut queries: [Query; MAX_QUERIES] = std::array::from_fn(|i| {
                    let Some(&(t, g)) = pending.get(i) else {
                        return Query {
                            q: &[],
                            first: 0,
                            len: 0,
                            out: &mut [],
                        };
                    };
                    let (at, col) = (t * q_dim, (h * group + g) * hd);
                    // SAFETY: a query's output columns belong to its (position, head)
                    // alone, and each pair is in one batch of one task.
                    let o = unsafe { out.slice(at + col..at + col + hd) };
                    let len = start + t + 1;
                    Query {
                        q: &q[at + col..][..hd],
                        first: if window > 0 {
                            len.saturating_sub(window)
                        } else {
                            0
                        },
                        len,
                        out: o,
                    }
                });
                cache.attend(h, &mut queries[..pending.len()], scoring, scores);
            };
            for t in (part..n).step_by(splits) {
                for g in 0..group {
                    pending[count] = (t, g);
                    count += 1;
                    if count == MAX_QUERIES {
                        run(&pending, scores);
                        count = 0;
                    }
                }
            }
            if count > 0 {
                run(&pending[..count], scores);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Causal grouped-query attention written out plainly.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        q: &[f32],
        keys: &[Vec<f32>],
        vals: &[Vec<f32>],
        heads: usize,
        kvh: usize,
        hd: usize,
        start: usize,
        window: usize,
    ) -> Vec<f32> {
        let n = q.len() / (heads * hd);
        let mut out = vec![0.0; q.len()];
        for t in 0..n {
            for h in 0..heads {
                let kv = h / (heads / kvh);
                let qh = &q[(t * heads + h) * hd..][..hd];
                let len = start + t + 1;
                let first = if window > 0 {
                    len.saturating_sub(window)
                } else {
                    0
                };
                let s: Vec<f32> = (first..len)
                    .map(|j| {
                        (0..hd).map(|d| qh[d] * keys[j][kv * hd + d]).sum::<f32>()
                            / (hd as f32).sqrt()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f32::MIN, f32::max);
                let e: Vec<f32> = s.iter().map(|v| (v - m).exp()).collect();
                let sum: f32 = e.iter().sum();
                for (j, e) in (first..len).zip(&e) {
                    for d in 0..hd {
                        out[(t * heads + h) * hd + d] += e / sum * vals[j][kv * hd + d];
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
                cache.store(&pool, p, &keys[p], &vals[p]);
            }
            // Positions 3..6 as a chunk of 3 queries, over the whole context and over
            // sliding windows of 2 and 4 positions.
            let q: Vec<f32> = (0..3 * heads * hd).map(|i| f(i, 0.07)).collect();
            for window in [0, 2, 4] {
                let mut out = vec![0.0; q.len()];
                let mut scores = vec![0.0; scores_len(kvh, ctx)];
                let causal = Causal { start: 3, window };
                let scoring = Scoring {
                    scale: 1.0 / (hd as f32).sqrt(),
                    softcap: 0.0,
                };
                attend(
                    &pool,
                    &cache,
                    &q,
                    &mut out,
                    &mut scores,
                    heads,
                    causal,
                    scoring,
                );
                let want = naive(&q, &keys, &vals, heads, kvh, hd, 3, window);
                for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{threads} threads, window {window}, element {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_chunk_stores_as_its_positions_one_by_one() {
        let (kvh, hd, ctx, n) = (3, 64, 64, 40);
        let width = kvh * hd;
        let keys: Vec<f32> = (0..n * width).map(|i| (i as f32 * 0.37).sin()).collect();
        let vals: Vec<f32> = (0..n * width).map(|i| (i as f32 * 0.11).cos()).collect();
        let pool = Pool::new(2).unwrap();
        let mut one = KvCache::new(KvCacheType::F16, kvh, ctx, hd);
        for p in 0..n {
            let row = p * width..(p + 1) * width;
            one.store(&pool, p, &keys[row.clone()], &vals[row]);
        }
        // A chunk from an unaligned position, over three 16-position blocks.
        let mut chunked = KvCache::new(KvCacheType::F16, kvh, ctx, hd);
        chunked.store(&pool, 0, &keys[..5 * width], &vals[..5 * width]);
        chunked.store(&pool, 5, &keys[5 * width..], &vals[5 * width..]);
        let (KvRows::F16(a), KvRows::F16(b)) = (&one.rows, &chunked.rows) else {
            unreachable!()
        };
        assert!(a.k == b.k && a.v == b.v);
        assert!(a.k.iter().any(|&x| x != 0) && a.v.iter().any(|&x| x != 0));
    }
}
