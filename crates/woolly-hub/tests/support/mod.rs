//! Test support: an HTTP server on 127.0.0.1 with fault injection, payloads and a tiny
//! GGUF builder. Nothing here talks to anything but loopback.
#![allow(dead_code)]

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use woolly_core::gguf::{GgufWriter, Value};
use woolly_core::quant::GgmlType;
use woolly_hub::{DownloadEvent, DownloadOptions, Sha256Hex};

/// Faults for one served file.
#[derive(Default)]
pub struct Faults {
    /// Per request, in order: drop the connection once this absolute offset is sent.
    pub drops: Mutex<VecDeque<u64>>,
    /// Per request, in order: answer with this status and no body.
    pub statuses: Mutex<VecDeque<u16>>,
    /// Every request gets this status.
    pub always_status: Option<u16>,
    /// Answer range requests with the whole file (200).
    pub ignore_range: bool,
    /// Send `chunk` bytes, then sleep `delay`.
    pub trickle: Option<(usize, Duration)>,
    /// Once, at this offset, go silent for this long.
    pub stall: Option<(u64, Duration)>,
    pub stalled: AtomicBool,
    /// Flip one byte in the middle of the file.
    pub corrupt: bool,
}

pub struct FileSpec {
    pub data: Arc<Vec<u8>>,
    pub faults: Faults,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    pub host: Option<String>,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
pub struct Shared {
    files: Mutex<HashMap<String, Arc<FileSpec>>>,
    redirects: Mutex<HashMap<String, String>>,
    log: Mutex<Vec<Logged>>,
}

pub struct TestServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Binds 127.0.0.1 on a free port; must be called inside a tokio runtime.
    pub async fn start() -> TestServer {
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn serve(&self, path: &str, data: Vec<u8>, faults: Faults) -> Arc<FileSpec> {
        let spec = Arc::new(FileSpec {
            data: Arc::new(data),
            faults,
        });
        self.shared
            .files
            .lock()
            .unwrap()
            .insert(path.to_string(), spec.clone());
        spec
    }

    pub fn redirect(&self, path: &str, location: &str) {
        self.shared
            .redirects
            .lock()
            .unwrap()
            .insert(path.to_string(), location.to_string());
    }

    pub fn requests(&self, path: &str) -> Vec<Logged> {
        self.shared
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.path == path)
            .cloned()
            .collect()
    }

    pub fn all_requests(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let h = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let path = req.uri().path().to_string();
    shared.log.lock().unwrap().push(Logged {
        path: path.clone(),
        query: req.uri().query().map(str::to_string),
        host: h(header::HOST),
        range: h(header::RANGE),
        authorization: h(header::AUTHORIZATION),
    });
    if let Some(location) = shared.redirects.lock().unwrap().get(&path).cloned() {
        return status(StatusCode::FOUND, &[(header::LOCATION, location)]);
    }
    let Some(spec) = shared.files.lock().unwrap().get(&path).cloned() else {
        return status(StatusCode::NOT_FOUND, &[]);
    };
    let f = &spec.faults;
    let queued = f.statuses.lock().unwrap().pop_front();
    if let Some(code) = queued.or(f.always_status) {
        return status(StatusCode::from_u16(code).unwrap(), &[]);
    }
    let len = spec.data.len() as u64;
    let range_start = h(header::RANGE)
        .and_then(|r| {
            r.strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .filter(|_| !f.ignore_range);
    let mut builder = Response::builder().header(header::ACCEPT_RANGES, "bytes");
    let start = match range_start {
        Some(s) if s >= len => {
            return status(
                StatusCode::RANGE_NOT_SATISFIABLE,
                &[(header::CONTENT_RANGE, format!("bytes */{len}"))],
            );
        }
        Some(s) => {
            builder = builder.status(StatusCode::PARTIAL_CONTENT).header(
                header::CONTENT_RANGE,
                format!("bytes {s}-{}/{len}", len - 1),
            );
            s
        }
        None => {
            builder = builder.status(StatusCode::OK);
            0
        }
    };
    let drop_at = f.drops.lock().unwrap().pop_front();
    let body = body_stream(spec.clone(), start, drop_at);
    builder
        .header(header::CONTENT_LENGTH, len - start)
        .body(body)
        .unwrap()
}

fn status(code: StatusCode, headers: &[(header::HeaderName, String)]) -> Response {
    let mut r = Response::builder().status(code);
    for (k, v) in headers {
        r = r.header(k, HeaderValue::from_str(v).unwrap());
    }
    r.header(header::CONTENT_LENGTH, 0)
        .body(Body::empty())
        .unwrap()
}

struct Cursor {
    spec: Arc<FileSpec>,
    pos: u64,
    drop_at: Option<u64>,
    done: bool,
}

fn body_stream(spec: Arc<FileSpec>, start: u64, drop_at: Option<u64>) -> Body {
    let cursor = Cursor {
        spec,
        pos: start,
        drop_at,
        done: false,
    };
    let stream = futures_util::stream::unfold(cursor, |mut c| async move {
        let len = c.spec.data.len() as u64;
        if c.done || c.pos >= len {
            return None;
        }
        let f = &c.spec.faults;
        if c.drop_at.is_some_and(|d| c.pos >= d) {
            c.done = true;
            let err = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected drop");
            return Some((Err(err), c));
        }
        if let Some((at, how_long)) = f.stall {
            if c.pos >= at && !f.stalled.swap(true, Ordering::SeqCst) {
                tokio::time::sleep(how_long).await;
            }
        }
        let mut n = 64 * 1024;
        if let Some((chunk, delay)) = f.trickle {
            tokio::time::sleep(delay).await;
            n = chunk as u64;
        }
        let mut end = (c.pos + n).min(len);
        if let Some(d) = c.drop_at {
            end = end.min(d.max(c.pos + 1));
        }
        if let Some((at, _)) = f.stall {
            if !f.stalled.load(Ordering::SeqCst) && c.pos < at {
                end = end.min(at);
            }
        }
        let mut bytes = c.spec.data[c.pos as usize..end as usize].to_vec();
        let mid = len / 2;
        if f.corrupt && (c.pos..end).contains(&mid) {
            bytes[(mid - c.pos) as usize] ^= 0xff;
        }
        c.pos = end;
        Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(bytes)), c))
    });
    Body::from_stream(stream)
}

/// Deterministic pseudo-random bytes.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A seed from the environment (to replay a failure) or the clock; printed either way.
pub fn seed() -> u64 {
    let seed = std::env::var("WOOLLY_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("WOOLLY_TEST_SEED={seed}");
    seed
}

pub fn sha256(data: &[u8]) -> Sha256Hex {
    use sha2::Digest;
    Sha256Hex::from_digest(sha2::Sha256::new_with_prefix(data))
}

/// Short back-off and timeouts so fault tests run in well under a second each.
pub fn fast_options() -> DownloadOptions {
    DownloadOptions {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
        progress_interval: Duration::from_millis(10),
        ..DownloadOptions::default()
    }
}

/// Collects events for later assertions.
#[derive(Default, Clone)]
pub struct Events(pub Arc<Mutex<Vec<DownloadEvent>>>);

impl Events {
    pub fn sink(&self) -> impl FnMut(DownloadEvent) + Send + 'static {
        let events = self.0.clone();
        move |e| events.lock().unwrap().push(e)
    }

    pub fn all(&self) -> Vec<DownloadEvent> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, pred: impl Fn(&DownloadEvent) -> bool) -> usize {
        self.all().iter().filter(|e| pred(e)).count()
    }
}

/// A tiny but complete LLaMA-shaped GGUF: 2 layers, 4 heads (2 KV), dim 64, matrices in
/// Q8_0 and norms in F32; `pad_rows` grows the output matrix to make the file bigger.
pub fn tiny_gguf(pad_rows: u64) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.meta("general.architecture", Value::String("llama".into()))
        .meta("general.name", Value::String("tiny test model".into()))
        .meta("llama.context_length", Value::U32(2048))
        .meta("llama.block_count", Value::U32(2))
        .meta("llama.embedding_length", Value::U32(64))
        .meta("llama.attention.head_count", Value::U32(4))
        .meta("llama.attention.head_count_kv", Value::U32(2));
    let q8 = |rows: u64, cols: u64| vec![1u8; (rows * cols / 32 * 34) as usize];
    w.tensor("token_embd.weight", &[64, 128], GgmlType::Q8_0, q8(128, 64));
    for l in 0..2 {
        w.tensor_f32(format!("blk.{l}.attn_norm.weight"), &[64], &[1.0; 64]);
        w.tensor(
            format!("blk.{l}.attn_q.weight"),
            &[64, 64],
            GgmlType::Q8_0,
            q8(64, 64),
        );
    }
    w.tensor(
        "output.weight",
        &[64, 128 + pad_rows],
        GgmlType::Q8_0,
        q8(128 + pad_rows, 64),
    );
    w.to_bytes()
}

/// Elements in `tiny_gguf(pad_rows)`.
pub fn tiny_gguf_params(pad_rows: u64) -> u64 {
    64 * 128 + 2 * (64 + 64 * 64) + 64 * (128 + pad_rows)
}

pub fn no_part_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".part"))
}
