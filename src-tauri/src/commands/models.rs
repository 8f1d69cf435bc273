//! The Models page: catalog with fit badges, installed models, downloads, import, delete,
//! and the Hugging Face token (OS keychain).

use super::blocking;
use crate::downloads::Sink;
use crate::error::{AppError, AppResult};
use crate::hub;
use crate::state::AppState;
use crate::types::{
    CatalogEntry, DownloadEvent, DownloadInfo, DownloadSource, HubFile, HubModel, HubSort,
    ImportMode, InstalledModel,
};
use std::path::PathBuf;
use std::sync::Arc;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};
use woolly_hub::auth;

fn sink(channel: Channel<DownloadEvent>) -> Sink {
    Arc::new(move |event| {
        let _ = channel.send(event);
    })
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
        let installed = hub::known_models(&state.store()?, state.paths.launch_model.as_deref())?;
        Ok(state
            .catalogs
            .current()?
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
        let catalog = state.catalogs.current()?;
        let known = hub::known_models(&state.store()?, state.paths.launch_model.as_deref())?;
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
pub async fn download_model(
    state: State<'_, AppState>,
    source: DownloadSource,
    on_progress: Channel<DownloadEvent>,
) -> AppResult<DownloadInfo> {
    match source {
        DownloadSource::Hub { repo, file } => {
            let api = hub::hf_api()?;
            let downloader = hub::hub_downloader(&api, hf_token().await)?;
            let file = hub::resolve_hub_download(&api, &downloader, &repo, &file).await?;
            state.downloads.start_hub(&state, file, sink(on_progress))
        }
        other => state.downloads.start(&state, other, sink(on_progress)),
    }
}

/// The stored Hugging Face token, if any (none where the keychain is unusable).
async fn hf_token() -> Option<String> {
    blocking(|| Ok(auth::load_token().ok().flatten()))
        .await
        .ok()
        .flatten()
}

/// Searches GGUF repositories on the Hugging Face Hub (the token is sent when one is
/// stored: gated and private repositories then show up).
#[tauri::command]
pub async fn hub_search(
    query: String,
    sort: HubSort,
    limit: Option<u32>,
) -> AppResult<Vec<HubModel>> {
    let api = hub::hf_api()?;
    let downloader = hub::hub_downloader(&api, hf_token().await)?;
    let sort = match sort {
        HubSort::Downloads => woolly_hub::SearchSort::Downloads,
        HubSort::Recent => woolly_hub::SearchSort::Recent,
    };
    let found = api
        .search(&downloader, &query, sort, limit.unwrap_or(30))
        .await?;
    Ok(found.iter().map(hub::hub_model).collect())
}

/// The GGUF models of a Hub repository with size, quantization, SHA-256 and a fit badge
/// for this machine; split models are listed and marked as not downloadable.
#[tauri::command]
pub async fn hub_files(state: State<'_, AppState>, repo: String) -> AppResult<Vec<HubFile>> {
    let api = hub::hf_api()?;
    let downloader = hub::hub_downloader(&api, hf_token().await)?;
    let listed = api.gguf_files(&downloader, repo.trim()).await?;
    let state = state.inner().clone();
    blocking(move || {
        let ctx = state.settings().default_params.context_length as u64;
        let memory = hub::system_memory();
        let installed = hub::known_models(&state.store()?, state.paths.launch_model.as_deref())?;
        Ok(listed
            .iter()
            .map(|f| hub::hub_file(f, ctx, &memory, &installed))
            .collect())
    })
    .await
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

/// The native open-file dialog, filtered to GGUF files. The chosen file is recorded: it is
/// what `import_model` may then import.
#[tauri::command]
pub async fn pick_model_file<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> AppResult<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let state = state.inner().clone();
    blocking(move || {
        let picked = app
            .dialog()
            .file()
            .set_title("Import a GGUF model")
            .add_filter("GGUF model", &["gguf"])
            .blocking_pick_file()
            .and_then(|p| p.into_path().ok());
        if let Some(path) = &picked {
            state.picked.record(path);
        }
        Ok(picked.map(|p| p.to_string_lossy().into_owned()))
    })
    .await
}

/// Imports a file the user chose with `pick_model_file` during this run (any other path is
/// refused), after checking it is a GGUF model; nothing is recorded for a file that is not.
#[tauri::command]
pub async fn import_model(
    state: State<'_, AppState>,
    path: String,
    mode: ImportMode,
) -> AppResult<InstalledModel> {
    let state = state.inner().clone();
    blocking(move || {
        // The same answer for any path not picked, existing or not: no probing of files.
        let path = PathBuf::from(path.trim())
            .canonicalize()
            .ok()
            .filter(|p| state.picked.contains(p) && p.is_file())
            .ok_or_else(|| {
                AppError::invalid(
                    "Choose the model file with Browse… (Woolly imports only files chosen there).",
                )
            })?;
        let mode = match mode {
            ImportMode::Copy => woolly_hub::ImportMode::Copy,
            ImportMode::Reference => woolly_hub::ImportMode::Reference,
        };
        // The store parses the GGUF header before it copies or records anything.
        let model = state.store()?.import(&path, mode, None)?;
        state.picked.forget(&path);
        let ctx = state.settings().default_params.context_length as u64;
        Ok(hub::installed(
            &model,
            &state.catalogs.current()?,
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
        if hub::is_external(&store, state.paths.launch_model.as_deref(), &model_id) {
            return Err(AppError::invalid(
                "This model is not in Woolly's model store (it was given at launch in WOOLLY_MODEL), so Woolly does not delete it.",
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
