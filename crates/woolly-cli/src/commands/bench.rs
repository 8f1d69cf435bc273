use super::common::{peak_rss_mb, ModelArgs};
use serde_json::json;
use woolly_core::engine::{GenerateRequest, Prompt};
use woolly_core::gguf::GgufFile;
use woolly_core::sampling::SamplingParams;
use woolly_core::synth;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt tokens to prefill.
    #[arg(short = 'p', long = "n-prompt", default_value_t = 512)]
    prompt: usize,
    /// Tokens to generate.
    #[arg(short = 'n', long = "n-gen", default_value_t = 128)]
    n: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(mut args: Args) -> anyhow::Result<()> {
    if args.model.ctx == 0 {
        args.model.ctx = (args.prompt + args.n + 1).max(512);
    }
    let engine = args.model.load()?;
    // A real text, repeated to the prompt length, so attention sees natural tokens.
    let seed = engine.tokenizer().encode(
        "The quick brown fox jumps over the lazy dog while the sun sets behind the hills. ",
        false,
        false,
    );
    let prompt: Vec<u32> = seed
        .iter()
        .copied()
        .cycle()
        .take(args.prompt.max(1))
        .collect();
    let mut request = GenerateRequest::new(Prompt::Tokens(prompt));
    request.max_tokens = args.n;
    request.ignore_eos = true;
    request.sampling = SamplingParams::greedy();
    let out = engine.generate(&request, |_| {})?;
    let s = out.stats;
    let load_ms = engine.info().load_ms;
    let rss = peak_rss_mb();
    // Read after the peak: what decoding one token reads of the weights, for the bandwidth
    // bound (`make bench` divides it by `woolly membw`'s GB/s).
    let weight_bytes = GgufFile::open(&args.model.model)
        .map(|f| synth::decode_weight_bytes(&f))
        .unwrap_or(0);
    let device = engine.device();
    let gpu = engine.gpu_counters();
    if args.json {
        println!(
            "{}",
            json!({
                "device_reason": device.reason,
                "gpu": device.gpu,
                "gpu_dispatches_per_token": gpu.map(|g| g.last_dispatches),
                "gpu_submits_per_token": gpu.map(|g| g.last_submits),
                "gpu_readbacks_per_token": gpu.map(|g| g.readbacks / g.forwards.max(1)),
                "pp_tok_s": s.prefill_tok_s,
                "tg_tok_s": s.decode_tok_s,
                "ttft_ms": s.time_to_first_token_ms,
                "load_ms": load_ms,
                "peak_rss_mb": rss,
                "n_prompt": s.prompt_tokens,
                "n_gen": s.generated_tokens,
                "threads": args.model.threads,
                "device": device.device,
                "weight_bytes_per_token": weight_bytes,
            })
        );
    } else {
        println!("model      {}", args.model.model.display());
        println!("device     {}", device.device);
        if let Some(reason) = &device.reason {
            println!("           ({reason})");
        }
        if let Some(g) = gpu {
            println!(
                "gpu        {} dispatches, {} submits, {} readback per decoded token",
                g.last_dispatches,
                g.last_submits,
                g.readbacks / g.forwards.max(1)
            );
        }
        println!(
            "prefill    {:>8.1} tok/s  ({} tokens)",
            s.prefill_tok_s, s.prompt_tokens
        );
        println!(
            "decode     {:>8.1} tok/s  ({} tokens)",
            s.decode_tok_s, s.generated_tokens
        );
        println!("first tok  {:>8.1} ms", s.time_to_first_token_ms);
        println!("load       {:>8} ms", load_ms);
        println!("peak RSS   {:>8.1} MB", rss);
        println!(
            "weights    {:>8.1} MB read per decoded token",
            weight_bytes as f64 / 1e6
        );
    }
    Ok(())
}
