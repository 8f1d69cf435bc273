//! `woolly`: the engine on the command line. The subcommands and their outputs follow the
//! CLI contract in the architecture doc; scripts and checks rely on them.

mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "woolly", version, about = "Woolly: a local LLM engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the token ids of a text as a JSON array.
    Tokenize(commands::tokenize::Args),
    /// Continue a raw-text prompt.
    Generate(commands::generate::Args),
    /// Chat interactively, using the model's chat template.
    Chat(commands::chat::Args),
    /// Measure prefill and decode speed, load time and peak memory.
    Bench(commands::bench::Args),
    /// Download a model over HTTP, resumable, verified against its SHA-256.
    Pull(commands::pull::Args),
    /// Show a GGUF file's metadata and tensors.
    Info(commands::info::Args),
    /// Serve the OpenAI-compatible HTTP + WebSocket API.
    Serve(commands::serve::Args),
    /// Developer: write a model of a real architecture's shape with random weights.
    Synth(commands::synth::Args),
    /// Developer: measure this machine's memory read bandwidth.
    Membw(commands::membw::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tokenize(args) => commands::tokenize::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Chat(args) => commands::chat::run(args),
        Command::Bench(args) => commands::bench::run(args),
        Command::Pull(args) => commands::pull::run(args),
        Command::Info(args) => commands::info::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Synth(args) => commands::synth::run(args),
        Command::Membw(args) => commands::membw::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
