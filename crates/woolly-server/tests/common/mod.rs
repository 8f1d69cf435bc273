//! Shared helpers: the test model, a server on a free loopback port, raw HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use woolly_core::engine::{Engine, EngineConfig};
use woolly_server::{ServerConfig, ServerHandle};

#[path = "../../../woolly-core/tests/common/test_model.rs"]
mod test_model;
#[allow(unused_imports)]
pub use test_model::test_model;

/// A new engine with a small context (cheap KV cache).
pub fn fresh_engine() -> Arc<Engine> {
    let config = EngineConfig::builder().context_length(1024).build();
    Arc::new(Engine::load(test_model(), config).expect("load the test model"))
}

/// One engine shared by the tests of a binary that do not watch its events.
pub fn shared_engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE.get_or_init(fresh_engine).clone()
}

pub async fn start(engine: Arc<Engine>, config: ServerConfig) -> ServerHandle {
    woolly_server::spawn(engine, config, "127.0.0.1:0")
        .await
        .expect("start the server")
}

pub fn url(server: &ServerHandle, path: &str) -> String {
    format!("http://{}{}", server.local_addr(), path)
}

/// Sends a raw HTTP/1.1 request (add `Connection: close`) and reads the whole answer.
pub async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP answer.
pub fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .filter_map(|e| {
            let lines: Vec<&str> = e
                .lines()
                .filter_map(|l| l.strip_prefix("data: ").or(l.strip_prefix("data:")))
                .collect();
            (!lines.is_empty()).then(|| lines.join("\n"))
        })
        .collect()
}

/// reqwest needs a TLS crypto provider even for plain HTTP when built with
/// `rustls-no-provider` (as the workspace does); installing twice is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
