//! LLaMA-family transformers with weights in their GGUF block formats: on the CPU a
//! forward pass over packed quantized kernels, on a GPU one over our CubeCL kernels.

mod config;
mod cpu;
mod device;
pub mod gpu;
mod rope;
mod weights;

pub use config::{
    Activation, Arch, ConfigError, ModelConfig, RopeFactors, RopeLayout, RopeScaling,
    SUPPORTED_ARCHS,
};
pub use cpu::CpuTransformer;
pub use device::{ComputeDevice, DeviceKind};
pub use gpu::GpuTransformer;
pub use weights::QMatrix;

use crate::engine::KvCacheType;
use crate::gguf::GgufFile;
use std::sync::Arc;

/// A loaded model with its KV cache, on the device it was loaded for.
pub enum Model {
    Cpu(Box<CpuTransformer>),
    Gpu(Box<GpuTransformer>),
}

impl Model {
    /// The CPU path for a CPU device, the GPU path for a GPU.
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
            DeviceKind::Gpu => {
                Model::Gpu(Box::new(GpuTransformer::load(file, cfg, device, ctx, kv)?))
            }
        })
    }

    pub fn config(&self) -> &ModelConfig {
        match self {
            Model::Cpu(m) => m.config(),
            Model::Gpu(m) => m.config(),
        }
    }

    pub fn context_length(&self) -> usize {
        match self {
            Model::Cpu(m) => m.context_length(),
            Model::Gpu(m) => m.context_length(),
        }
    }

    /// Kernel launches and readbacks, on a GPU.
    pub fn gpu_counters(&self) -> Option<gpu::GpuCounters> {
        match self {
            Model::Cpu(_) => None,
            Model::Gpu(m) => Some(m.counters),
        }
    }

    pub fn device(&self) -> &ComputeDevice {
        match self {
            Model::Cpu(m) => m.device(),
            Model::Gpu(m) => m.device(),
        }
    }

    /// `tokens` at positions `start..` fit the context and the vocabulary.
    fn check_span(&self, tokens: &[u32], start: usize) -> Result<(), ModelError> {
        let ctx = self.context_length();
        if start + tokens.len() > ctx {
            return Err(ModelError::ContextFull {
                needed: start + tokens.len(),
                context: ctx,
            });
        }
        let vocab = self.config().vocab_size;
        match tokens.iter().find(|&&t| t as usize >= vocab) {
            Some(&bad) => Err(ModelError::BadToken(bad)),
            None => Ok(()),
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
        self.check_span(tokens, start)?;
        let cfg = self.config();
        if logits.len() != cfg.vocab_size {
            return Err(ModelError::Internal(format!(
                "{} logits for a vocabulary of {}",
                logits.len(),
                cfg.vocab_size
            )));
        }
        match self {
            Model::Cpu(m) => m.forward(tokens, start, logits),
            Model::Gpu(m) => m.forward(tokens, start, logits),
        }
    }

    /// Runs `tokens` at positions `start..` like [`Model::forward`], adding each position's
    /// last hidden state (after the output norm, before the head) into `sum` (one row of
    /// the model's width): what mean pooling needs.
    pub fn hidden_sum(
        &mut self,
        tokens: &[u32],
        start: usize,
        sum: &mut [f32],
    ) -> Result<(), ModelError> {
        self.check_span(tokens, start)?;
        let cfg = self.config();
        if sum.len() != cfg.dim {
            return Err(ModelError::Internal(format!(
                "a sum of {} for hidden states of {}",
                sum.len(),
                cfg.dim
            )));
        }
        match self {
            Model::Cpu(m) => m.hidden_sum(tokens, start, sum),
            Model::Gpu(m) => m.hidden_sum(tokens, start, sum),
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
    /// The model file could not be read after load (e.g. truncated on disk).
    #[error(transparent)]
    File(crate::gguf::GgufError),
}
