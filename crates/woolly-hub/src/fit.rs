//! Will a model fit? Weights + KV cache at the chosen context + scratch, against RAM and
//! (optionally) GPU memory. The same formula serves catalog entries (before a download)
//! and installed models (from their GGUF metadata).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Bytes per KV-cache element: the engine keeps K and V in f16.
pub const KV_BYTES_PER_ELEMENT: u64 = 2;

/// What the memory estimate needs to know about a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelShape {
    /// Bytes of tensor data (what the weights occupy in memory).
    pub weights_bytes: u64,
    pub layers: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    pub context: u64,
    pub weights: u64,
    pub kv_cache: u64,
    /// Activations, logits and allocator slack: ~10% of the rest.
    pub scratch: u64,
    pub total: u64,
}

impl ModelShape {
    /// layers × 2 (K and V) × kv_heads × head_dim × context × 2 bytes, plus ~10% scratch.
    pub fn estimate(&self, context: u64) -> MemoryEstimate {
        let kv_cache = self
            .layers
            .saturating_mul(2)
            .saturating_mul(self.kv_heads)
            .saturating_mul(self.head_dim)
            .saturating_mul(context)
            .saturating_mul(KV_BYTES_PER_ELEMENT);
        let base = self.weights_bytes.saturating_add(kv_cache);
        let scratch = base / 10;
        MemoryEstimate {
            context,
            weights: self.weights_bytes,
            kv_cache,
            scratch,
            total: base.saturating_add(scratch),
        }
    }
}

/// The machine's memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemMemory {
    pub total_ram: u64,
    /// RAM the OS can hand out now without swapping (includes reclaimable cache).
    pub available_ram: u64,
    /// Dedicated GPU memory, when the caller knows it (the hub cannot detect it portably).
    pub gpu_memory: Option<u64>,
}

impl SystemMemory {
    /// The machine's RAM; `None` where the OS cannot tell.
    pub fn detect() -> Option<Self> {
        let mut sys = sysinfo::System::new().ok()?;
        sys.refresh_memory();
        let (total_ram, available_ram) = (sys.total_memory(), sys.available_memory());
        (total_ram > 0).then_some(SystemMemory {
            total_ram,
            available_ram,
            gpu_memory: None,
        })
    }

    pub fn with_gpu_memory(mut self, bytes: Option<u64>) -> Self {
        self.gpu_memory = bytes;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// Comfortable headroom.
    Fits,
    /// Loads, but only just: other applications may have to give memory back.
    Tight,
    TooBig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    Cpu,
    Gpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FitReport {
    pub fit: Fit,
    /// Where that verdict applies (the better of RAM and GPU memory).
    pub device: Device,
    pub needed: u64,
    /// The memory the verdict was judged against.
    pub budget: u64,
    pub estimate: MemoryEstimate,
    pub memory: SystemMemory,
}

/// Judges `estimate` against RAM and, when known, GPU memory; the better verdict wins.
pub fn check(estimate: &MemoryEstimate, memory: &SystemMemory) -> FitReport {
    let needed = estimate.total;
    // RAM: comfortable within 80% of what is free now; tight while it fits in what is
    // free, or in 90% of all RAM (closing other applications would make room).
    let ram_fit = if needed <= percent(memory.available_ram, 80) {
        Fit::Fits
    } else if needed <= memory.available_ram.max(percent(memory.total_ram, 90)) {
        Fit::Tight
    } else {
        Fit::TooBig
    };
    let ram = FitReport {
        fit: ram_fit,
        device: Device::Cpu,
        needed,
        budget: memory.available_ram,
        estimate: *estimate,
        memory: *memory,
    };
    let Some(gpu) = memory.gpu_memory else {
        return ram;
    };
    // GPU memory is not shared with other applications' pages, so less headroom is needed.
    let gpu_fit = if needed <= percent(gpu, 90) {
        Fit::Fits
    } else if needed <= gpu {
        Fit::Tight
    } else {
        Fit::TooBig
    };
    if gpu_fit <= ram_fit {
        FitReport {
            fit: gpu_fit,
            device: Device::Gpu,
            budget: gpu,
            ..ram
        }
    } else {
        ram
    }
}

fn percent(v: u64, p: u64) -> u64 {
    (v as u128 * p as u128 / 100) as u64
}

impl fmt::Display for FitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.fit {
            Fit::Fits => "fits",
            Fit::Tight => "tight",
            Fit::TooBig => "too big",
        };
        let place = match self.device {
            Device::Cpu => "available RAM",
            Device::Gpu => "GPU memory",
        };
        write!(
            f,
            "{verdict}: needs {} ({} weights + {} KV cache at {} tokens + {} scratch) of {} {place}",
            gib(self.needed),
            gib(self.estimate.weights),
            gib(self.estimate.kv_cache),
            self.estimate.context,
            gib(self.estimate.scratch),
            gib(self.budget),
        )
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn smollm() -> ModelShape {
        ModelShape {
            weights_bytes: 96_600_000,
            layers: 30,
            kv_heads: 3,
            head_dim: 64,
        }
    }

    #[test]
    fn kv_cache_follows_the_formula() {
        let e = smollm().estimate(2048);
        assert_eq!(e.kv_cache, 30 * 2 * 3 * 64 * 2048 * 2);
        assert_eq!(e.scratch, (e.weights + e.kv_cache) / 10);
        assert_eq!(e.total, e.weights + e.kv_cache + e.scratch);
    }

    #[test]
    fn verdicts() {
        let mem = |avail, total| SystemMemory {
            total_ram: total,
            available_ram: avail,
            gpu_memory: None,
        };
        let e = |total| MemoryEstimate {
            context: 1,
            weights: total,
            kv_cache: 0,
            scratch: 0,
            total,
        };
        assert_eq!(check(&e(GIB), &mem(8 * GIB, 16 * GIB)).fit, Fit::Fits);
        assert_eq!(check(&e(7 * GIB), &mem(8 * GIB, 16 * GIB)).fit, Fit::Tight);
        assert_eq!(check(&e(12 * GIB), &mem(4 * GIB, 16 * GIB)).fit, Fit::Tight);
        assert_eq!(
            check(&e(15 * GIB), &mem(4 * GIB, 16 * GIB)).fit,
            Fit::TooBig
        );
        let gpu = mem(2 * GIB, 16 * GIB).with_gpu_memory(Some(24 * GIB));
        let r = check(&e(15 * GIB), &gpu);
        assert_eq!(
            (r.fit, r.device, r.budget),
            (Fit::Fits, Device::Gpu, 24 * GIB)
        );
        assert!(r.to_string().starts_with("fits: needs 15.00 GiB"), "{r}");
    }
}
