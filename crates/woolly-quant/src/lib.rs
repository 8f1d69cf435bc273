//! GGUF block formats: geometry, dequantization, and the fused dot products the model's
//! matrix kernels are built on; and the f32 vector loops of attention and the activations.

pub mod cpu;
mod dequant;
mod dot;
#[cfg(target_arch = "x86_64")]
mod dot_avx2;
pub mod packed;
mod types;
pub mod vector;

pub use cpu::CpuFeatures;
pub use dequant::{dequantize, QuantError};
pub use dot::{f32_dot, quantize_q8, uses_q8, vec_dot, vec_dot_portable, Q8Block, Q8_BLOCK};
pub use types::{GgmlType, QK_K};
