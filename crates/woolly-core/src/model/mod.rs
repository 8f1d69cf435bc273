//! LLaMA-family transformers on burn, with weights in their GGUF block formats.

mod config;
mod device;
mod linear;
mod norm;
mod rope;
mod transformer;
mod weights;

pub use config::{Arch, ConfigError, ModelConfig, RopeLayout, RopeScaling, SUPPORTED_ARCHS};
pub use device::{ComputeDevice, DeviceKind};
pub use transformer::{Transformer as Model, PREFILL_CHUNK};
pub use weights::QMatrix;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the model file has no tensor {0:?}")]
    MissingTensor(String),
    #[error("tensor {name:?}: {reason}")]
    BadTensor { name: String, reason: String },
    #[error("token id {0} is outside the vocabulary")]
    BadToken(u32),
    #[error("the context is full: {needed} positions needed, {context} available")]
    ContextFull { needed: usize, context: usize },
    #[error("{0}")]
    Device(String),
    #[error("internal model error: {0}")]
    Internal(String),
}
