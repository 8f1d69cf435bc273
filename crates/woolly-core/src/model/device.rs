//! Choosing the compute device: burn's `flex` on the CPU, `wgpu` on a GPU.

use crate::engine::DevicePreference;
use burn::tensor::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Cpu,
    Gpu,
}

/// A burn device with what it is.
#[derive(Debug, Clone)]
pub struct ComputeDevice {
    pub device: Device,
    pub kind: DeviceKind,
    pub name: String,
}

impl ComputeDevice {
    pub fn cpu() -> Self {
        Self {
            device: Device::flex(),
            kind: DeviceKind::Cpu,
            name: "cpu (flex)".into(),
        }
    }

    /// The wgpu device, or why there is none.
    pub fn gpu() -> Result<Self, String> {
        // A missing adapter must be an error here, not a panic in the first kernel launch.
        let device = std::panic::catch_unwind(|| Device::wgpu_options().init())
            .map_err(|_| "the wgpu runtime panicked while looking for an adapter".to_string())?
            .map_err(|e| format!("no usable GPU adapter: {e}"))?;
        Ok(Self {
            device,
            kind: DeviceKind::Gpu,
            name: "gpu (wgpu)".into(),
        })
    }

    /// `Auto` stays on the CPU unless a GPU is asked for: software adapters (lavapipe)
    /// are far slower than the CPU path, and adapter quality cannot be told from here yet.
    pub fn select(pref: DevicePreference) -> Result<Self, String> {
        match pref {
            DevicePreference::Cpu | DevicePreference::Auto => Ok(Self::cpu()),
            DevicePreference::Gpu => Self::gpu(),
        }
    }
}
