//! `woolly serve`: the OpenAI-compatible HTTP + WebSocket API over one loaded model.

use super::common::ModelArgs;
use anyhow::{bail, Context};
use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use woolly_server::ServerConfig;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on. The default accepts connections from this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Require `Authorization: Bearer <key>`, reading the key from this environment variable.
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// Allow browser pages from this origin (CORS and WebSocket), e.g. http://localhost:5173;
    /// `*` allows any. Repeatable. Default: none.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Seconds a non-streaming request may take, queueing included.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Largest request body in KiB.
    #[arg(long, default_value_t = 1024)]
    max_body_kib: usize,
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let api_key = match &args.api_key_env {
        None => None,
        Some(var) => match std::env::var(var) {
            Ok(key) if !key.trim().is_empty() => Some(key.trim().to_owned()),
            Ok(_) => bail!("--api-key-env {var}: the environment variable is empty"),
            Err(_) => bail!("--api-key-env {var}: the environment variable is not set"),
        },
    };
    let loopback = is_loopback(&args.host);
    if !loopback && api_key.is_none() {
        eprintln!(
            "warning: listening on {} without an API key: anyone who can reach this address can use the model (see --api-key-env)",
            args.host
        );
    }
    let config = ServerConfig {
        api_key,
        cors_origins: args.cors_origins.clone(),
        max_body_bytes: args.max_body_kib.saturating_mul(1024),
        request_timeout: Duration::from_secs(args.timeout),
        // Bound to a public interface, clients use whatever name reaches it.
        allowed_hosts: loopback.then(ServerConfig::loopback_hosts),
        ..ServerConfig::default()
    };

    eprintln!("loading {} …", args.model.model.display());
    let engine = Arc::new(args.model.load()?);
    let info = engine.info();
    eprintln!(
        "{} ({}, {}) on {} in {} ms, context {} tokens",
        info.model_id,
        info.architecture,
        info.quantization,
        info.device,
        info.load_ms,
        info.context_length
    );

    // Async work is light (parsing, routing, streaming); generations run on blocking workers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("woolly-server")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let host = args
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let listener = tokio::net::TcpListener::bind((host.as_str(), args.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
        let addr = listener.local_addr()?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on http://{addr}")?;
        stdout.flush()?;

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut server = tokio::spawn(woolly_server::serve(listener, engine, config, async move {
            let _ = stopped.await;
        }));
        tokio::select! {
            result = &mut server => return Ok(result.context("server task failed")??),
            _ = tokio::signal::ctrl_c() => {}
        }
        eprintln!("shutting down …");
        let _ = stop.send(());
        // Give open requests a moment; streams that go on are cut.
        match tokio::time::timeout(Duration::from_secs(5), server).await {
            Ok(result) => Ok(result.context("server task failed")??),
            Err(_) => Ok(()),
        }
    })
}
