//! Choosing the compute device: our CPU kernels, or a GPU through wgpu.

use super::gpu::{self, Gpu};
use crate::engine::DevicePreference;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Gpu,
}

/// Where a model runs, what that is called, and why it was chosen.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    pub kind: DeviceKind,
    pub name: String,
    pub gpu: Option<Arc<Gpu>>,
    /// Why `auto` chose this device.
    pub reason: Option<String>,
}

impl ComputeDevice {
    pub fn cpu() -> Self {
        Self {
            kind: DeviceKind::Cpu,
            name: "cpu".into(),
            gpu: None,
            reason: None,
        }
    }

    /// The GPU wgpu finds (a software adapter too), or why there is none.
    pub fn gpu() -> Result<Self, String> {
        let gpu = gpu::device::shared().map_err(|e| e.to_string())?;
        Ok(Self::on(gpu))
    }

    fn on(gpu: Arc<Gpu>) -> Self {
        Self {
            kind: DeviceKind::Gpu,
            name: format!("gpu: {}", gpu.adapter.describe()),
            gpu: Some(gpu),
            reason: None,
        }
    }

    /// The device for `pref`, for a model needing `needed` bytes. `Auto` takes a hardware
    /// GPU that has room for the model, and otherwise the CPU, saying why.
    pub fn select(pref: DevicePreference, needed: u64) -> Result<Self, String> {
        match pref {
            DevicePreference::Cpu => Ok(Self::cpu()),
            DevicePreference::Gpu => Self::gpu(),
            DevicePreference::Auto => Ok(Self::auto(needed)),
        }
    }

    fn auto(needed: u64) -> Self {
        let cpu_because = |why: String| Self {
            reason: Some(why),
            ..Self::cpu()
        };
        let gpu = match gpu::device::shared() {
            Ok(gpu) => gpu,
            Err(e) => return cpu_because(format!("auto: {e}")),
        };
        let a = &gpu.adapter;
        if a.is_software() {
            return cpu_because(format!(
                "auto: {} is a software adapter, slower than the CPU path",
                a.describe()
            ));
        }
        if let Some(memory) = a.memory_bytes.filter(|&m| m < needed) {
            return cpu_because(format!(
                "auto: the model needs {:.1} GiB and {} has {:.1} GiB",
                needed as f64 / (1u64 << 30) as f64,
                a.describe(),
                memory as f64 / (1u64 << 30) as f64
            ));
        }
        let reason = Some(format!("auto: {} has room for the model", a.describe()));
        Self {
            reason,
            ..Self::on(gpu)
        }
    }
}
