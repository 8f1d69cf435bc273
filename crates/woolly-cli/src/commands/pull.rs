//! `woolly pull URL --sha256 HEX [--dir DIR]`: a resumable, verified download into the
//! model store. Interrupted pulls (Ctrl-C, a lost connection) continue where they stopped
//! when run again; a file whose SHA-256 differs is deleted, never installed.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use woolly_hub::{
    auth, DownloadControl, DownloadEvent, DownloadOptions, Downloader, ModelStore, Sha256Hex,
};

#[derive(clap::Args)]
pub struct Args {
    /// URL of the GGUF file, e.g. https://huggingface.co/{repo}/resolve/main/{file}.
    #[arg(value_name = "URL")]
    url: String,
    /// Expected SHA-256 of the file (64 hex digits); the download is rejected otherwise.
    #[arg(long, value_name = "HEX")]
    sha256: String,
    /// Model store directory [default: the OS data directory's woolly/models].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let sha256 = Sha256Hex::parse(&args.sha256)?;
    let store = match &args.dir {
        Some(dir) => ModelStore::open(dir)?,
        None => ModelStore::open_default()?,
    };
    let options = DownloadOptions::default();
    // The keychain is only asked when the token could be used at all.
    let token = if options.token_scope.allows_str(&args.url) {
        auth::load_token().unwrap_or_else(|e| {
            eprintln!("note: continuing without a Hugging Face token ({e})");
            None
        })
    } else {
        None
    };
    let downloader = Downloader::new(options)?.with_token(token);
    let mut report = Report::new(std::io::stderr().is_terminal());
    let result = woolly_hub::block_on(store.download(
        &downloader,
        &args.url,
        sha256,
        None,
        &DownloadControl::new(),
        &mut |e| report.event(e),
    ))?;
    report.close();
    // Hub errors already name the URL and, for a mismatch, both digests.
    let model = result?;
    let m = &model.meta;
    eprintln!(
        "verified sha256 {}: {} ({}, {}, {:.0}M parameters)",
        model.sha256,
        model.name,
        m.architecture,
        m.quantization,
        m.parameters as f64 / 1e6
    );
    println!("{}", model.path.display());
    Ok(())
}

/// A progress bar on a terminal; otherwise a plain line every few seconds, for logs.
struct Report {
    bar: Option<ProgressBar>,
    total: Option<u64>,
    last_line: Instant,
}

impl Report {
    fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{msg:10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message("pulling");
            bar
        });
        Report {
            bar,
            total: None,
            last_line: Instant::now(),
        }
    }

    fn say(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn event(&mut self, event: DownloadEvent) {
        match event {
            DownloadEvent::Started {
                total,
                resumed_from,
            } => {
                self.total = total;
                if let Some(bar) = &self.bar {
                    bar.set_length(total.unwrap_or(0));
                    bar.set_position(resumed_from);
                    bar.reset_eta();
                }
                let size = total.map_or("unknown size".to_string(), mb);
                if resumed_from > 0 {
                    self.say(format!("resuming at {} of {size}", mb(resumed_from)));
                } else {
                    self.say(format!("downloading {size}"));
                }
            }
            DownloadEvent::Progress(p) => match &self.bar {
                Some(bar) => bar.set_position(p.downloaded),
                None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                    self.last_line = Instant::now();
                    let pct = p.total.filter(|&t| t > 0).map_or(String::new(), |t| {
                        format!("{:.0}% ", p.downloaded as f64 * 100.0 / t as f64)
                    });
                    let eta = p
                        .eta_secs
                        .map_or(String::new(), |s| format!(", ETA {s:.0} s"));
                    eprintln!(
                        "{pct}{} at {}/s{eta}",
                        mb(p.downloaded),
                        mb(p.bytes_per_sec as u64)
                    );
                }
                None => {}
            },
            DownloadEvent::Retrying {
                attempt,
                delay_ms,
                reason,
            } => {
                self.say(format!(
                    "connection problem ({reason}); retry {attempt} in {:.1} s",
                    delay_ms as f64 / 1000.0
                ));
            }
            DownloadEvent::Restarted { reason } => self.say(format!("starting over: {reason}")),
            DownloadEvent::Paused { .. } | DownloadEvent::Resumed => {}
            DownloadEvent::Verifying => match &self.bar {
                Some(bar) => bar.set_message("verifying"),
                None => eprintln!("verifying SHA-256"),
            },
            DownloadEvent::Finished { .. } => {
                if let Some(bar) = &self.bar {
                    bar.finish_and_clear();
                }
            }
        }
    }

    fn close(&self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
