//! Finding the GPU once per process: the wgpu adapter CubeCL brings up, what it is
//! (name, graphics API, hardware or software), its limits and memory.

use cubecl::client::Client;
use cubecl::wgpu::{self, AutoGraphicsApi, RuntimeOptions, WgpuDevice};
use std::sync::{Arc, OnceLock};

/// What an adapter is, as wgpu reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterType {
    Discrete,
    Integrated,
    Virtual,
    /// A software rasterizer (lavapipe, llvmpipe, SwiftShader): correct, and slower than
    /// the CPU path.
    Cpu,
    Other,
}

/// The adapter a GPU model runs on, for `woolly info`, `bench --json`, `/health` and the app.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Adapter {
    pub name: String,
    /// Vulkan, Metal, DX12 or GL.
    pub backend: String,
    #[serde(rename = "type")]
    pub kind: AdapterType,
    /// Memory the adapter can hold models in, when it can be found out.
    pub memory_bytes: Option<u64>,
    /// The largest device-local heap the Vulkan driver reports (a discrete card's VRAM;
    /// shared memory on integrated and software adapters). `None` on other APIs.
    #[serde(skip)]
    pub device_local_heap: Option<u64>,
}

impl Adapter {
    pub fn is_software(&self) -> bool {
        self.kind == AdapterType::Cpu
    }

    /// `"NVIDIA RTX 4070 (Vulkan)"`, `"llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, software)"`.
    pub fn describe(&self) -> String {
        match self.is_software() {
            true => format!("{} ({}, software)", self.name, self.backend),
            false => format!("{} ({})", self.name, self.backend),
        }
    }
}

/// The GPU: the CubeCL client every kernel launches on, and what it can do.
pub struct Gpu {
    pub client: Client,
    pub adapter: Adapter,
    /// The largest buffer one kernel may bind: bigger weights are split in row bands.
    pub max_binding: usize,
    /// Whether the KV cache can be f16 (shader f16 support).
    pub f16: bool,
    /// Threads per matrix row: a warp's worth on a GPU; few on a software adapter, where
    /// every workgroup costs and idle lanes still run.
    pub matmul_lanes: u32,
    /// Launches CubeCL gathers into one command submission.
    pub tasks_max: usize,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu({})", self.adapter.describe())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum GpuError {
    #[error("no usable GPU adapter: {0}")]
    NoAdapter(String),
    #[error("the GPU failed: {0}")]
    Device(String),
    #[error("not enough GPU memory: {0}")]
    OutOfMemory(String),
}

/// The process's GPU, brought up on first use. wgpu's runtime can be initialised once per
/// process, so every engine shares it (and a failure is remembered, not retried).
pub fn shared() -> Result<Arc<Gpu>, GpuError> {
    static GPU: OnceLock<Result<Arc<Gpu>, GpuError>> = OnceLock::new();
    GPU.get_or_init(|| {
        // A driver that panics while being probed must not take the process with it.
        std::panic::catch_unwind(init)
            .unwrap_or_else(|_| Err(GpuError::NoAdapter("the wgpu runtime panicked".into())))
            .map(Arc::new)
    })
    .clone()
}

fn init() -> Result<Gpu, GpuError> {
    let device = WgpuDevice::default();
    let options = RuntimeOptions::try_default().map_err(|e| GpuError::NoAdapter(e.to_string()))?;
    let tasks_max = options.tasks_max;
    let setup = wgpu::try_init_setup::<AutoGraphicsApi>(&device, options)
        .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
    let info = setup.adapter.get_info();
    let limits = setup.device.limits();
    let kind = match info.device_type {
        wgpu::wgpu::DeviceType::DiscreteGpu => AdapterType::Discrete,
        wgpu::wgpu::DeviceType::IntegratedGpu => AdapterType::Integrated,
        wgpu::wgpu::DeviceType::VirtualGpu => AdapterType::Virtual,
        wgpu::wgpu::DeviceType::Cpu => AdapterType::Cpu,
        wgpu::wgpu::DeviceType::Other => AdapterType::Other,
    };
    let device_local_heap = vulkan_device_local_heap(&setup.adapter);
    let memory_bytes = adapter_memory(kind, &info.device_pci_bus_id, device_local_heap);
    let f16 = setup
        .device
        .features()
        .contains(wgpu::wgpu::Features::SHADER_F16);
    let max_binding = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size)
        .min(1 << 30) as usize;
    Ok(Gpu {
        client: cubecl::Device::Wgpu(device).client(),
        adapter: Adapter {
            name: info.name,
            backend: format!("{:?}", info.backend),
            kind,
            memory_bytes,
            device_local_heap,
        },
        max_binding,
        f16,
        matmul_lanes: if kind == AdapterType::Cpu { 4 } else { 32 },
        tasks_max,
    })
}

/// Memory for models: a discrete card's own (what the driver publishes in sysfs, as amdgpu
/// does, else Vulkan's device-local heap, as on NVIDIA), else the system's, which
/// integrated and software adapters share.
fn adapter_memory(kind: AdapterType, pci_bus_id: &str, heap: Option<u64>) -> Option<u64> {
    if kind == AdapterType::Discrete {
        let path = format!("/sys/bus/pci/devices/{pci_bus_id}/mem_info_vram_total");
        let sysfs = std::fs::read_to_string(path).ok();
        return sysfs.and_then(|s| s.trim().parse().ok()).or(heap);
    }
    crate::engine::available_memory()
}

/// The largest heap the Vulkan driver marks device-local, when the adapter is Vulkan's.
#[cfg(any(target_os = "linux", target_os = "windows"))]
fn vulkan_device_local_heap(adapter: &wgpu::wgpu::Adapter) -> Option<u64> {
    use wgpu::wgpu::hal::api::Vulkan;
    // VK_MEMORY_HEAP_DEVICE_LOCAL_BIT
    const DEVICE_LOCAL: u32 = 0x1;
    // SAFETY: the HAL adapter is only read, while the guard lives; nothing is kept.
    let hal = unsafe { adapter.as_hal::<Vulkan>() }?;
    let instance = hal.shared_instance().raw_instance();
    // SAFETY: a query of a valid physical device of this instance.
    let props =
        unsafe { instance.get_physical_device_memory_properties(hal.raw_physical_device()) };
    let heaps = &props.memory_heaps[..(props.memory_heap_count as usize).min(16)];
    heaps
        .iter()
        .filter(|h| h.flags.as_raw() & DEVICE_LOCAL != 0)
        .map(|h| h.size)
        .max()
}

#[cfg(not(any(target_os = "linux", target_os = "windows")))]
fn vulkan_device_local_heap(_: &wgpu::wgpu::Adapter) -> Option<u64> {
    None
}
