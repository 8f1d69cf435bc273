//! The Models page: catalog with fit badges, installed models, downloads, import, delete,
//! and the Hugging Face token (OS keychain).

use super::blocking;
use crate::downloads::Sink;
use crate::error::{AppError, AppResult};
use crate::hub;
use crate::state::AppState;
use crate::types::{
    CatalogEntry, DownloadEvent, DownloadInfo, DownloadSource, ImportMode, InstalledModel,
};
use std::path::PathBuf;
use std::sync::Arc;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};
use woolly_hub::{auth, Catalog};

fn sink(channel: Channel<DownloadEvent>) -> Sink {
    Arc::new(move |event| {
        let _ = channel.send(event);
    })
}

fn builtin_catalog() -> AppResult<Catalog> {
    Ok(Catalog::builtin()?)
}

#[tauri::command]
pub async fn catalog(
    state: State<'_, AppState>,
    context_length: Option<u32>,
) -> AppResult<Vec<CatalogEntry>> {
    let state = state.inner().clone();
    blocking(move || {
        let ctx = context_length.unwrap_or(state.settings().default_params.context_length) as u64;
        let memory = hub::system_memory();
        let installed = hub::known_models(&state.store()?)?;
        Ok(builtin_catalog()?
            .models
            .iter()
            .map(|e| hub::catalog_entry(e, ctx, &memory, &installed))
            .collect())
    })
    .await
}

#[tauri::command]
pub async fn installed_models(state: State<'_, AppState>) -> AppResult<Vec<InstalledModel>> {
    let state = state.inner().clone();
    blocking(move || {
        let ctx = state.settings().default_params.context_length as u64;
        let memory = hub::system_memory();
        let catalog = builtin_catalog()?;
        let known = hub::known_models(&state.store()?)?;
        Ok(known
            .iter()
            .map(|m| hub::installed(m, &catalog, ctx, &memory))
            .collect())
    })
    .await
}

#[tauri::command]
pub fn list_downloads(state: State<'_, AppState>) -> Vec<DownloadInfo> {
    state.downloads.list(&state)
}

#[tauri::command]
pub fn download_model(
    state: State<'_, AppState>,
    source: DownloadSource,
    on_progress: Channel<DownloadEvent>,
) -> AppResult<DownloadInfo> {
    state.downloads.start(&state, source, sink(on_progress))
}

#[tauri::command]
pub fn pause_download(state: State<'_, AppState>, download_id: String) -> AppResult<()> {
    state.downloads.pause(&state, &download_id)
}

#[tauri::command]
pub fn resume_download(
    state: State<'_, AppState>,
    download_id: String,
    on_progress: Channel<DownloadEvent>,
) -> AppResult<DownloadInfo> {
    state
        .downloads
        .resume(&state, &download_id, sink(on_progress))
}

#[tauri::command]
pub fn cancel_download(state: State<'_, AppState>, download_id: String) -> AppResult<()> {
    state.downloads.cancel(&state, &download_id)
}

/// The native open-file dialog, filtered to GGUF files.
#[tauri::command]
pub async fn pick_model_file<R: Runtime>(app: AppHandle<R>) -> AppResult<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    blocking(move || {
        let picked = app
            .dialog()
            .file()
            .set_title("Import a GGUF model")
            .add_filter("GGUF model", &["gguf"])
            .blocking_pick_file();
        Ok(picked
            .and_then(|p| p.into_path().ok())
            .map(|p| p.to_string_lossy().into_owned()))
    })
    .await
}

#[tauri::command]
pub async fn import_model(
    state: State<'_, AppState>,
    path: String,
    mode: ImportMode,
) -> AppResult<InstalledModel> {
    let state = state.inner().clone();
    blocking(move || {
        let path = PathBuf::from(path.trim());
        if !path.is_file() {
            return Err(AppError::invalid(format!(
                "{} is not a file.",
                path.display()
            )));
        }
        let mode = match mode {
            ImportMode::Copy => woolly_hub::ImportMode::Copy,
            ImportMode::Reference => woolly_hub::ImportMode::Reference,
        };
        let model = state.store()?.import(&path, mode, None)?;
        let ctx = state.settings().default_params.context_length as u64;
        Ok(hub::installed(
            &model,
            &builtin_catalog()?,
            ctx,
            &hub::system_memory(),
        ))
    })
    .await
}

#[tauri::command]
pub async fn delete_model(state: State<'_, AppState>, model_id: String) -> AppResult<()> {
    let state = state.inner().clone();
    blocking(move || {
        let store = state.store()?;
        if hub::is_external(&store, &model_id) {
            return Err(AppError::invalid(
                "This model is not in Woolly's model store (it comes from WOOLLY_MODEL or the repository's models folder), so Woolly does not delete it.",
            ));
        }
        let model = store.get(&model_id).map_err(|_| AppError::not_found("No such model."))?;
        state.engine.unload_path(&model.path);
        store.delete(&model_id)?;
        let mut settings = state.settings();
        if settings.default_model_id.as_deref() == Some(model_id.as_str()) {
            settings.default_model_id = None;
            state.set_settings(settings)?;
        }
        Ok(())
    })
    .await
}

#[tauri::command]
pub async fn set_hf_token(token: Option<String>) -> AppResult<()> {
    blocking(move || {
        match token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => auth::save_token(t)?,
            None => auth::delete_token()?,
        }
        Ok(())
    })
    .await
}

/// Whether a token is stored; the token itself never leaves Rust. False where the OS has
/// no usable keychain.
#[tauri::command]
pub async fn has_hf_token() -> AppResult<bool> {
    blocking(|| Ok(auth::load_token().ok().flatten().is_some())).await
}
