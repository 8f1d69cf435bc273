//! The memory a model needs, checked against what the machine has before loading.

use super::KvCacheType;
use crate::gguf::GgufFile;
use crate::model::ModelConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MemoryEstimate {
    pub weights: u64,
    pub kv_cache: u64,
    /// Activations, logits and kernel buffers.
    pub scratch: u64,
}

impl MemoryEstimate {
    pub fn new(file: &GgufFile, cfg: &ModelConfig, ctx: usize, kv: KvCacheType) -> Self {
        let f32s = |n: usize| (n * 4) as u64;
        // Per-position attention scores for every head, plus layer activations for a
        // prompt batch, plus logits.
        let batch = 512.min(ctx);
        let scratch = f32s(cfg.n_heads * ctx * batch)
            + f32s(batch * (4 * cfg.dim + 3 * cfg.ffn_dim))
            + f32s(batch * cfg.vocab_size.min(1 << 20))
            + (16 << 20);
        Self {
            weights: file.tensor_bytes_total(),
            kv_cache: cfg.kv_cache_bytes(ctx, kv.bytes()),
            scratch,
        }
    }

    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.scratch
    }
}

/// Memory the system can give right now, if it can be told.
pub fn available_memory() -> Option<u64> {
    let mut sys = sysinfo::System::new().ok()?;
    sys.refresh_memory();
    match sys.available_memory() {
        0 => None,
        n => Some(n),
    }
}
