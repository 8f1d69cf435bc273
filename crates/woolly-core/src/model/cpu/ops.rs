//! The small per-row operations between matrix products: RMSNorm, RoPE, SwiGLU, residuals.

use super::simd;

/// `out = x / rms(x) * w`.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let ss = simd::dot(x, x) / x.len() as f32;
    let scale = 1.0 / (ss + eps).sqrt();
    for ((o, x), w) in out.iter_mut().zip(x).zip(w) {
        *o = x * scale * w;
    }
}

/// RMSNorm of every `w.len()`-wide head in `x`, in place (Qwen3's Q/K norms).
pub fn head_norms(x: &mut [f32], w: &[f32], eps: f32) {
    let mut tmp = [0f32; 512];
    for head in x.chunks_exact_mut(w.len()) {
        let tmp = &mut tmp[..head.len()];
        rms_norm(head, w, eps, tmp);
        head.copy_from_slice(tmp);
    }
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

/// `x += y`.
pub fn add(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}
