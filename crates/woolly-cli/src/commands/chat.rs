use super::common::ModelArgs;
use super::generate::SamplingArgs;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use woolly_core::chat::ChatMessage;
use woolly_core::engine::{CancelToken, GenerateRequest, Prompt, StopReason};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// System prompt.
    #[arg(long)]
    system: Option<String>,
    /// Most tokens per reply.
    #[arg(short = 'n', long = "n-predict", default_value_t = 1024)]
    n: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    eprintln!("loading {} …", args.model.model.display());
    let engine = args.model.load()?;
    let info = engine.info();
    eprintln!(
        "{} ({}, {}) on {} in {} ms. Ctrl-C stops a reply; Ctrl-D quits.",
        info.name.as_deref().unwrap_or(&info.model_id),
        info.architecture,
        info.quantization,
        info.device,
        info.load_ms
    );
    // Ctrl-C cancels the reply in progress; at the prompt it quits.
    let current: Arc<Mutex<Option<CancelToken>>> = Arc::default();
    let handler_slot = current.clone();
    ctrlc::set_handler(
        move || match handler_slot.lock().ok().and_then(|s| s.clone()) {
            Some(token) => token.cancel(),
            None => std::process::exit(130),
        },
    )?;

    let mut messages: Vec<ChatMessage> = args.system.iter().map(ChatMessage::system).collect();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    loop {
        print!("\n> ");
        stdout.flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            println!();
            return Ok(());
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        messages.push(ChatMessage::user(line));
        let mut request = GenerateRequest::new(Prompt::Chat(messages.clone()));
        request.max_tokens = args.n;
        request.sampling = args.sampling.params();
        *current.lock().unwrap() = Some(request.cancel.clone());
        let result = engine.generate(&request, |t| {
            print!("{}", t.text);
            let _ = std::io::stdout().flush();
        });
        *current.lock().unwrap() = None;
        match result {
            Ok(reply) => {
                let s = &reply.stats;
                if s.stop_reason == StopReason::Cancelled {
                    print!(" [stopped]");
                }
                eprintln!(
                    "\n[{} tokens, {:.1} tok/s, first token {:.0} ms]",
                    s.generated_tokens, s.decode_tok_s, s.time_to_first_token_ms
                );
                messages.push(ChatMessage::assistant(reply.text));
            }
            Err(e) => {
                eprintln!("\nerror: {e}");
                messages.pop();
            }
        }
    }
}
