use std::path::PathBuf;
use woolly_core::engine::{DevicePreference, KvCacheType, MemoryEstimate};
use woolly_core::gguf::GgufFile;
use woolly_core::model::{gpu, ComputeDevice, ModelConfig};
use woolly_core::quant::packed::{amx_available, kernels_name, Isa};
use woolly_core::quant::CpuFeatures;

#[derive(clap::Args)]
pub struct Args {
    /// GGUF model file (without one, only the devices are listed).
    #[arg(short, long)]
    model: Option<PathBuf>,
    /// Also list every tensor.
    #[arg(long)]
    tensors: bool,
    /// Use no CPU instructions above this tier (amx, avx512, avx2, portable).
    #[arg(long)]
    cpu_features: Option<CpuFeatures>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    super::common::apply_cpu_cap(args.cpu_features)?;
    let mut needed = 0;
    if let Some(path) = &args.model {
        let file = GgufFile::open(path)?;
        print_model(&file, args.tensors);
        if let Ok(cfg) = ModelConfig::from_gguf(&file) {
            let ctx = cfg.train_ctx.min(4096);
            needed = MemoryEstimate::new(&file, &cfg, ctx, KvCacheType::F16).total();
        }
    }
    println!("devices:");
    let cap = match woolly_core::quant::cpu::cap() {
        Some(cap) => format!(", capped at {cap}"),
        None => String::new(),
    };
    println!(
        "  cpu   {} kernels (the CPU has {}{cap})",
        kernels_name(Isa::detect(), amx_available()),
        CpuFeatures::detected()
    );
    match gpu::device::shared() {
        Ok(g) => {
            let a = &g.adapter;
            let memory = a.memory_bytes.map_or("memory unknown".into(), |m| {
                format!("{:.1} GiB", m as f64 / (1u64 << 30) as f64)
            });
            println!("  gpu   {} ({:?}, {memory})", a.describe(), a.kind);
        }
        Err(e) => println!("  gpu   none: {e}"),
    }
    if let Ok(auto) = ComputeDevice::select(DevicePreference::Auto, needed) {
        let what = if args.model.is_some() {
            "this model"
        } else {
            "a model"
        };
        let kind = if auto.gpu.is_some() {
            "the GPU"
        } else {
            "the CPU"
        };
        let why = auto.reason.unwrap_or_default();
        println!("  auto  runs {what} on {kind} ({why})");
    }
    Ok(())
}

fn print_model(file: &GgufFile, tensors: bool) {
    println!(
        "{}: GGUF v{}, alignment {}",
        file.path().display(),
        file.version(),
        file.alignment()
    );
    for (key, value) in file.metadata() {
        println!("  {key} = {value}");
    }
    let weights_mb = file.tensor_bytes_total() as f64 / 1e6;
    println!(
        "{} tensors, {weights_mb:.1} MB of weights",
        file.tensors().len()
    );
    if tensors {
        for t in file.tensors() {
            println!("  {:<32} {:<6} {:?}", t.name, t.ggml_type.name(), t.dims);
        }
    }
}
