//! Resumable, verified downloads.
//!
//! Bytes stream into `<dest>.part` while SHA-256 is computed on the way. A dropped
//! connection is retried with exponential back-off from where it stopped (HTTP Range);
//! a `.part` left by an earlier run is re-hashed and continued. Only when every byte is
//! in and the digest matches is the file renamed to `dest`; on a mismatch the `.part`
//! is deleted and the error names both digests.

mod control;
mod events;
mod http;
mod part;

pub use control::{ControlState, DownloadControl};
pub use events::{DownloadEvent, Progress};

use crate::auth::TokenScope;
use crate::error::{HubError, IoContext, Result};
use crate::fsutil::{ensure_free_space, rename_durable};
use crate::hash::Sha256Hex;
use events::SpeedMeter;
use part::PartFile;
use reqwest::{Client, Response, Url};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often a server may make us start again from byte 0 in one download.
const MAX_RESTARTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Consecutive failed attempts (without a byte of progress) before giving up.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    /// A connection silent for this long counts as dropped (and is retried).
    pub read_timeout: Duration,
    /// Minimum time between two `Progress` events.
    pub progress_interval: Duration,
    /// Where a bearer token may be sent.
    pub token_scope: TokenScope,
    /// Fixed name → address mappings, bypassing DNS (tests, split-horizon set-ups).
    pub resolve: Vec<(String, SocketAddr)>,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
            progress_interval: Duration::from_millis(250),
            token_scope: TokenScope::default(),
            resolve: Vec::new(),
        }
    }
}

/// What to fetch, where to put it and the digest it must have.
#[derive(Debug, Clone)]
pub struct DownloadRequest {
    pub url: String,
    /// The final path; bytes go to `dest` + `.part` until verified.
    pub dest: PathBuf,
    pub sha256: Sha256Hex,
    /// Expected size, when known beforehand: lets the disk check run before connecting.
    pub size_hint: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub path: PathBuf,
    pub sha256: Sha256Hex,
    pub bytes: u64,
}

/// The path of the partial file for `dest`.
pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    dest.with_file_name(name)
}

/// Why one attempt stopped short.
pub(crate) enum Failure {
    /// Worth trying again (connection dropped, timeout, 5xx).
    Retry(String),
    Fatal(HubError),
}

impl From<HubError> for Failure {
    fn from(e: HubError) -> Self {
        Failure::Fatal(e)
    }
}

enum Attempt {
    Complete,
    Paused,
    /// Empty the `.part` and ask again from byte 0.
    Restart(String),
}

/// Downloads files; cheap to share (`&self`) between concurrent downloads.
pub struct Downloader {
    client: Client,
    options: DownloadOptions,
    token: Option<String>,
}

impl Downloader {
    pub fn new(options: DownloadOptions) -> Result<Self> {
        // reqwest is built without a bundled crypto provider; ring is already in the tree.
        // An application that installed another provider first keeps it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = Client::builder()
            .user_agent(concat!("woolly/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout);
        for (host, addr) in &options.resolve {
            builder = builder.resolve(host, *addr);
        }
        let client = builder
            .build()
            .map_err(|e| HubError::Client(http::describe(&e)))?;
        Ok(Downloader {
            client,
            options,
            token: None,
        })
    }

    /// Sets the bearer token (e.g. from [`crate::auth::load_token`]); it is only ever
    /// sent to hosts in the options' [`TokenScope`].
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    pub fn options(&self) -> &DownloadOptions {
        &self.options
    }

    /// One GET (no retries), redirects followed with the token re-checked per hop.
    pub(crate) async fn get(&self, url: &Url, range_from: u64) -> Result<Response, Failure> {
        http::get(
            &self.client,
            url,
            range_from,
            self.token.as_deref(),
            &self.options.token_scope,
        )
        .await
    }

    /// Downloads `request`, reporting through `on_event`. Returns once the file is
    /// verified and in place; on `Cancelled` the `.part` is gone, on other errors a
    /// non-empty `.part` is kept so the next call resumes it.
    pub async fn download(
        &self,
        request: &DownloadRequest,
        control: &DownloadControl,
        on_event: &mut (dyn FnMut(DownloadEvent) + Send),
    ) -> Result<Downloaded> {
        let url = parse_url(&request.url)?;
        let dir = match request.dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        tokio::fs::create_dir_all(&dir).await.at(&dir)?;
        let part_path = part_path(&request.dest);
        let mut part = PartFile::open(&part_path).await?;

        let mut job = Job {
            dl: self,
            url,
            dir,
            rx: control.subscribe(),
            on_event,
            meter: SpeedMeter::new(Duration::from_secs(3)),
            started: false,
        };
        let result = job.run(&mut part, request.size_hint).await;
        let url = job.url.to_string();
        match result {
            Ok(()) => {}
            Err(HubError::Cancelled) => {
                part.remove().await?;
                return Err(HubError::Cancelled);
            }
            Err(e) => {
                if part.len() == 0 {
                    let _ = part.remove().await;
                } else {
                    let _ = part.flush().await;
                }
                return Err(e);
            }
        }

        (job.on_event)(DownloadEvent::Verifying);
        let (actual, bytes, file) = part.finish().await?;
        if actual != request.sha256 {
            drop(file);
            tokio::fs::remove_file(&part_path).await.at(&part_path)?;
            return Err(HubError::HashMismatch {
                url,
                expected: request.sha256.to_string(),
                actual: actual.to_string(),
            });
        }
        // Renamed while still open (and locked): no other process can slip in between.
        rename_durable(&part_path, &request.dest)?;
        drop(file);
        (job.on_event)(DownloadEvent::Finished {
            path: request.dest.clone(),
            sha256: actual.to_string(),
            bytes,
        });
        Ok(Downloaded {
            path: request.dest.clone(),
            sha256: actual,
            bytes,
        })
    }
}

fn parse_url(s: &str) -> Result<Url> {
    let url = Url::parse(s).map_err(|e| HubError::InvalidUrl {
        url: s.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HubError::InvalidUrl {
            url: s.to_string(),
            reason: "only http and https are supported".into(),
        });
    }
    Ok(url)
}

/// One download in progress.
struct Job<'a> {
    dl: &'a Downloader,
    url: Url,
    dir: PathBuf,
    rx: watch::Receiver<ControlState>,
    on_event: &'a mut (dyn FnMut(DownloadEvent) + Send),
    meter: SpeedMeter,
    started: bool,
}

impl Job<'_> {
    async fn run(&mut self, part: &mut PartFile, size_hint: Option<u64>) -> Result<()> {
        if let Some(size) = size_hint {
            ensure_free_space(&self.dir, size.saturating_sub(part.len()))?;
        }
        let opts = &self.dl.options;
        let mut failures = 0u32;
        let mut restarts = 0u32;
        loop {
            self.wait_while_paused(part).await?;
            let before = part.len();
            match self.attempt(part).await {
                Ok(Attempt::Complete) => return Ok(()),
                Ok(Attempt::Paused) => {}
                Ok(Attempt::Restart(reason)) => {
                    restarts += 1;
                    if restarts > MAX_RESTARTS {
                        return Err(HubError::Protocol {
                            url: self.url.to_string(),
                            reason,
                        });
                    }
                    part.truncate().await?;
                    (self.on_event)(DownloadEvent::Restarted { reason });
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(reason)) => {
                    part.flush().await?;
                    // Progress resets the count: a flaky link that keeps moving forward
                    // is worth following to the end.
                    if part.len() > before {
                        failures = 0;
                    }
                    failures += 1;
                    if failures >= opts.max_attempts {
                        return Err(HubError::GaveUp {
                            url: self.url.to_string(),
                            attempts: failures,
                            reason,
                        });
                    }
                    let delay = backoff(opts, failures);
                    (self.on_event)(DownloadEvent::Retrying {
                        attempt: failures,
                        delay_ms: delay.as_millis() as u64,
                        reason,
                    });
                    self.sleep(delay).await?;
                }
            }
        }
    }

    async fn attempt(&mut self, part: &mut PartFile) -> Result<Attempt, Failure> {
        let offset = part.len();
        // Waiting for headers can take up to the connect timeout: stay responsive.
        let mut response = tokio::select! {
            response = self.dl.get(&self.url, offset) => response?,
            state = stopped(&mut self.rx) => return stop(state, part).await,
        };
        let status = response.status().as_u16();
        let total = match status {
            206 => match http::content_range(response.headers()) {
                Some((start, total)) if start == offset => total,
                _ => {
                    return Ok(Attempt::Restart(
                        "the server answered with a different range than asked".into(),
                    ))
                }
            },
            200 => {
                if offset > 0 {
                    // Range ignored: the body is the whole file, so start over with it.
                    part.truncate().await?;
                    (self.on_event)(DownloadEvent::Restarted {
                        reason: "the server ignored the range request (200 instead of 206)".into(),
                    });
                }
                response.content_length()
            }
            416 => {
                return match http::unsatisfied_range_total(response.headers()) {
                    // Everything was already here: the previous run stopped just before
                    // verifying.
                    Some(total) if total == offset && offset > 0 => Ok(Attempt::Complete),
                    _ if offset == 0 => Err(Failure::Fatal(status_error(&self.url, &response))),
                    _ => Ok(Attempt::Restart(format!(
                        "the server cannot serve bytes from {offset} on (HTTP 416)"
                    ))),
                };
            }
            408 | 425 | 429 | 500..=599 => {
                return Err(Failure::Retry(format!("HTTP {status} from {}", self.url)));
            }
            _ => return Err(Failure::Fatal(status_error(&self.url, &response))),
        };
        if let Some(total) = total {
            if total < part.len() {
                return Ok(Attempt::Restart(
                    "the remote file is smaller than the partial download".into(),
                ));
            }
            ensure_free_space(&self.dir, total - part.len())?;
        }
        if !self.started {
            self.started = true;
            (self.on_event)(DownloadEvent::Started {
                total,
                resumed_from: part.len(),
            });
        }
        self.stream(part, &mut response, total).await
    }

    async fn stream(
        &mut self,
        part: &mut PartFile,
        response: &mut Response,
        total: Option<u64>,
    ) -> Result<Attempt, Failure> {
        let interval = self.dl.options.progress_interval;
        self.meter.reset();
        self.meter.record(Instant::now(), part.len());
        let mut last_event = Instant::now();
        loop {
            tokio::select! {
                biased;
                state = stopped(&mut self.rx) => return stop(state, part).await,
                chunk = response.chunk() => match chunk {
                    Ok(Some(bytes)) => {
                        if total.is_some_and(|t| part.len() + bytes.len() as u64 > t) {
                            return Err(Failure::Fatal(HubError::Protocol {
                                url: self.url.to_string(),
                                reason: "the server sent more bytes than it announced".into(),
                            }));
                        }
                        part.append(&bytes).await?;
                        let now = Instant::now();
                        if now.duration_since(last_event) >= interval {
                            last_event = now;
                            self.meter.record(now, part.len());
                            (self.on_event)(DownloadEvent::Progress(self.meter.progress(part.len(), total)));
                        }
                    }
                    Ok(None) => {
                        self.meter.record(Instant::now(), part.len());
                        (self.on_event)(DownloadEvent::Progress(self.meter.progress(part.len(), total)));
                        return match total {
                            Some(t) if part.len() < t => Err(Failure::Retry(format!(
                                "connection closed at byte {} of {t}", part.len()
                            ))),
                            _ => Ok(Attempt::Complete),
                        };
                    }
                    Err(e) => return Err(Failure::Retry(http::describe(&e))),
                },
            }
        }
    }

    /// Returns when running; `Err(Cancelled)` when cancelled while paused.
    async fn wait_while_paused(&mut self, part: &mut PartFile) -> Result<()> {
        let mut announced = false;
        loop {
            let state = *self.rx.borrow_and_update();
            match state {
                ControlState::Running => break,
                ControlState::Cancelled => return Err(HubError::Cancelled),
                ControlState::Paused => {
                    if !announced {
                        announced = true;
                        part.flush().await?;
                        (self.on_event)(DownloadEvent::Paused {
                            downloaded: part.len(),
                        });
                    }
                    if self.rx.changed().await.is_err() {
                        return Err(HubError::Cancelled);
                    }
                }
            }
        }
        if announced {
            (self.on_event)(DownloadEvent::Resumed);
        }
        Ok(())
    }

    /// Back-off sleep that still reacts to a cancel.
    async fn sleep(&mut self, delay: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Ok(()),
                changed = self.rx.changed() => {
                    if changed.is_err() || *self.rx.borrow_and_update() == ControlState::Cancelled {
                        return Err(HubError::Cancelled);
                    }
                }
            }
        }
    }
}

/// Resolves once the download is paused or cancelled (a dropped control counts as
/// cancelled).
async fn stopped(rx: &mut watch::Receiver<ControlState>) -> ControlState {
    loop {
        let state = *rx.borrow_and_update();
        if state != ControlState::Running {
            return state;
        }
        if rx.changed().await.is_err() {
            return ControlState::Cancelled;
        }
    }
}

async fn stop(state: ControlState, part: &mut PartFile) -> Result<Attempt, Failure> {
    if state == ControlState::Paused {
        part.flush().await?;
        Ok(Attempt::Paused)
    } else {
        Err(Failure::Fatal(HubError::Cancelled))
    }
}

fn backoff(opts: &DownloadOptions, failures: u32) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1))
        .unwrap_or(u32::MAX);
    opts.initial_backoff
        .saturating_mul(factor)
        .min(opts.max_backoff)
}

fn status_error(url: &Url, response: &Response) -> HubError {
    let status = response.status();
    let hint = match status.as_u16() {
        401 | 403 => " (a gated or private model? accept its licence on the Hub and store a Hugging Face token)",
        404 | 410 => " (no such file: check the URL)",
        416 => " (the server cannot serve this file from the start)",
        _ => "",
    };
    HubError::Status {
        url: url.to_string(),
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_string(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let o = DownloadOptions::default();
        assert_eq!(backoff(&o, 1), Duration::from_millis(500));
        assert_eq!(backoff(&o, 2), Duration::from_millis(1000));
        assert_eq!(backoff(&o, 4), Duration::from_millis(4000));
        assert_eq!(backoff(&o, 10), Duration::from_secs(30));
        assert_eq!(backoff(&o, 200), Duration::from_secs(30));
    }

    #[test]
    fn part_path_appends() {
        assert_eq!(
            part_path(Path::new("/a/b/m.gguf")),
            PathBuf::from("/a/b/m.gguf.part")
        );
    }
}
