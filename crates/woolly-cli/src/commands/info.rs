use std::path::PathBuf;
use woolly_core::gguf::GgufFile;

#[derive(clap::Args)]
pub struct Args {
    /// GGUF model file.
    #[arg(short, long)]
    model: PathBuf,
    /// Also list every tensor.
    #[arg(long)]
    tensors: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let file = GgufFile::open(&args.model)?;
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
    if args.tensors {
        for t in file.tensors() {
            println!("  {:<32} {:<6} {:?}", t.name, t.ggml_type.name(), t.dims);
        }
    }
    Ok(())
}
