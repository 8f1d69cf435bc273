//! Settings, system information, model load/unload, external links.

use super::blocking;
use crate::engine_host;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::types::{LoadEvent, LoadedModel, Settings, SystemInfo};
use tauri::ipc::Channel;
use tauri::State;

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Settings {
    state.settings()
}

#[tauri::command]
pub fn save_settings(state: State<'_, AppState>, settings: Settings) -> AppResult<Settings> {
    state.set_settings(settings)
}

#[tauri::command]
pub fn system_info(state: State<'_, AppState>) -> SystemInfo {
    crate::system::info(&state)
}

#[tauri::command]
pub async fn load_model(
    state: State<'_, AppState>,
    model_id: Option<String>,
    on_progress: Channel<LoadEvent>,
) -> AppResult<LoadedModel> {
    let state = state.inner().clone();
    let worker = state.clone();
    let (engine, model) = blocking(move || {
        let state = worker;
        let settings = state.settings();
        let result = engine_host::resolve(
            state.store().ok().as_ref(),
            state.paths.launch_model.as_deref(),
            model_id.as_deref(),
            &settings,
        )
        .and_then(|model| {
            let mut progress = |p: f32, stage: &str| {
                let _ = on_progress.send(LoadEvent::Progress {
                    progress: p,
                    stage: stage.to_string(),
                });
            };
            state.engine.load(
                &model,
                settings.default_params.context_length,
                &settings,
                &mut progress,
            )
        });
        match result {
            Ok((engine, model)) => {
                let _ = on_progress.send(LoadEvent::Loaded {
                    model: model.clone(),
                });
                Ok((engine, model))
            }
            Err(e) => {
                let _ = on_progress.send(LoadEvent::Error {
                    message: e.message.clone(),
                    code: Some(e.code.as_str().into()),
                });
                Err(e)
            }
        }
    })
    .await?;
    // A running local API server follows the app to the newly loaded model. The model did
    // load: a server that cannot restart reports that in its own status, not here.
    let _ = state.server.restart(Some(engine), None).await;
    Ok(model)
}

#[tauri::command]
pub async fn unload_model(state: State<'_, AppState>) -> AppResult<()> {
    // The server holds the engine too: stop it, or the model would stay in memory.
    state
        .server
        .stop_because("Stopped because the model was unloaded.")
        .await;
    let state = state.inner().clone();
    blocking(move || {
        state.engine.unload();
        Ok(())
    })
    .await
}

/// Opens https: and mailto: links in the system's browser / mail client. Nothing else: no
/// plain http: (a model or a page could point at a local service), file:, or custom schemes
/// that would start other programs.
#[tauri::command]
pub fn open_external(url: String) -> AppResult<()> {
    let parsed =
        url::Url::parse(url.trim()).map_err(|_| AppError::invalid("This is not a valid link."))?;
    if !matches!(parsed.scheme(), "https" | "mailto") {
        return Err(AppError::invalid(
            "Only https:// and mailto: links can be opened.",
        ));
    }
    let link = parsed.as_str();
    #[cfg(target_os = "macos")]
    let mut cmd = std::process::Command::new("open");
    #[cfg(target_os = "windows")]
    let mut cmd = {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    };
    #[cfg(not(any(target_os = "macos", target_os = "windows")))]
    let mut cmd = std::process::Command::new("xdg-open");
    let mut child = cmd
        .arg(link)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| AppError::internal(format!("Could not open the link: {e}")))?;
    // Reap the opener when it exits (it hands the link over and quits).
    std::thread::spawn(move || child.wait());
    Ok(())
}
