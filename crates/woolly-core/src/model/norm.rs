//! RMSNorm as burn ops.

use burn::tensor::Tensor;

/// `x / sqrt(mean(x^2) + eps) * weight` over the last dimension; `weight` is `[dim]`.
pub fn rms_norm<const D: usize>(x: Tensor<D>, weight: &Tensor<1>, eps: f32) -> Tensor<D> {
    let scale = x
        .clone()
        .powi_scalar(2)
        .mean_dim(D - 1)
        .add_scalar(eps)
        .sqrt()
        .recip();
    let mut shape = [1usize; D];
    shape[D - 1] = weight.dims()[0];
    x * scale * weight.clone().reshape(shape)
}
