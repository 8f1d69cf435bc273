use anyhow::Context;
use std::io::Read;
use std::path::PathBuf;
use woolly_core::gguf::GgufFile;
use woolly_core::tokenizer::Tokenizer;

#[derive(clap::Args)]
pub struct Args {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// Treat special-token text (e.g. `<|im_start|>`) as plain text.
    #[arg(long)]
    no_parse_special: bool,
    /// Read the text from standard input.
    #[arg(long, conflicts_with = "text")]
    stdin: bool,
    /// The text to tokenize.
    text: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let text = match (args.stdin, args.text) {
        (true, _) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading standard input")?;
            s
        }
        (false, Some(text)) => text,
        (false, None) => anyhow::bail!("give a TEXT argument or --stdin"),
    };
    let file = GgufFile::open(&args.model)?;
    let tokenizer = Tokenizer::from_gguf(&file)?;
    let ids = tokenizer.encode(&text, true, !args.no_parse_special);
    println!("{}", serde_json::to_string(&ids)?);
    Ok(())
}
