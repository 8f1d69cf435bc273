//! `woolly synth`: a model of a real architecture's shape with random weights and a real
//! model's vocabulary, for speed and memory measurements (see `woolly_core::synth`).

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;
use woolly_core::gguf::GgufFile;
use woolly_core::quant::GgmlType;
use woolly_core::synth::{self, Quant, SynthConfig};

#[derive(clap::Args)]
pub struct Args {
    /// Model shape: llama-3.2-1b, llama-3.2-3b, llama-3.1-8b, qwen2.5-7b, gemma-2-2b,
    /// phi-3.5-mini; tiny, tiny-gemma2, tiny-phi3, tiny-llama3 for tests.
    #[arg(long)]
    preset: String,
    /// llama.cpp file type: q4_k_m (its per-tensor mix), q5_k_m, q6_k, q4_0 or q8_0.
    #[arg(long)]
    quant: String,
    /// Output GGUF file.
    #[arg(short, long)]
    output: PathBuf,
    /// Model whose vocabulary (every `tokenizer.*` metadata key) the new model carries.
    #[arg(long, default_value = "models/SmolLM2-135M-Instruct.Q4_1.gguf")]
    vocab_from: PathBuf,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Type of the output head (or tied embedding table), e.g. q8_0, like llama-quantize's
    /// --output-tensor-type.
    #[arg(long)]
    output_type: Option<String>,
    /// Number of layers in place of the preset's.
    #[arg(long)]
    layers: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let names = || {
        synth::PRESETS
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut preset = synth::preset(&args.preset)
        .with_context(|| format!("unknown preset {:?}; presets: {}", args.preset, names()))?;
    if let Some(n) = args.layers {
        anyhow::ensure!(n > 0, "--layers must be at least 1");
        preset.n_layers = n;
    }
    let quant = Quant::from_name(&args.quant).with_context(|| {
        let all: Vec<_> = Quant::ALL.iter().map(|q| q.name()).collect();
        format!(
            "unknown quantization {:?}; one of {}",
            args.quant,
            all.join(", ")
        )
    })?;
    let mut config = SynthConfig::new(preset, quant);
    config.seed = args.seed;
    if let Some(name) = &args.output_type {
        let ty = GgmlType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name) && synth::supports(*t))
            .with_context(|| format!("no random blocks for --output-type {name:?}"))?;
        config.output_type = Some(ty);
    }
    let vocab = GgufFile::open(&args.vocab_from)
        .with_context(|| format!("reading the vocabulary from {}", args.vocab_from.display()))?;

    let start = Instant::now();
    // Written under another name and renamed when complete: an interrupted run leaves no
    // truncated model behind.
    let mut partial = args.output.clone().into_os_string();
    partial.push(".part");
    let partial = PathBuf::from(partial);
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    config
        .write(&vocab, &partial)
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &args.output)?;

    let file = GgufFile::open(&args.output)?;
    let mut by_type: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for t in file.tensors() {
        let e = by_type.entry(t.ggml_type.name()).or_default();
        e.0 += 1;
        e.1 += t.n_bytes;
    }
    let types: Vec<String> = by_type
        .iter()
        .map(|(ty, (n, bytes))| format!("{n} {ty} ({:.0} MB)", *bytes as f64 / 1e6))
        .collect();
    println!(
        "{}: {} {} ({} layers), {:.2} GB in {:.1} s; tensors: {}",
        args.output.display(),
        args.preset,
        quant.name(),
        config.preset.n_layers,
        file.file_size() as f64 / 1e9,
        start.elapsed().as_secs_f64(),
        types.join(", ")
    );
    Ok(())
}
