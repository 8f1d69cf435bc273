//! Rotary position embeddings as burn ops over precomputed cos/sin tables.

use super::config::{ModelConfig, RopeLayout};
use burn::tensor::{Device, Tensor, TensorData};

pub struct Rope {
    /// `[ctx, rope_dim / 2]`
    cos: Tensor<2>,
    sin: Tensor<2>,
    rope_dim: usize,
    layout: RopeLayout,
}

impl Rope {
    pub fn new(cfg: &ModelConfig, ctx: usize, device: &Device) -> Self {
        let inv = cfg.rope_inv_freqs();
        let half = inv.len();
        let mscale = cfg.rope_mscale();
        let mut cos = Vec::with_capacity(ctx * half);
        let mut sin = Vec::with_capacity(ctx * half);
        for pos in 0..ctx {
            for &f in &inv {
                let angle = pos as f32 * f;
                cos.push(angle.cos() * mscale);
                sin.push(angle.sin() * mscale);
            }
        }
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
