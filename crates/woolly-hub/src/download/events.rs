//! Progress reporting: events for the UI and the speed / ETA estimate behind them.

use serde::Serialize;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DownloadEvent {
    /// Headers received; `resumed_from` > 0 when an earlier `.part` is being continued.
    Started {
        total: Option<u64>,
        resumed_from: u64,
    },
    Progress(Progress),
    /// The connection failed; the next attempt starts after `delay_ms`.
    Retrying {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    /// The server could not continue where we were (no Range support, changed file):
    /// the `.part` was emptied and the download starts again from byte 0.
    Restarted {
        reason: String,
    },
    Paused {
        downloaded: u64,
    },
    Resumed,
    /// All bytes are in; comparing the SHA-256.
    Verifying,
    Finished {
        path: PathBuf,
        sha256: String,
        bytes: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    pub downloaded: u64,
    pub total: Option<u64>,
    pub bytes_per_sec: f64,
    pub eta_secs: Option<f64>,
}

/// Speed over a sliding window, so a stall shows quickly and old bursts fade out.
pub(crate) struct SpeedMeter {
    window: Duration,
    samples: VecDeque<(Instant, u64)>,
}

impl SpeedMeter {
    pub fn new(window: Duration) -> Self {
        SpeedMeter {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Forget history (after a pause or reconnect, old samples would skew the rate).
    pub fn reset(&mut self) {
        self.samples.clear();
    }

    pub fn record(&mut self, now: Instant, downloaded: u64) {
        self.samples.push_back((now, downloaded));
        while let Some(&(t, _)) = self.samples.front() {
            if now.duration_since(t) > self.window && self.samples.len() > 2 {
                self.samples.pop_front();
            } else {
                break;
            }
        }
    }

    pub fn progress(&self, downloaded: u64, total: Option<u64>) -> Progress {
        let rate = match (self.samples.front(), self.samples.back()) {
            (Some(&(t0, b0)), Some(&(t1, b1))) if t1 > t0 => {
                b1.saturating_sub(b0) as f64 / t1.duration_since(t0).as_secs_f64()
            }
            _ => 0.0,
        };
        let eta_secs = match total {
            Some(t) if rate > 0.0 => Some(t.saturating_sub(downloaded) as f64 / rate),
            Some(t) if t == downloaded => Some(0.0),
            _ => None,
        };
        Progress {
            downloaded,
            total,
            bytes_per_sec: rate,
            eta_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_eta() {
        let mut m = SpeedMeter::new(Duration::from_secs(3));
        let t0 = Instant::now();
        m.record(t0, 0);
        m.record(t0 + Duration::from_secs(1), 1000);
        m.record(t0 + Duration::from_secs(2), 2000);
        let p = m.progress(2000, Some(10_000));
        assert!((p.bytes_per_sec - 1000.0).abs() < 1e-6);
        assert!((p.eta_secs.unwrap() - 8.0).abs() < 1e-6);
        assert_eq!(m.progress(5, None).eta_secs, None);
    }
}
