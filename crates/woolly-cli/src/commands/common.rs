//! Options shared by the commands that run a model.

use std::path::PathBuf;
use woolly_core::engine::{DevicePreference, Engine, EngineConfig, KvCacheType};
use woolly_core::quant::{cpu, CpuFeatures};

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
    /// Use no CPU instructions above this tier: amx, avx512, avx2 or portable on x86,
    /// i8mm, dotprod, neon or portable on ARM (default: the best the CPU has, or
    /// WOOLLY_CPU_FEATURES).
    #[arg(long)]
    pub cpu_features: Option<CpuFeatures>,
}

impl ModelArgs {
    pub fn load(&self) -> anyhow::Result<Engine> {
        apply_cpu_cap(self.cpu_features)?;
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

/// Caps the CPU kernels at `flag`, else at `WOOLLY_CPU_FEATURES`, refusing a value that
/// names no tier (the engine alone would ignore it).
pub fn apply_cpu_cap(flag: Option<CpuFeatures>) -> anyhow::Result<()> {
    let cap = match (flag, std::env::var(cpu::ENV)) {
        (Some(cap), _) => Some(cap),
        (None, Ok(s)) if !s.trim().is_empty() => Some(s.parse::<CpuFeatures>()?),
        (None, _) => None,
    };
    let tiers = CpuFeatures::of_this_arch();
    if let Some(cap) = cap.filter(|c| !tiers.contains(c)) {
        let names: Vec<_> = tiers.iter().map(|t| t.name()).collect();
        anyhow::bail!(
            "CPU features {cap} belong to another architecture: this CPU's tiers are {}",
            names.join(", ")
        );
    }
    cpu::set_cap(cap);
    Ok(())
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
