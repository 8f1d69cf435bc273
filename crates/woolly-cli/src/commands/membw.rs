//! `woolly membw`: this machine's memory read bandwidth, the limit of decode speed (each
//! decoded token reads every weight once), or with `--device gpu` the GPU's. `make bench`
//! divides by it.

use serde_json::json;
use std::sync::Barrier;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Threads reading at once, each its own share of the buffer.
    #[arg(short = 't', long, default_value_t = 1)]
    threads: usize,
    /// Buffer size in MiB: far larger than the last-level cache.
    #[arg(long, default_value_t = 1024)]
    size_mb: usize,
    /// Passes over the buffer; the fastest counts.
    #[arg(long, default_value_t = 5)]
    passes: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// `cpu`, or `gpu`: the GPU's memory, read by a kernel (up to one binding's worth).
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.device.as_str() {
        "cpu" => {}
        "gpu" => return run_gpu(&args),
        other => anyhow::bail!("unknown device {other:?}: cpu or gpu"),
    }
    let threads = args.threads.max(1);
    let words = (args.size_mb << 20) / 8 / threads / 64 * 64;
    anyhow::ensure!(words > 0, "--size-mb too small");
    // Each thread owns (and first touches) its share, like the engine's weight rows.
    let barrier = Barrier::new(threads);
    let mut best = 0f64;
    let sink = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let buf: Vec<u64> = (0..words as u64).map(|i| i ^ t as u64).collect();
                    let mut times = Vec::new();
                    let mut sink = 0u64;
                    for _ in 0..args.passes {
                        barrier.wait();
                        let start = Instant::now();
                        sink ^= sum(&buf);
                        times.push(start.elapsed().as_secs_f64());
                        barrier.wait();
                    }
                    (times, sink)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        for pass in 0..args.passes {
            // A pass ends when its slowest thread does.
            let secs = results.iter().map(|(t, _)| t[pass]).fold(0.0, f64::max);
            best = best.max((words * 8 * threads) as f64 / secs / 1e9);
        }
        results.iter().fold(0, |a, (_, s)| a ^ s)
    });
    if args.json {
        println!(
            "{}",
            json!({
                "mem_read_gb_s": best,
                "threads": threads,
                "bytes": words * 8 * threads,
                "checksum": sink,
            })
        );
    } else {
        println!("memory read: {best:.1} GB/s with {threads} thread(s)");
    }
    Ok(())
}

fn run_gpu(args: &Args) -> anyhow::Result<()> {
    use woolly_core::model::gpu::{bandwidth, device};
    let gpu = device::shared()?;
    let word = |i: usize| (i as u32).wrapping_mul(0x9E37_79B9);
    let b = bandwidth::read_bandwidth(&gpu, args.size_mb << 20, args.passes, word)?;
    let expected = (0..b.bytes / 4).fold(0u32, |a, i| a.wrapping_add(word(i)));
    anyhow::ensure!(b.checksum == expected, "the GPU read wrong values");
    let adapter = gpu.adapter.describe();
    if args.json {
        println!(
            "{}",
            json!({"mem_read_gb_s": b.gb_s, "device": adapter, "bytes": b.bytes})
        );
    } else {
        println!(
            "GPU memory read: {:.1} GB/s on {adapter} ({} MiB)",
            b.gb_s,
            b.bytes >> 20
        );
    }
    Ok(())
}

/// Reads every word: eight independent sums, vectorized by the compiler.
fn sum(buf: &[u64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is available, checked above.
        return unsafe { sum_avx2(buf) };
    }
    sum_portable(buf)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sum_avx2(buf: &[u64]) -> u64 {
    sum_portable(buf)
}

#[inline(always)]
fn sum_portable(buf: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    for chunk in buf.chunks_exact(8) {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = a.wrapping_add(v);
        }
    }
    acc.iter().fold(0, |a, &b| a.wrapping_add(b))
}
