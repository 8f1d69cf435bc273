//! Rotary position embeddings as burn ops over precomputed cos/sin tables.

use super::config::{ModelConfig, RopeLayout};
use burn::tensor::{Device, Tensor, TensorData};

/// cos/sin of every position and rotated pair (`[ctx][rope_dim / 2]` each), scaled as the
/// model's RoPE scaling asks. The angles are built as llama.cpp builds them: the position
/// times `base^(-2/dim)`, multiplied in once per pair (rather than a power per pair), so
/// they round the same way.
pub fn cos_sin_tables(cfg: &ModelConfig, ctx: usize) -> (Vec<f32>, Vec<f32>) {
    let (inv, mscale) = (cfg.rope_inv_freqs(), cfg.rope_mscale());
    let step = cfg.rope_base.powf(-2.0 / cfg.rope_dim as f32);
    // What scaling does to each pair's frequency: exactly 1 without scaling.
    let unscaled = |i: usize| cfg.rope_base.powf(-((2 * i) as f32) / cfg.rope_dim as f32);
    let scale: Vec<f32> = inv
        .iter()
        .enumerate()
        .map(|(i, f)| f / unscaled(i))
        .collect();
    let mut cos = Vec::with_capacity(ctx * inv.len());
    let mut sin = Vec::with_capacity(ctx * inv.len());
    for pos in 0..ctx {
        let mut theta = pos as f32;
        for &s in &scale {
            let angle = theta * s;
            cos.push(angle.cos() * mscale);
            sin.push(angle.sin() * mscale);
            theta *= step;
        }
    }
    (cos, sin)
}

pub struct Rope {
    /// `[ctx, rope_dim / 2]`
    cos: Tensor<2>,
    sin: Tensor<2>,
    rope_dim: usize,
    layout: RopeLayout,
}

impl Rope {
    pub fn new(cfg: &ModelConfig, ctx: usize, device: &Device) -> Self {
        let (cos, sin) = cos_sin_tables(cfg, ctx);
        let half = cfg.rope_dim / 2;
        let table = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [ctx, half]), device);
        Self {
            cos: table(cos),
            sin: table(sin),
            rope_dim: cfg.rope_dim,
            layout: cfg.rope_layout,
        }
    }

    /// Rotates `x: [heads, n, head_dim]` for positions `start..start + n`.
    pub fn apply(&self, x: Tensor<3>, start: usize) -> Tensor<3> {
        let [heads, n, head_dim] = x.dims();
        let half = self.rope_dim / 2;
        let cos = self.cos.clone().narrow(0, start, n).unsqueeze_dim::<3>(0);
        let sin = self.sin.clone().narrow(0, start, n).unsqueeze_dim::<3>(0);
        let (rot, pass) = if self.rope_dim < head_dim {
            let pass = x.clone().narrow(2, self.rope_dim, head_dim - self.rope_dim);
            (x.narrow(2, 0, self.rope_dim), Some(pass))
        } else {
            (x, None)
        };
        let rotated = match self.layout {
            // Adjacent pairs (x0, x1), (x2, x3), ...
            RopeLayout::Normal => {
                let pairs = rot.reshape([heads, n, half, 2]);
                let x0 = pairs.clone().narrow(3, 0, 1).reshape([heads, n, half]);
                let x1 = pairs.narrow(3, 1, 1).reshape([heads, n, half]);
                let r0 = x0.clone() * cos.clone() - x1.clone() * sin.clone();
                let r1 = x0 * sin + x1 * cos;
                Tensor::stack::<4>(vec![r0, r1], 3).reshape([heads, n, self.rope_dim])
            }
            // First half paired with second half (GPT-NeoX, Qwen).
            RopeLayout::Neox => {
                let x0 = rot.clone().narrow(2, 0, half);
                let x1 = rot.narrow(2, half, half);
                let r0 = x0.clone() * cos.clone() - x1.clone() * sin.clone();
                let r1 = x0 * sin + x1 * cos;
                Tensor::cat(vec![r0, r1], 2)
            }
        };
        match pass {
            Some(pass) => Tensor::cat(vec![rotated, pass], 2),
            None => rotated,
        }
    }
}
