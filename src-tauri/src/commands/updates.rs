//! Settings → Updates: the app's own updates (Tauri updater plugin) and the signed model
//! catalog refresh.

use crate::error::AppResult;
use crate::state::AppState;
use crate::types::{UpdateEvent, UpdateStatus};
use crate::updates;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};

#[tauri::command]
pub fn update_status<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) -> UpdateStatus {
    updates::status(&app, &state)
}

#[tauri::command]
pub async fn check_for_update<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> AppResult<UpdateStatus> {
    updates::check(&app, &state).await
}

#[tauri::command]
pub async fn download_update<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    on_progress: Channel<UpdateEvent>,
) -> AppResult<UpdateStatus> {
    updates::download(&state, |e| {
        let _ = on_progress.send(e);
    })
    .await?;
    Ok(updates::status(&app, &state))
}

/// Installs the downloaded, verified update and restarts into it.
#[tauri::command]
pub async fn install_update<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> AppResult<()> {
    let state = state.inner().clone();
    super::blocking(move || updates::install_and_restart(&app, &state)).await
}

#[tauri::command]
pub async fn refresh_catalog<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> AppResult<UpdateStatus> {
    state.catalogs.refresh().await?;
    Ok(updates::status(&app, &state))
}
