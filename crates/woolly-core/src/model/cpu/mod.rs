//! The CPU forward pass: the same LLaMA-family decoder as the burn one, written against
//! plain buffers so a decode step allocates nothing and every matrix product runs on the
//! packed quantized kernels, several layers per pass of a persistent thread pool.

mod attention;
pub(super) mod ops;
mod pool;
use woolly_quant::vector as simd;
mod weights;

use super::config::{Activation, ModelConfig, RopeLayout};
use super::device::ComputeDevice;
use super::weights::{LayerWeights, QMatrix};
use super::ModelError;
use crate::engine::KvCacheType;
use crate::gguf::GgufFile;
use crate::quant::packed::{amx_available, kernels_name, tiled_available, Isa, TokenTiles};
use crate::quant::{self, Q8Block, Q8_BLOCK};
use attention::KvCache;
use pool::{Pool, SharedMut};
use std::sync::Arc;
use weights::{matmul, Input, Linear, Weight};

/// Tokens per prefill chunk: bounds the scratch buffers while keeping weight reuse high.
const CHUNK: usize = 128;

struct Layer {
    w: LayerWeights<Weight, Vec<f32>>,
    cache: KvCache,
}

/// Buffers for one chunk of `CHUNK` tokens, allocated once.
struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    xq: Vec<Q8Block>,
    /// `xq` as token tiles, during a prefill on the tiled kernels.
    tiles: TokenTiles,
    /// Rows of attention scores: one per query head and part of a chunk.
    scores: Vec<f32>,
}

pub struct CpuTransformer {
    cfg: ModelConfig,
    device: ComputeDevice,
    ctx: usize,
    isa: Isa,
    /// Prefill on the tiled kernels (AMX or AVX-512 VNNI).
    tiled: bool,
    /// The token table; also the output head when the model ties them.
    embeddings: Linear,
    /// `None` when the output head is the embedding table (tied).
    output: Option<Linear>,
    output_norm: Vec<f32>,
    layers: Vec<Layer>,
    /// `[ctx][rope_dim / 2]` each.
    rope_cos: Vec<f32>,
    rope_sin: Vec<f32>,
    /// The local (sliding-window) layers' tables, where their RoPE differs.
    rope_local: Option<(Vec<f32>, Vec<f32>)>,
    pool: Pool,
    s: Scratch,
}

impl CpuTransformer {
    pub fn load(
        file: Arc<GgufFile>,
        cfg: ModelConfig,
        device: ComputeDevice,
        ctx: usize,
        kv: KvCacheType,
        threads: usize,
    ) -> Result<Self, ModelError> {
        let isa = Isa::detect();
        let matrix = |name: &str, rows, cols| QMatrix::named(&file, name, rows, cols);
        let vector = |name: &str| super::weights::load_vec(&file, name);
        let linear = |name: &str, rows: usize, cols: usize| -> Result<Linear, ModelError> {
            Ok(Linear {
                weight: Weight::new(matrix(&format!("{name}.weight"), rows, cols)?),
                bias: match file.tensor(&format!("{name}.bias")) {
                    Some(_) => Some(vector(&format!("{name}.bias"))?),
                    None => None,
                },
            })
        };
        let (dim, hd) = (cfg.dim, cfg.head_dim);
        let (q_dim, kv_dim) = (cfg.n_heads * hd, cfg.n_kv_heads * hd);
        let layers = (0..cfg.n_layers)
            .map(|i| {
                Ok(Layer {
                    w: LayerWeights::load(&file, &cfg, i, &|m| Ok(Weight::new(m)), &Ok)?,
                    cache: KvCache::new(kv, cfg.n_kv_heads, ctx, hd),
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let output = match file.tensor("output.weight") {
            Some(_) => Some(linear("output", cfg.vocab_size, dim)?),
            None => None,
        };
        let embed = matrix("token_embd.weight", cfg.vocab_size, dim)?;
        // A separate embedding table is only read a row at a time: leave it in the file
        // (read by positioned reads, see `QMatrix::dequantize_row`).
        let embeddings = Linear {
            weight: match output {
                None => Weight::new(embed),
                Some(_) => Weight::Rows(embed),
            },
            bias: None,
        };
        let (rope_cos, rope_sin) = super::rope::cos_sin_tables(&cfg, ctx);
        let rope_local = (0..cfg.n_layers)
            .any(|l| cfg.is_local(l))
            .then(|| super::rope::cos_sin_tables(&cfg.local_rope(), ctx));
        let pool = Pool::new(threads)
            .map_err(|e| ModelError::Internal(format!("cannot start worker threads: {e}")))?;
        let widest = dim.max(q_dim).max(cfg.ffn_dim);
        let s = Scratch {
            x: vec![0.0; CHUNK * dim],
            xn: vec![0.0; CHUNK * dim],
            q: vec![0.0; CHUNK * q_dim],
            k: vec![0.0; CHUNK * kv_dim],
            v: vec![0.0; CHUNK * kv_dim],
            att: vec![0.0; CHUNK * q_dim],
            gate: vec![0.0; CHUNK * cfg.ffn_dim],
            up: vec![0.0; CHUNK * cfg.ffn_dim],
            xq: vec![Q8Block::default(); CHUNK * widest / Q8_BLOCK],
            tiles: TokenTiles::default(),
            scores: vec![0.0; attention::scores_len(cfg.n_kv_heads, ctx)],
        };
        // The tiled prefill kernels agree to the bit with the AVX-512 decode kernels only.
        let tiled = tiled_available() && isa == Isa::Avx512Vnni;
        let kernels = kernels_name(isa, amx_available());
        let device = ComputeDevice {
            name: format!("cpu ({kernels}, {} threads)", pool.threads()),
            ..device
        };
        Ok(Self {
            output_norm: vector("output_norm.weight")?,
            cfg,
            device,
            ctx,
            isa,
            tiled,
            embeddings,
            output,
            layers,
            rope_cos,
            rope_sin,
            rope_local,
            pool,
            s,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn context_length(&self) -> usize {
        self.ctx
    }

    pub fn device(&self) -> &ComputeDevice {
        &self.device
    }

    /// [`super::Model::forward`], whose arguments were checked there.
    pub(super) fn forward(
        &mut self,
        tokens: &[u32],
        start: usize,
        logits: &mut [f32],
    ) -> Result<(), ModelError> {
        let mut n = 0;
        for (i, chunk) in tokens.chunks(CHUNK).enumerate() {
            self.forward_chunk(chunk, start + i * CHUNK)?;
            n = chunk.len();
        }
        // The head, for the last token only.
        let dim = self.cfg.dim;
        let s = &mut self.s;
        let (last, w, eps) = (
            &s.x[(n - 1) * dim..n * dim],
            &self.output_norm,
            self.cfg.norm_eps,
        );
        rows_quantized(&self.pool, &mut s.xn, &mut s.xq, 1, dim, &|_, o| {
            ops::rms_norm(last, w, eps, o)
        });
        let input = Input::quantized(&s.xn[..dim], &s.xq, &mut s.tiles, 1, dim, false);
        let head = self.output.as_ref().unwrap_or(&self.embeddings);
        matmul(&self.pool, self.isa, &input, [(head, &mut *logits)]);
        if self.cfg.final_softcap > 0.0 {
            simd::softcap(logits, self.cfg.final_softcap);
        }
        Ok(())
    }

    /// [`super::Model::hidden_sum`], whose arguments were checked there.
    pub(super) fn hidden_sum(
        &mut self,
        tokens: &[u32],
        start: usize,
        sum: &mut [f32],
    ) -> Result<(), ModelError> {
        let dim = self.cfg.dim;
        let mut row = vec![0.0; dim];
        for (i, chunk) in tokens.chunks(CHUNK).enumerate() {
            self.forward_chunk(chunk, start + i * CHUNK)?;
            for x in self.s.x[..chunk.len() * dim].chunks_exact(dim) {
                ops::rms_norm(x, &self.output_norm, self.cfg.norm_eps, &mut row);
                sum.iter_mut().zip(&row).for_each(|(s, r)| *s += r);
            }
        }
        Ok(())
    }

    fn forward_chunk(&mut self, tokens: &[u32], start: usize) -> Result<(), ModelError> {
        let n = tokens.len();
        let dim = self.cfg.dim;
        for (t, &token) in tokens.iter().enumerate() {
            let x = &mut self.s.x[t * dim..(t + 1) * dim];
            self.embeddings.weight.row(token as usize, x)?;
            if self.cfg.embed_scale != 1.0 {
                x.iter_mut().for_each(|v| *v *= self.cfg.embed_scale);
            }
        }
        for l in 0..self.layers.len() {
            self.layer_forward(l, n, start);
        }
        Ok(())
    }

    fn layer_forward(&mut self, l: usize, n: usize, start: usize) {
        let cfg = &self.cfg;
        let (dim, hd, ffn) = (cfg.dim, cfg.head_dim, cfg.ffn_dim);
        let (q_dim, kv_dim) = (cfg.n_heads * hd, cfg.n_kv_heads * hd);
        let (pool, isa, tiled, eps) = (&self.pool, self.isa, self.tiled, cfg.norm_eps);
        let layer = &mut self.layers[l];
        let s = &mut self.s;

        // Attention.
        let (x, w) = (&s.x, &layer.w.attn_norm);
        rows_quantized(pool, &mut s.xn, &mut s.xq, n, dim, &|t, o| {
            ops::rms_norm(&x[t * dim..(t + 1) * dim], w, eps, o)
        });
        let input = Input::quantized(&s.xn, &s.xq, &mut s.tiles, n, dim, tiled);
        matmul(
            pool,
            isa,
            &input,
            [
                (&layer.w.wq, &mut s.q[..n * q_dim]),
                (&layer.w.wk, &mut s.k[..n * kv_dim]),
                (&layer.w.wv, &mut s.v[..n * kv_dim]),
            ],
        );
        if let (Some(qn), Some(kn)) = (&layer.w.q_norm, &layer.w.k_norm) {
            ops::rms_norm_rows(&mut s.q[..n * q_dim], qn, eps);
            ops::rms_norm_rows(&mut s.k[..n * kv_dim], kn, eps);
        }
        // RoPE, a position per task, then the KV store.
        let (half, layout) = (cfg.rope_dim / 2, cfg.rope_layout);
        let local = cfg.is_local(l);
        let (cos, sin) = match &self.rope_local {
            Some((cos, sin)) if local => (cos, sin),
            _ => (&self.rope_cos, &self.rope_sin),
        };
        let (q, k) = (
            SharedMut::new(&mut s.q[..n * q_dim]),
            SharedMut::new(&mut s.k[..n * kv_dim]),
        );
        pool.run(n, &|tokens| {
            for t in tokens {
                let at = (start + t) * half..(start + t + 1) * half;
                let (cos, sin) = (&cos[at.clone()], &sin[at]);
                // SAFETY: row `t` of `q` and of `k` belong to this task alone.
                let rows = unsafe {
                    [
                        q.slice(t * q_dim..(t + 1) * q_dim),
                        k.slice(t * kv_dim..(t + 1) * kv_dim),
                    ]
                };
                for row in rows {
                    match layout {
                        RopeLayout::Normal => ops::rope_normal(row, hd, cos, sin),
                        RopeLayout::Neox => ops::rope_neox(row, hd, cos, sin),
                    }
                }
            }
        });
        layer
            .cache
            .store(pool, start, &s.k[..n * kv_dim], &s.v[..n * kv_dim]);
        attention::attend(
            pool,
            &layer.cache,
            &s.q[..n * q_dim],
            &mut s.att[..n * q_dim],
            &mut s.scores,
            cfg.n_heads,
            attention::Causal {
                start,
                window: if local { cfg.window } else { 0 },
            },
            attention::Scoring {
                scale: cfg.attn_scale,
                softcap: cfg.attn_softcap,
            },
        );
        rows_quantized(pool, &mut s.att, &mut s.xq, n, q_dim, &|_, _| {});
        let input = Input::quantized(&s.att, &s.xq, &mut s.tiles, n, q_dim, tiled);
        matmul(pool, isa, &input, [(&layer.w.wo, &mut s.xn[..n * dim])]);
        if let Some(w) = &layer.w.post_attn_norm {
            ops::rms_norm_rows(&mut s.xn[..n * dim], w, eps);
        }
        ops::add(&mut s.x[..n * dim], &s.xn[..n * dim]);

        // Gated feed-forward (SwiGLU or GeGLU).
        let (x, w) = (&s.x, &layer.w.ffn_norm);
        rows_quantized(pool, &mut s.xn, &mut s.xq, n, dim, &|t, o| {
            ops::rms_norm(&x[t * dim..(t + 1) * dim], w, eps, o)
        });
        let input = Input::quantized(&s.xn, &s.xq, &mut s.tiles, n, dim, tiled);
        matmul(
            pool,
            isa,
            &input,
            [
                (&layer.w.gate, &mut s.gate[..n * ffn]),
                (&layer.w.up, &mut s.up[..n * ffn]),
            ],
        );
        // The gate's activation, its output quantized for the down projection.
        let (up, activation) = (&s.up, cfg.activation);
        rows_quantized(pool, &mut s.gate, &mut s.xq, n, ffn, &|t, g| {
            let up = &up[t * ffn..(t + 1) * ffn];
            match activation {
                Activation::Silu => ops::swiglu(g, up),
                Activation::GeluTanh => ops::geglu(g, up),
            }
        });
        let input = Input::quantized(&s.gate, &s.xq, &mut s.tiles, n, ffn, tiled);
        matmul(pool, isa, &input, [(&layer.w.down, &mut s.xn[..n * dim])]);
        if let Some(w) = &layer.w.post_ffn_norm {
            ops::rms_norm_rows(&mut s.xn[..n * dim], w, eps);
        }
        ops::add(&mut s.x[..n * dim], &s.xn[..n * dim]);
    }
}

/// Writes rows `0..n` of `out` (`cols` wide) with `row(t, out_row)` and quantizes each into
/// `xq` as it is written: a row per task of the pool.
fn rows_quantized(
    pool: &Pool,
    out: &mut [f32],
    xq: &mut [Q8Block],
    n: usize,
    cols: usize,
    row: &(dyn Fn(usize, &mut [f32]) + Sync),
) {
    let blocks = if cols.is_multiple_of(Q8_BLOCK) {
        cols / Q8_BLOCK
    } else {
        0
    };
    let (out, xq) = (
        SharedMut::new(&mut out[..n * cols]),
        SharedMut::new(&mut xq[..n * blocks]),
    );
    pool.run(n, &|rows| {
        for t in rows {
            // SAFETY: row `t` of `out` and of `xq` belong to this task alone.
            let (o, q) = unsafe {
                (
                    out.slice(t * cols..(t + 1) * cols),
                    xq.slice(t * blocks..(t + 1) * blocks),
                )
            };
            row(t, o);
            if blocks > 0 {
                quant::quantize_q8(o, q);
            }
        }
    });
}
