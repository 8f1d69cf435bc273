//! Woolly's local OpenAI-compatible API: HTTP (JSON and server-sent events) and a WebSocket,
//! over one shared [`Engine`].
//!
//! | Route | |
//! |---|---|
//! | `GET /health` | `{"status": "ok", "model": "<id>", "pending": <requests queued or running>}`; never needs the key |
//! | `GET /v1/models`, `GET /v1/models/{id}` | the loaded model |
//! | `POST /v1/chat/completions` | chat with the model's template; `stream: true` for SSE |
//! | `POST /v1/completions` | raw-text continuation; `stream: true` for SSE |
//! | `GET /v1/ws` | WebSocket token streaming; the messages are documented in the crate's README.md |
//!
//! Safe by default: bind to 127.0.0.1 (the caller chooses the listener), only loopback
//! `Host` names are accepted (DNS-rebinding guard), CORS is closed unless origins are
//! configured, bodies are limited to 1 MiB, non-streaming requests time out, and an optional
//! bearer key guards `/v1/*`. Generations run one at a time on blocking workers, in arrival
//! order; a client that disconnects cancels its generation.
//!
//! ```no_run
//! # async fn demo(engine: woolly_core::engine::Engine) -> Result<(), woolly_server::ServerError> {
//! use std::sync::Arc;
//! let config = woolly_server::ServerConfig { api_key: Some("secret".into()), ..Default::default() };
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! woolly_server::serve(listener, Arc::new(engine), config, std::future::pending()).await?;
//! # Ok(()) }
//! ```

mod auth;
mod embeddings;
mod error;
mod generation;
mod handlers;
mod openai;
mod response;
mod tools;
mod ws;

pub use error::{ApiError, ServerError};

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use woolly_core::engine::Engine;

/// How the server behaves. `Default` is the safe configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// When set, `/v1/*` requires `Authorization: Bearer <key>` (compared in constant time).
    /// An empty key refuses every request.
    pub api_key: Option<String>,
    /// Browser origins allowed by CORS (e.g. `http://localhost:5173`; `*` allows any). Empty:
    /// CORS stays closed and WebSocket connections from browser pages are refused.
    pub cors_origins: Vec<String>,
    /// Largest request body (and WebSocket message) in bytes.
    pub max_body_bytes: usize,
    /// Longest a non-streaming request may take, waiting in the queue included (408 after).
    /// Streams are not cut: their generation ends by `max_tokens`, the context or the client.
    pub request_timeout: Duration,
    /// Requests queued or running beyond which new ones get 429 (0: no limit).
    pub max_pending: usize,
    /// Host names (without port) the `Host` header may carry; `*.localhost` is always
    /// accepted. `None` accepts any, for a server bound to a public interface.
    pub allowed_hosts: Option<Vec<String>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            cors_origins: Vec::new(),
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(600),
            max_pending: 64,
            allowed_hosts: Some(Self::loopback_hosts()),
        }
    }
}

impl ServerConfig {
    /// The names of this machine's loopback interface.
    pub fn loopback_hosts() -> Vec<String> {
        ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec()
    }
}

/// Shared state of the routes.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Arc<Engine>,
    config: ServerConfig,
    /// One permit: the engine runs one generation at a time; waiters are served FIFO.
    queue: Arc<Semaphore>,
    pending: AtomicUsize,
    started: u64,
}

impl AppState {
    fn model_object(&self) -> Value {
        let info = self.inner.engine.info();
        json!({
            "id": info.model_id,
            "object": "model",
            "created": self.inner.started,
            "owned_by": "woolly",
            "meta": {
                "name": info.name,
                "architecture": info.architecture,
                "quantization": info.quantization,
                "context_length": info.context_length,
                "train_context_length": info.train_context_length,
                "file_size": info.file_size,
                "device": info.device,
            },
        })
    }

    /// `None` (no `model` given) means the loaded one.
    fn check_model(&self, model: Option<&str>) -> Result<(), ApiError> {
        let info = self.inner.engine.info();
        match model {
            None => Ok(()),
            Some(m) if m == info.model_id => Ok(()),
            Some(m)
                if info
                    .path
                    .file_name()
                    .is_some_and(|f| f.to_string_lossy() == m) =>
            {
                Ok(())
            }
            Some(m) if info.name.as_deref() == Some(m) => Ok(()),
            Some(m) => Err(ApiError::ModelNotFound(m.to_owned())),
        }
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.inner
            .config
            .cors_origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/') == origin)
    }
}

/// The API as an axum router, with every guard layer applied. Serve it with
/// [`axum::serve`] or [`serve`]; nest it in a bigger app as needed.
pub fn router(engine: Arc<Engine>, config: ServerConfig) -> Router {
    let state = AppState {
        inner: Arc::new(Inner {
            engine,
            queue: Arc::new(Semaphore::new(1)),
            pending: AtomicUsize::new(0),
            started: unix_now(),
            config: config.clone(),
        }),
    };
    let api = Router::new()
        .route("/v1/models", get(handlers::list_models))
        .route("/v1/models/{*id}", get(handlers::get_model))
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/v1/completions", post(handlers::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/ws", get(ws::upgrade))
        .route_layer(from_fn_with_state(state.clone(), auth::require_key));
    Router::new()
        .route("/health", get(handlers::health))
        .merge(api)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(from_fn_with_state(
            config.max_body_bytes,
            error::refuse_oversized,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(from_fn(error::openai_error_shape))
        .layer(from_fn_with_state(state.clone(), auth::check_host))
        .layer(cors_layer(&config.cors_origins))
        .with_state(state)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        base.allow_origin(AllowOrigin::any())
    } else {
        // No origins: no `Access-Control-Allow-Origin` is ever sent, so browsers refuse.
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
            .collect();
        base.allow_origin(AllowOrigin::list(list))
    }
}

/// Serves the API on `listener` until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine, config))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A server running in the background (for the desktop app's start/stop switch). Dropping
/// the handle stops it too.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl ServerHandle {
    /// Where it listens (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and lets open requests finish for up to 10 seconds;
    /// connections still open then are closed.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(e)) => Err(ServerError::Io(std::io::Error::other(e))),
            Err(_) => {
                self.task.abort();
                Ok(())
            }
        }
    }
}

/// Binds `addr` and serves in a background task on the current tokio runtime.
pub async fn spawn(
    engine: Arc<Engine>,
    config: ServerConfig,
    addr: impl ToSocketAddrs + std::fmt::Debug,
) -> Result<ServerHandle, ServerError> {
    let name = format!("{addr:?}");
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr: name, source })?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, engine, config, async move {
        let _ = stopped.await;
    }));
    Ok(ServerHandle {
        addr,
        stop: Some(stop),
        task,
    })
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A short id, unique within this process and unlikely to repeat across runs.
pub(crate) fn unique_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    // SplitMix64 finalizer: spreads the bits so ids do not look sequential.
    let mut z = nanos ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    format!("{:016x}{n:x}", z ^ (z >> 31))
}
