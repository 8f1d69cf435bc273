//! The local OpenAI-compatible API server: start, stop, status and its API key.

use super::blocking;
use crate::engine_host;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::secrets::normalize;
use crate::server_host::{self, API_KEY_SECRET};
use crate::state::AppState;
use crate::types::ServerStatus;
use std::sync::Arc;
use tauri::State;
use woolly_core::engine::Engine;

async fn status_of(state: &AppState) -> ServerStatus {
    let snapshot = state.server.snapshot().await;
    let prefs = server_host::load_prefs(&state.paths.server_file());
    ServerStatus {
        running: snapshot.address.is_some(),
        port: snapshot.address.map_or(prefs.port, |a| a.port()),
        address: snapshot.address.map(|a| a.to_string()),
        base_url: snapshot.address.map(|a| format!("http://{a}/v1")),
        has_api_key: prefs.api_key_set,
        model_id: snapshot.model_id,
        error: snapshot.error,
    }
}

/// The key to require, read from the keychain only when one was set.
fn stored_key(state: &AppState) -> AppResult<Option<String>> {
    if !server_host::load_prefs(&state.paths.server_file()).api_key_set {
        return Ok(None);
    }
    match state.secrets.get(API_KEY_SECRET)? {
        Some(key) => Ok(Some(key)),
        None => Err(AppError::new(
            ErrorCode::Keychain,
            "The server's API key is missing from the system keychain. Save a new key or remove it.",
        )),
    }
}

#[tauri::command]
pub async fn server_status(state: State<'_, AppState>) -> AppResult<ServerStatus> {
    Ok(status_of(&state).await)
}

/// Starts (or moves) the server to `port`, loading the default model first when none is
/// loaded. The port is remembered for next time.
#[tauri::command]
pub async fn start_server(state: State<'_, AppState>, port: u16) -> AppResult<ServerStatus> {
    let state = state.inner().clone();
    let worker = state.clone();
    let (engine, api_key) = blocking(move || -> AppResult<(Arc<Engine>, Option<String>)> {
        let api_key = stored_key(&worker)?;
        if let Some(engine) = worker.engine.current() {
            return Ok((engine, api_key));
        }
        let settings = worker.settings();
        let model = engine_host::resolve(
            worker.store().ok().as_ref(),
            worker.paths.launch_model.as_deref(),
            None,
            &settings,
        )?;
        let context = settings.default_params.context_length;
        let (engine, _) = worker
            .engine
            .ensure(&model, context, &settings, &mut |_, _| {})?;
        Ok((engine, api_key))
    })
    .await?;
    state.server.start(engine, port, api_key).await?;
    let mut prefs = server_host::load_prefs(&state.paths.server_file());
    if prefs.port != port {
        prefs.port = port;
        server_host::save_prefs(&state.paths.server_file(), &prefs)?;
    }
    Ok(status_of(&state).await)
}

#[tauri::command]
pub async fn stop_server(state: State<'_, AppState>) -> AppResult<ServerStatus> {
    state.server.stop().await;
    Ok(status_of(&state).await)
}

/// Stores the key in the keychain (None clears it); a running server switches to it at once.
#[tauri::command]
pub async fn set_server_api_key(
    state: State<'_, AppState>,
    api_key: Option<String>,
) -> AppResult<ServerStatus> {
    let key = match api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) => Some(normalize(k)?.to_string()),
        None => None,
    };
    let worker = state.inner().clone();
    let stored = key.clone();
    blocking(move || {
        match &stored {
            Some(k) => worker.secrets.set(API_KEY_SECRET, k)?,
            None => worker.secrets.delete(API_KEY_SECRET)?,
        }
        let path = worker.paths.server_file();
        let mut prefs = server_host::load_prefs(&path);
        prefs.api_key_set = stored.is_some();
        server_host::save_prefs(&path, &prefs)
    })
    .await?;
    state.server.restart(None, Some(key)).await?;
    Ok(status_of(&state).await)
}
