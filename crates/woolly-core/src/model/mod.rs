//! LLaMA-family transformers with weights in their GGUF block formats: on the CPU a
//! forward pass over packed quantized kernels, on a GPU the same decoder as burn ops.

mod config;
mod cpu;
mod device;
mod linear;
mod norm;
mod rope;
mod transformer;
mod weights;

pub use config::{Arch, ConfigError, ModelConfig, RopeLayout, RopeScaling, SUPPORTED_ARCHS};
pub use cpu::CpuTransformer;
pub use device::{ComputeDevice, DeviceKind};
pub use transformer::{Transformer as BurnTransformer, PREFILL_CHUNK};
pub use weights::QMatrix;

use crate::engine::KvCacheType;
use crate::gguf::GgufFile;
use std::sync::Arc;

/// A loaded model with its KV cache, on the device it was loaded for.
pub enum Model {
    Cpu(Box<CpuTransformer>),
    Burn(Box<BurnTransformer>),
}

impl Model {
    /// The CPU path for a CPU device, burn's for a GPU.
    pub fn load(
        file: Arc<GgufFile>,
        cfg: ModelConfig,
        device: ComputeDevice,
        ctx: usize,
        kv: KvCacheType,
        threads: usize,
    ) -> Result<Self, ModelError> {
        Ok(match device.kind {
            DeviceKind::Cpu => Model::Cpu(Box::new(CpuTransformer::load(
                file, cfg, device, ctx, kv, threads,
            )?)),
            DeviceKind::Gpu => Model::Burn(Box::new(BurnTransformer::load(
                file, cfg, device, ctx, kv, threads,
            )?)),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        match self {
            Model::Cpu(m) => m.config(),
            Model::Burn(m) => m.config(),
        }
    }

    pub fn context_length(&self) -> usize {
        match self {
            Model::Cpu(m) => m.context_length(),
            Model::Burn(m) => m.context_length(),
        }
    }

    pub fn device(&self) -> &ComputeDevice {
        match self {
            Model::Cpu(m) => m.device(),
            Model::Burn(m) => m.device(),
        }
    }

    /// Runs `tokens` at positions `start..`, filling the KV cache, and writes the logits of
    /// the last token to `logits`.
    pub fn forward(
        &mut self,
        tokens: &[u32],
        start: usize,
        logits: &mut [f32],
    ) -> Result<(), ModelError> {
        if tokens.is_empty() {
            return Ok(());
        }
        let (cfg, ctx) = (self.config(), self.context_length());
        if start + tokens.len() > ctx {
            return Err(ModelError::ContextFull {
                needed: start + tokens.len(),
                context: ctx,
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(ModelError::BadToken(bad));
        }
        if logits.len() != cfg.vocab_size {
            return Err(ModelError::Internal(format!(
                "{} logits for a vocabulary of {}",
                logits.len(),
                cfg.vocab_size
            )));
        }
        match self {
            Model::Cpu(m) => m.forward(tokens, start, logits),
            Model::Burn(m) => m.forward(tokens, start, logits),
        }
    }
}

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
