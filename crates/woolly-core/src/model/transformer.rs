//! The LLaMA-family decoder (llama, mistral, qwen2, qwen3): embeddings, blocks of
//! grouped-query attention and SwiGLU feed-forward, final norm and output head.

use super::config::{Arch, ModelConfig};
use super::device::ComputeDevice;
use super::linear::{Linear, MatmulPool};
use super::norm::rms_norm;
use super::rope::Rope;
use super::weights::QMatrix;
use super::ModelError;
use crate::engine::KvCacheType;
use crate::gguf::GgufFile;
use crate::quant;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{DType, Device, Tensor, TensorData};
use std::sync::Arc;

/// Prompts are processed in chunks of this many tokens to bound scratch memory.
pub const PREFILL_CHUNK: usize = 256;

struct Block {
    attn_norm: Tensor<1>,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    q_norm: Option<Tensor<1>>,
    k_norm: Option<Tensor<1>>,
    ffn_norm: Tensor<1>,
    gate: Linear,
    up: Linear,
    down: Linear,
    /// `[kv_heads, ctx, head_dim]`
    k_cache: Tensor<3>,
    v_cache: Tensor<3>,
}

pub struct Transformer {
    cfg: ModelConfig,
    device: ComputeDevice,
    ctx: usize,
    embeddings: QMatrix,
    blocks: Vec<Block>,
    output_norm: Tensor<1>,
    output: Linear,
    rope: Rope,
    pool: MatmulPool,
    embed_row: Vec<f32>,
}

impl Transformer {
    pub fn load(
        file: Arc<GgufFile>,
        cfg: ModelConfig,
        device: ComputeDevice,
        ctx: usize,
        kv: KvCacheType,
        threads: usize,
    ) -> Result<Self, ModelError> {
        let dev = &device.device;
        let vector =
            |name: &str| -> Result<Tensor<1>, ModelError> { load_vector(&file, name, dev) };
        let optional_vector = |name: &str| match file.tensor(name) {
            Some(_) => vector(name).map(Some),
            None => Ok(None),
        };
        let linear = |name: &str, rows: usize, cols: usize| -> Result<Linear, ModelError> {
            let w = QMatrix::named(&file, &format!("{name}.weight"), rows, cols)?;
            let bias = optional_vector(&format!("{name}.bias"))?;
            Ok(Linear::new(w, bias))
        };
        let (dim, hd) = (cfg.dim, cfg.head_dim);
        let (q_dim, kv_dim) = (cfg.n_heads * hd, cfg.n_kv_heads * hd);
        let kv_dtype = match kv {
            KvCacheType::F32 => DType::F32,
            KvCacheType::F16 => DType::F16,
        };
        let mut blocks = Vec::with_capacity(cfg.n_layers);
        for i in 0..cfg.n_layers {
            let p = format!("blk.{i}");
            let cache = || Tensor::<3>::zeros([cfg.n_kv_heads, ctx, hd], dev).cast(kv_dtype);
            blocks.push(Block {
                attn_norm: vector(&format!("{p}.attn_norm.weight"))?,
                wq: linear(&format!("{p}.attn_q"), q_dim, dim)?,
                wk: linear(&format!("{p}.attn_k"), kv_dim, dim)?,
                wv: linear(&format!("{p}.attn_v"), kv_dim, dim)?,
                wo: linear(&format!("{p}.attn_output"), dim, q_dim)?,
                q_norm: optional_vector(&format!("{p}.attn_q_norm.weight"))?,
                k_norm: optional_vector(&format!("{p}.attn_k_norm.weight"))?,
                ffn_norm: vector(&format!("{p}.ffn_norm.weight"))?,
                gate: linear(&format!("{p}.ffn_gate"), cfg.ffn_dim, dim)?,
                up: linear(&format!("{p}.ffn_up"), cfg.ffn_dim, dim)?,
                down: linear(&format!("{p}.ffn_down"), dim, cfg.ffn_dim)?,
                k_cache: cache(),
                v_cache: cache(),
            });
        }
        if cfg.arch == Arch::Qwen3
            && blocks
                .iter()
                .any(|b| b.q_norm.is_none() || b.k_norm.is_none())
        {
            return Err(ModelError::MissingTensor(
                "blk.N.attn_q_norm.weight / attn_k_norm.weight".into(),
            ));
        }
        let embeddings = QMatrix::named(&file, "token_embd.weight", cfg.vocab_size, dim)?;
        // Tied output head: the embedding table doubles as the output projection.
        let output = match file.tensor("output.weight") {
            Some(_) => linear("output", cfg.vocab_size, dim)?,
            None => Linear::new(embeddings.clone(), None),
        };
        Ok(Self {
            rope: Rope::new(&cfg, ctx, dev),
            output_norm: vector("output_norm.weight")?,
            output,
            embeddings,
            blocks,
            pool: MatmulPool::new(threads)?,
            embed_row: vec![0.0; dim],
            device,
            ctx,
            cfg,
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
        let mut last = None;
        for (i, chunk) in tokens.chunks(PREFILL_CHUNK).enumerate() {
            last = Some(self.forward_chunk(chunk, start + i * PREFILL_CHUNK));
        }
        let x = last.expect("at least one chunk");
        let n = x.dims()[0];
        let x = rms_norm(x.narrow(0, n - 1, 1), &self.output_norm, self.cfg.norm_eps);
        let out = self.output.forward_to_vec(x, &self.pool);
        if out.len() != logits.len() {
            return Err(ModelError::Internal(format!(
                "{} logits for a vocabulary of {}",
                out.len(),
                logits.len()
            )));
        }
        logits.copy_from_slice(&out);
        Ok(())
    }

    fn forward_chunk(&mut self, tokens: &[u32], start: usize) -> Tensor<2> {
        let mut x = self.embed(tokens);
        for b in 0..self.blocks.len() {
            x = self.block_forward(b, x, start);
        }
        x
    }

    /// Dequantizes the embedding rows of `tokens` (the table itself stays quantized).
    fn embed(&mut self, tokens: &[u32]) -> Tensor<2> {
        let dim = self.cfg.dim;
        let mut data = Vec::with_capacity(tokens.len() * dim);
        for &t in tokens {
            // Shapes were checked at load, so a row always dequantizes.
            let _ = quant::dequantize(
                self.embeddings.ty,
                self.embeddings.row(t as usize),
                &mut self.embed_row,
            );
            data.extend_from_slice(&self.embed_row);
        }
        Tensor::from_data(
            TensorData::new(data, [tokens.len(), dim]),
            &self.device.device,
        )
    }

    fn block_forward(&mut self, b: usize, x: Tensor<2>, start: usize) -> Tensor<2> {
        let cfg = &self.cfg;
        let pool = &self.pool;
        let blk = &mut self.blocks[b];
        let [n, _] = x.dims();
        let (h, kvh, hd) = (cfg.n_heads, cfg.n_kv_heads, cfg.head_dim);
        let group = h / kvh;

        // Attention.
        let xn = rms_norm(x.clone(), &blk.attn_norm, cfg.norm_eps);
        let heads = |t: Tensor<2>, count: usize| t.reshape([n, count, hd]).swap_dims(0, 1);
        let mut q = heads(blk.wq.forward(xn.clone(), pool), h);
        let mut k = heads(blk.wk.forward(xn.clone(), pool), kvh);
        let v = heads(blk.wv.forward(xn, pool), kvh);
        if let (Some(qn), Some(kn)) = (&blk.q_norm, &blk.k_norm) {
            q = rms_norm(q, qn, cfg.norm_eps);
            k = rms_norm(k, kn, cfg.norm_eps);
        }
        let q = self.rope.apply(q, start);
        let k = self.rope.apply(k, start);
        let end = start + n;
        let dtype = blk.k_cache.dtype();
        blk.k_cache
            .inplace(|c| c.slice_assign([0..kvh, start..end, 0..hd], k.cast(dtype)));
        blk.v_cache
            .inplace(|c| c.slice_assign([0..kvh, start..end, 0..hd], v.cast(dtype)));
        let keys = blk.k_cache.clone().narrow(1, 0, end).cast(DType::F32);
        let values = blk.v_cache.clone().narrow(1, 0, end).cast(DType::F32);
        // Grouped-query attention without repeating K/V: the `group` query heads that share
        // a KV head are stacked along the row axis of one batched matmul.
        let q = q.reshape([kvh, group * n, hd]);
        let mut scores = q
            .matmul(keys.swap_dims(1, 2))
            .mul_scalar(1.0 / (hd as f32).sqrt());
        if n > 1 {
            scores = scores + causal_mask(group, n, start, &self.device.device);
        }
        let attn = softmax(scores, 2).matmul(values); // [kvh, group * n, hd]
        let attn = attn
            .reshape([h, n, hd])
            .swap_dims(0, 1)
            .reshape([n, h * hd]);
        let x = x + blk.wo.forward(attn, pool);

        // SwiGLU feed-forward.
        let xn = rms_norm(x.clone(), &blk.ffn_norm, cfg.norm_eps);
        let gated = silu(blk.gate.forward(xn.clone(), pool)) * blk.up.forward(xn, pool);
        x + blk.down.forward(gated, pool)
    }
}

/// Additive mask `[1, group * n, start + n]`: row `g * n + i` (query at position
/// `start + i`) sees keys at positions `<= start + i`.
fn causal_mask(group: usize, n: usize, start: usize, device: &Device) -> Tensor<3> {
    let len = start + n;
    let mut mask = vec![0.0f32; group * n * len];
    for g in 0..group {
        for i in 0..n {
            let row = &mut mask[(g * n + i) * len..(g * n + i + 1) * len];
            row[start + i + 1..].fill(f32::NEG_INFINITY);
        }
    }
    Tensor::from_data(TensorData::new(mask, [1, group * n, len]), device)
}

fn load_vector(file: &GgufFile, name: &str, device: &Device) -> Result<Tensor<1>, ModelError> {
    let out = super::weights::load_vec(file, name)?;
    let n = out.len();
    Ok(Tensor::from_data(TensorData::new(out, [n]), device))
}
