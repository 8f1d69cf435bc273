//! Export and import of conversations through the native file dialogs. The WebView never
//! names a path: the save dialog's answer is where an export is written, and the open
//! dialog's answer is the only file an import reads. The work is in `crate::export`.
//!
//! Test hook, off by default: when the app is started with `WOOLLY_TEST_DIALOG_PATH` set,
//! neither dialog is shown and that path is their answer, so the end-to-end test can
//! export and import in the real window (WebDriver cannot drive a native dialog). Only the
//! environment the app was started in sets it, never the page.

use super::blocking;
use crate::error::AppResult;
use crate::export::{self, ExportFormat};
use crate::state::AppState;
use crate::types::Conversation;
use std::path::PathBuf;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;

/// The test hook's path, when set (see the module's documentation).
fn test_dialog_path() -> Option<PathBuf> {
    std::env::var_os("WOOLLY_TEST_DIALOG_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

fn save_dialog<R: Runtime>(
    app: &AppHandle<R>,
    name: &str,
    format: ExportFormat,
) -> Option<PathBuf> {
    if let Some(path) = test_dialog_path() {
        return Some(path);
    }
    let (label, ext) = match format {
        ExportFormat::Markdown => ("Markdown", "md"),
        ExportFormat::Json => ("Woolly export (JSON)", "json"),
    };
    app.dialog()
        .file()
        .set_title("Export")
        .set_file_name(name)
        .add_filter(label, &[ext])
        .blocking_save_file()
        .and_then(|p| p.into_path().ok())
}

/// Exports one conversation to a file the user chooses; the path written, or null when
/// the dialog was cancelled.
#[tauri::command]
pub async fn export_conversation<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    conversation_id: String,
    format: ExportFormat,
) -> AppResult<Option<String>> {
    let state = state.inner().clone();
    blocking(move || {
        let threads = export::threads(&state.db, Some(&[conversation_id]))?;
        let name = export::file_name(&threads[0].conversation.title, format);
        let Some(path) = save_dialog(&app, &name, format) else {
            return Ok(None);
        };
        export::write(&path, &threads, format)?;
        Ok(Some(path.to_string_lossy().into_owned()))
    })
    .await
}

/// Exports every conversation into one file the user chooses.
#[tauri::command]
pub async fn export_all<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    format: ExportFormat,
) -> AppResult<Option<String>> {
    let state = state.inner().clone();
    blocking(move || {
        let threads = export::threads(&state.db, None)?;
        let name = export::file_name("Woolly conversations", format);
        let Some(path) = save_dialog(&app, &name, format) else {
            return Ok(None);
        };
        export::write(&path, &threads, format)?;
        Ok(Some(path.to_string_lossy().into_owned()))
    })
    .await
}

/// Imports a JSON export the user chooses as new conversations (all or none); null when
/// the dialog was cancelled.
#[tauri::command]
pub async fn import_conversations<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> AppResult<Option<Vec<Conversation>>> {
    let state = state.inner().clone();
    blocking(move || {
        let picked = test_dialog_path().or_else(|| {
            app.dialog()
                .file()
                .set_title("Import conversations")
                .add_filter("Woolly export (JSON)", &["json"])
                .blocking_pick_file()
                .and_then(|p| p.into_path().ok())
        });
        let Some(path) = picked else {
            return Ok(None);
        };
        let bytes = export::read_file(&path)?;
        export::import(&state.db, &bytes).map(Some)
    })
    .await
}
