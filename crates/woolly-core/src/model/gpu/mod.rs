//! The forward pass on a GPU: weights uploaded once in their GGUF blocks, every step on
//! the device through our CubeCL kernels, one readback (the logits) per step.

pub mod bandwidth;
pub mod device;
pub mod kernels;
pub mod ops;
pub mod quant;
mod transformer;
pub mod weights;

pub use device::{Adapter, AdapterType, Gpu, GpuError};
pub use transformer::{inject_failure_after, GpuCounters, GpuTransformer};
