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
    /// Show a GGUF file's metadata and tensors.
    Info(commands::info::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => commands::info::run(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
