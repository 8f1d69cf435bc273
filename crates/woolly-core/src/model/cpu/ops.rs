//! The small per-row operations between matrix products: RMSNorm, RoPE, SwiGLU, residuals.

use super::simd;

/// `out = x / rms(x) * w`, rounded step by step as llama.cpp's RMSNorm is.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let scale = 1.0 / (mean_square(x) + eps).sqrt();
    for ((o, x), w) in out.iter_mut().zip(x).zip(w) {
        *o = x * scale * w;
    }
}

/// The mean of the f32 squares of `x`, summed in f64 (as llama.cpp does): the f32 result
/// then does not depend on the order of the sum, so it is the same as llama.cpp's.
fn mean_square(x: &[f32]) -> f32 {
    let mut lanes = [0f64; 8];
    let chunks = x.chunks_exact(lanes.len());
    let tail: f64 = chunks.remainder().iter().map(|v| (v * v) as f64).sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += (v * v) as f64;
        }
    }
    ((lanes.iter().sum::<f64>() + tail) / x.len() as f64) as f32
}

/// Rotates adjacent pairs `(x0, x1), (x2, x3), ...` of each `head_dim`-wide head; dims past
/// `2 * cos.len()` pass through.
pub fn rope_normal(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    for head in x.chunks_exact_mut(head_dim) {
        for (i, (c, s)) in cos.iter().zip(sin).enumerate() {
            let (a, b) = (head[2 * i], head[2 * i + 1]);
            head[2 * i] = a * c - b * s;
            head[2 * i + 1] = a * s + b * c;
        }
    }
}

/// Rotates the first half of the rotated dims against the second (GPT-NeoX, Qwen).
pub fn rope_neox(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    for head in x.chunks_exact_mut(head_dim) {
        for (i, (c, s)) in cos.iter().zip(sin).enumerate() {
            let (a, b) = (head[i], head[i + half]);
            head[i] = a * c - b * s;
            head[i + half] = a * s + b * c;
        }
    }
}

/// `gate = silu(gate) * up`.
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    simd::swiglu(gate, up)
}

/// `gate = gelu(gate) * up` (GeGLU, Gemma), GELU in its tanh approximation, in f32 (as
/// llama.cpp's prebuilt CPU builds compute it; its f16 lookup table parts from them at
/// near-ties).
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for (g, u) in gate.iter_mut().zip(up) {
        let x = *g;
        let gelu = 0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + 0.044_715 * x * x)).tanh());
        *g = gelu * u;
    }
}

/// RMSNorm of each `w.len()`-wide row of `x`, in place: Qwen3's and Gemma's per-head
/// query/key norms, Gemma's post-norms.
pub fn rms_norm_rows(x: &mut [f32], w: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(w.len()) {
        let scale = 1.0 / (mean_square(row) + eps).sqrt();
        for (v, w) in row.iter_mut().zip(w) {
            *v = *v * scale * w;
        }
    }
}

/// `x += y`.
pub fn add(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_square_does_not_depend_on_the_order() {
        // Magnitudes far apart, where an f32 sum loses the small terms in one order only.
        let x: Vec<f32> = (0..577)
            .map(|i| if i % 7 == 0 { 3e3 } else { 1e-2 * i as f32 })
            .collect();
        let reversed: Vec<f32> = x.iter().rev().copied().collect();
        let want = x.iter().map(|&v| (v * v) as f64).sum::<f64>() / x.len() as f64;
        assert_eq!(mean_square(&x).to_bits(), mean_square(&reversed).to_bits());
        assert_eq!(mean_square(&x), want as f32);
    }
}
