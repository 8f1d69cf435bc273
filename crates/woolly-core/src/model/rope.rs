//! Rotary position embeddings: the cos/sin tables both forward passes read.

use super::config::ModelConfig;

/// cos/sin of every position and rotated pair (`[ctx][rope_dim / 2]` each), scaled as the
/// model's RoPE scaling asks. The angles are built as llama.cpp builds them: the position
/// times `base^(-2/dim)`, multiplied in once per pair (rather than a power per pair), so
/// they round the same way.
pub fn cos_sin_tables(cfg: &ModelConfig, ctx: usize) -> (Vec<f32>, Vec<f32>) {
    let (inv, mscale) = (cfg.rope_inv_freqs(ctx), cfg.rope_mscale());
    let step = cfg.rope_base.powf(-2.0 / cfg.rope_dim as f32);
    // What scaling and factors do to each pair's frequency: exactly 1 without either.
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
