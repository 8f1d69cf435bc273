//! The local OpenAI-compatible API (woolly-server) switched on from Settings: at most one,
//! bound to 127.0.0.1 only, serving the engine the app has loaded (never a second copy of
//! the model). Its port is kept in `server.json`, its API key in the keychain.

use crate::error::{AppError, ErrorCode};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tauri::async_runtime::Mutex;
use woolly_core::engine::Engine;
use woolly_server::{ServerConfig, ServerError, ServerHandle};

/// The keychain entry of the server's API key.
pub const API_KEY_SECRET: &str = "local-server-api-key";
pub const DEFAULT_PORT: u16 = 8080;
const PREFS_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerPrefs {
    pub port: u16,
    /// Whether a key was stored in the keychain. The keychain is read only when this says
    /// so: a desktop without one can still run a server without a key, and a key that
    /// cannot be read never silently starts an open server.
    pub api_key_set: bool,
}

impl Default for ServerPrefs {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            api_key_set: false,
        }
    }
}

pub fn load_prefs(path: &std::path::Path) -> ServerPrefs {
    crate::jsonfile::load(path)
}

pub fn save_prefs(path: &std::path::Path, prefs: &ServerPrefs) -> crate::AppResult<()> {
    crate::jsonfile::save(path, PREFS_VERSION, prefs)
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ServerHostError {
    #[error("Choose a port from 1 to 65535.")]
    InvalidPort,
    #[error("Port {0} is already in use by another program. Choose another port.")]
    PortInUse(u16),
    #[error("Could not listen on port {port}: {message}")]
    Bind { port: u16, message: String },
}

impl From<ServerHostError> for AppError {
    fn from(e: ServerHostError) -> Self {
        let code = match e {
            ServerHostError::InvalidPort => ErrorCode::InvalidArgument,
            _ => ErrorCode::ServerFailed,
        };
        AppError::new(code, e.to_string())
    }
}

struct Running {
    handle: ServerHandle,
    engine: Arc<Engine>,
    api_key: Option<String>,
}

/// What the server is doing now.
pub struct Snapshot {
    pub address: Option<SocketAddr>,
    /// The model it serves.
    pub model_id: Option<String>,
    /// Why the last start failed (cleared by the next successful start).
    pub error: Option<String>,
}

#[derive(Default)]
pub struct ServerHost {
    // An async lock: start and stop await the server, and must not interleave.
    running: Mutex<Option<Running>>,
    last_error: std::sync::Mutex<Option<String>>,
}

async fn spawn(
    engine: Arc<Engine>,
    port: u16,
    api_key: Option<String>,
) -> Result<ServerHandle, ServerHostError> {
    if port == 0 {
        return Err(ServerHostError::InvalidPort);
    }
    let config = ServerConfig {
        api_key,
        ..ServerConfig::default()
    };
    woolly_server::spawn(engine, config, (Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| match e {
            ServerError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
                ServerHostError::PortInUse(port)
            }
            ServerError::Bind { source, .. } => ServerHostError::Bind {
                port,
                message: source.to_string(),
            },
            ServerError::Io(e) => ServerHostError::Bind {
                port,
                message: e.to_string(),
            },
        })
}

impl ServerHost {
    fn set_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    /// Starts serving `engine` on 127.0.0.1:`port`, replacing a server already running. On
    /// another port the old one keeps serving until the new one listens.
    pub async fn start(
        &self,
        engine: Arc<Engine>,
        port: u16,
        api_key: Option<String>,
    ) -> Result<SocketAddr, ServerHostError> {
        let mut slot = self.running.lock().await;
        if slot
            .as_ref()
            .is_some_and(|r| r.handle.local_addr().port() == port)
        {
            if let Some(old) = slot.take() {
                let _ = old.handle.shutdown().await;
            }
        }
        match spawn(engine.clone(), port, api_key.clone()).await {
            Ok(handle) => {
                let addr = handle.local_addr();
                let old = slot.replace(Running {
                    handle,
                    engine,
                    api_key,
                });
                if let Some(old) = old {
                    let _ = old.handle.shutdown().await;
                }
                self.set_error(None);
                Ok(addr)
            }
            Err(e) => {
                self.set_error(Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// Stops the server (open requests get a few seconds to finish); false if none ran.
    pub async fn stop(&self) -> bool {
        self.set_error(None);
        let Some(old) = self.running.lock().await.take() else {
            return false;
        };
        let _ = old.handle.shutdown().await;
        true
    }

    /// Stops a running server and says why in the status.
    pub async fn stop_because(&self, why: &str) {
        if self.stop().await {
            self.set_error(Some(why.to_string()));
        }
    }

    /// Restarts a running server with another key (None: no key) or engine, on its port.
    pub async fn restart(
        &self,
        engine: Option<Arc<Engine>>,
        api_key: Option<Option<String>>,
    ) -> Result<(), ServerHostError> {
        let current = {
            let slot = self.running.lock().await;
            slot.as_ref().map(|r| {
                (
                    r.handle.local_addr().port(),
                    r.engine.clone(),
                    r.api_key.clone(),
                )
            })
        };
        let Some((port, old_engine, old_key)) = current else {
            return Ok(());
        };
        self.start(
            engine.unwrap_or(old_engine),
            port,
            api_key.unwrap_or(old_key),
        )
        .await
        .map(|_| ())
    }

    pub async fn snapshot(&self) -> Snapshot {
        let slot = self.running.lock().await;
        Snapshot {
            address: slot.as_ref().map(|r| r.handle.local_addr()),
            model_id: slot.as_ref().map(|r| r.engine.info().model_id.clone()),
            error: self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// True while a server runs.
    pub async fn is_running(&self) -> bool {
        self.running.lock().await.is_some()
    }
}
