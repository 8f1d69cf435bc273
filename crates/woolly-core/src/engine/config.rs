//! Engine settings, built fluently.

/// Which compute device to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DevicePreference {
    /// The GPU when one is usable, otherwise the CPU.
    #[default]
    Auto,
    Gpu,
    Cpu,
}

impl std::str::FromStr for DevicePreference {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "gpu" => Ok(Self::Gpu),
            "cpu" => Ok(Self::Cpu),
            other => Err(format!(
                "unknown device {other:?} (expected auto, gpu or cpu)"
            )),
        }
    }
}

/// Element type of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvCacheType {
    F32,
    /// Half the memory of f32, and what llama.cpp uses: the default.
    #[default]
    F16,
}

impl std::str::FromStr for KvCacheType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            other => Err(format!("unknown KV cache type {other:?} (f16 or f32)")),
        }
    }
}

impl KvCacheType {
    pub fn bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EngineConfig {
    pub device: DevicePreference,
    /// Worker threads for CPU kernels; 0 uses every core, and more than the cores is capped
    /// to them (extra threads only contend for the same cores).
    pub threads: usize,
    /// Upper bound on the memory the model may use; `None` uses the memory available now.
    pub max_memory: Option<u64>,
    /// Context length (prompt + reply) in tokens; 0 uses the model's trained length,
    /// capped at 4096.
    pub context_length: usize,
    /// Memory-map the weights (the default) instead of reading them into memory.
    pub use_mmap: bool,
    pub kv_cache: KvCacheType,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            device: DevicePreference::Cpu,
            threads: 0,
            max_memory: None,
            context_length: 0,
            use_mmap: true,
            kv_cache: KvCacheType::F16,
        }
    }
}

impl EngineConfig {
    pub fn builder() -> EngineConfigBuilder {
        EngineConfigBuilder(Self::default())
    }

    /// The thread count to use: the setting, at most one per core.
    pub fn effective_threads(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match self.threads {
            0 => cores,
            n => n.min(cores),
        }
    }
}

/// Builder for [`EngineConfig`].
pub struct EngineConfigBuilder(EngineConfig);

impl EngineConfigBuilder {
    pub fn device(mut self, d: DevicePreference) -> Self {
        self.0.device = d;
        self
    }
    pub fn threads(mut self, n: usize) -> Self {
        self.0.threads = n;
        self
    }
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.0.max_memory = Some(bytes);
        self
    }
    pub fn context_length(mut self, n: usize) -> Self {
        self.0.context_length = n;
        self
    }
    pub fn use_mmap(mut self, on: bool) -> Self {
        self.0.use_mmap = on;
        self
    }
    pub fn kv_cache(mut self, t: KvCacheType) -> Self {
        self.0.kv_cache = t;
        self
    }
    pub fn build(self) -> EngineConfig {
        self.0
    }
}
