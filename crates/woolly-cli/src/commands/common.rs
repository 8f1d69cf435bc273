//! Options shared by the commands that run a model.

use std::path::PathBuf;
use woolly_core::engine::{DevicePreference, Engine, EngineConfig, KvCacheType};

#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// GGUF model file.
    #[arg(short, long)]
    pub model: PathBuf,
    /// Context length in tokens (0: the model's, capped at 4096).
    #[arg(
        short = 'c',
        long = "ctx-size",
        visible_alias = "ctx",
        default_value_t = 0
    )]
    pub ctx: usize,
    /// Compute device.
    #[arg(long, default_value = "cpu")]
    pub device: DevicePreference,
    /// CPU threads (0: all cores).
    #[arg(short = 't', long, default_value_t = 0)]
    pub threads: usize,
    /// Refuse to load a model needing more than this many MiB.
    #[arg(long)]
    pub max_memory_mb: Option<u64>,
    /// KV cache element type: f16 or f32 (default: the engine's).
    #[arg(long)]
    pub kv_cache: Option<KvCacheType>,
}

impl ModelArgs {
    pub fn load(&self) -> anyhow::Result<Engine> {
        let mut config = EngineConfig::builder()
            .device(self.device)
            .threads(self.threads)
            .context_length(self.ctx);
        if let Some(mb) = self.max_memory_mb {
            config = config.max_memory(mb << 20);
        }
        if let Some(kv) = self.kv_cache {
            config = config.kv_cache(kv);
        }
        Ok(Engine::load(&self.model, config.build())?)
    }
}

/// Peak resident memory of this process in MiB.
pub fn peak_rss_mb() -> f64 {
    #[cfg(target_os = "linux")]
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        {
            return kb / 1024.0;
        }
    }
    0.0
}
