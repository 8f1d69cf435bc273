//! `system_info`: cheap (polled every few seconds): memory from the OS, the process's
//! resident size, the engine's state.

use crate::state::AppState;
use crate::types::{DeviceInfo, DevicePref, MemoryInfo, SystemInfo};
use std::sync::{Mutex, OnceLock};
use sysinfo::{CpuRefreshKind, ProcessRefreshKind, ProcessesToUpdate, System};

fn system() -> &'static Mutex<Option<System>> {
    static SYS: OnceLock<Mutex<Option<System>>> = OnceLock::new();
    SYS.get_or_init(|| Mutex::new(System::new().ok()))
}

/// The instruction sets the CPU kernels use (the best the CPU has, unless
/// `WOOLLY_CPU_FEATURES` caps them).
fn cpu_kernels() -> String {
    use woolly_core::quant::packed::{amx_available, kernels_name, Isa};
    kernels_name(Isa::detect(), amx_available())
}

fn cpu_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let brand = System::new()
            .ok()
            .map(|mut s| {
                s.refresh_cpu_list(CpuRefreshKind::nothing());
                s.cpus()
                    .first()
                    .map(|c| c.brand().trim().to_string())
                    .unwrap_or_default()
            })
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "CPU".into());
        format!("{brand} ({threads} threads)")
    })
}

pub fn info(state: &AppState) -> SystemInfo {
    let settings = state.settings();
    let (model_state, model, model_error) = state.engine.status();
    let (total, available, process) = {
        let mut guard = system().lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(sys) => {
                sys.refresh_memory();
                let pid = sysinfo::get_current_pid().ok();
                let rss = pid.and_then(|pid| {
                    sys.refresh_processes_specifics(
                        ProcessesToUpdate::Some(&[pid]),
                        false,
                        ProcessRefreshKind::nothing().with_memory(),
                    );
                    sys.process(pid).map(|p| p.memory())
                });
                (sys.total_memory(), sys.available_memory(), rss.unwrap_or(0))
            }
            None => (0, 0, 0),
        }
    };
    let engine_device = state.engine.device();
    let gpu_memory = engine_device
        .as_ref()
        .and_then(|d| d.gpu.as_ref())
        .and_then(|a| a.memory_bytes);
    let device = match engine_device {
        Some(d) => DeviceInfo {
            kind: if d.gpu.is_some() { "gpu" } else { "cpu" }.into(),
            name: match &d.gpu {
                Some(a) => a.describe(),
                None => format!("{} · {}", cpu_name(), cpu_kernels()),
            },
            reason: d.reason,
        },
        None if settings.device == DevicePref::Gpu => DeviceInfo {
            kind: "gpu".into(),
            name: "GPU".into(),
            reason: None,
        },
        None => DeviceInfo {
            kind: "cpu".into(),
            name: format!("{} · {}", cpu_name(), cpu_kernels()),
            reason: None,
        },
    };
    let threads = settings
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    SystemInfo {
        app_version: env!("CARGO_PKG_VERSION").to_string(),
        model_state,
        model,
        model_error,
        device,
        threads,
        memory: MemoryInfo {
            total_bytes: total,
            available_bytes: available,
            process_bytes: process,
            gpu_total_bytes: gpu_memory,
            gpu_available_bytes: None,
        },
        notices: state.notices.all(),
    }
}
