use super::common::ModelArgs;
use anyhow::Context;
use serde_json::json;
use std::io::Write;
use woolly_core::engine::{GenerateRequest, Prompt};
use woolly_core::grammar::Constraint;
use woolly_core::sampling::SamplingParams;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt: raw text, special tokens parsed (use `woolly chat` for templated chats).
    #[arg(short, long)]
    prompt: String,
    /// Tokens to generate.
    #[arg(short = 'n', long = "n-predict", default_value_t = 128)]
    n: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Keep going past end-of-generation tokens.
    #[arg(long)]
    ignore_eos: bool,
    /// Stop when this text is generated (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print one JSON object instead of streaming text.
    #[arg(long)]
    json: bool,
    /// Largest logits of the first generated token listed in `--json`'s `top_logits`.
    #[arg(long, default_value_t = 5, value_name = "N")]
    top_logits: usize,
    /// The reply must be JSON valid against this JSON Schema file.
    #[arg(long, value_name = "FILE", conflicts_with = "grammar")]
    json_schema: Option<std::path::PathBuf>,
    /// The reply must follow this grammar file (llguidance's Lark syntax).
    #[arg(long, value_name = "FILE")]
    grammar: Option<std::path::PathBuf>,
}

#[derive(clap::Args, Clone)]
pub struct SamplingArgs {
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    min_p: f32,
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    #[arg(long)]
    seed: Option<u64>,
}

impl SamplingArgs {
    pub fn params(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            seed: self.seed,
            ..SamplingParams::default()
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let engine = args.model.load()?;
    let mut request = GenerateRequest::new(Prompt::Text(args.prompt.clone()));
    request.max_tokens = args.n;
    request.sampling = args.sampling.params();
    request.ignore_eos = args.ignore_eos;
    request.top_logits = args.top_logits;
    request.stop = args.stop.clone();
    let constraint = match (&args.json_schema, &args.grammar) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let schema = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            Some(Constraint::JsonSchema(schema))
        }
        (None, Some(path)) => Some(Constraint::Lark(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        )),
        (None, None) => None,
    };
    if let Some(c) = &constraint {
        request.grammar = Some(engine.grammar(c)?);
    }
    let cancel = request.cancel.clone();
    let _ = ctrlc::set_handler(move || cancel.cancel());
    let json = args.json;
    let mut stdout = std::io::stdout();
    let out = engine.generate(&request, |t| {
        if !json {
            let _ = stdout.write_all(t.text.as_bytes());
            let _ = stdout.flush();
        }
    })?;
    let s = &out.stats;
    if json {
        let top: Vec<_> = out
            .first_top_logits
            .iter()
            .map(|(id, l)| json!({"id": id, "logit": l}))
            .collect();
        let obj = json!({
            "prompt_tokens": out.prompt_tokens,
            "tokens": out.tokens,
            "text": out.text,
            "top_logits": top,
            "stats": {
                "prompt_tok_s": s.prefill_tok_s,
                "gen_tok_s": s.decode_tok_s,
                "load_ms": engine.info().load_ms,
                "ttft_ms": s.time_to_first_token_ms,
                "stop_reason": s.stop_reason,
            },
        });
        println!("{obj}");
    } else {
        println!();
        eprintln!(
            "[{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s, first token after {:.0} ms, stop: {:?}]",
            s.prompt_tokens, s.prefill_tok_s, s.generated_tokens, s.decode_tok_s, s.time_to_first_token_ms, s.stop_reason
        );
    }
    Ok(())
}
