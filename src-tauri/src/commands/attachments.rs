//! Files in a chat. The WebView never names a path: `attach_files` opens the native open
//! dialog and reads what the user chose; files dropped on the window arrive through the
//! window's drag-drop event (`lib.rs`) and are announced on the `watch_drops` channel.
//! Attachments stay pending (in memory) until `send_message` names them.

use super::blocking;
use crate::attachments::{AttachOutcome, Attachment};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use std::sync::Arc;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;

/// Set by the end-to-end test only: the files `attach_files` reads instead of asking.
pub const TEST_FILES_ENV: &str = "WOOLLY_E2E_ATTACH_FILES";

/// Lets the user choose files to attach; what could be read is pending, with one error
/// line per file that could not. Empty when the dialog was cancelled.
#[tauri::command]
pub async fn attach_files<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> AppResult<AttachOutcome> {
    let state = state.inner().clone();
    blocking(move || {
        // The end-to-end test (tests/e2e/run.py) cannot click through a native dialog:
        // it names the files the dialog "returns" when it launches the app.
        if let Some(list) = std::env::var_os(TEST_FILES_ENV) {
            let paths: Vec<_> = std::env::split_paths(&list).collect();
            return Ok(state.attachments.read(&paths));
        }
        let picked = app
            .dialog()
            .file()
            .set_title("Attach files")
            .add_filter(
                "Text, Markdown, source code, PDF",
                &[
                    "txt", "md", "markdown", "pdf", "rs", "py", "js", "ts", "tsx", "jsx", "c", "h",
                    "cpp", "hpp", "cs", "go", "java", "kt", "swift", "rb", "php", "sh", "json",
                    "toml", "yaml", "yml", "xml", "html", "css", "sql", "csv", "log",
                ],
            )
            .add_filter("All files", &["*"])
            .blocking_pick_files();
        let paths: Vec<_> = picked
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| p.into_path().ok())
            .collect();
        Ok(state.attachments.read(&paths))
    })
    .await
}

/// The channel where files dropped on the window arrive as attachments (pending, like
/// `attach_files`'s). The UI opens it once; a later call replaces it.
#[tauri::command]
pub fn watch_drops(state: State<'_, AppState>, on_drop: Channel<AttachOutcome>) {
    state.attachments.watch_drops(Arc::new(move |outcome| {
        let _ = on_drop.send(outcome);
    }));
}

/// Removes an attachment: a pending one (the chip's remove button) or one already sent
/// (the user's way out of `context_full`; the message keeps its text).
#[tauri::command]
pub async fn remove_attachment(state: State<'_, AppState>, attachment_id: String) -> AppResult<()> {
    let state = state.inner().clone();
    blocking(move || {
        if state.attachments.remove(&attachment_id) {
            return Ok(());
        }
        state.db.delete_attachment(&attachment_id)
    })
    .await
}

/// The attachments sent in a conversation (each names its message).
#[tauri::command]
pub async fn list_attachments(
    state: State<'_, AppState>,
    conversation_id: String,
) -> AppResult<Vec<Attachment>> {
    let state = state.inner().clone();
    blocking(move || {
        state.db.get_conversation(&conversation_id)?;
        state.db.attachments(&conversation_id)
    })
    .await
}

/// Whether `ids` are all pending (for `context_usage`); unknown ids are an error.
pub(crate) fn pending(state: &AppState, ids: &[String]) -> AppResult<Vec<Attachment>> {
    state
        .attachments
        .get(ids)
        .map_err(|_| AppError::not_found("An attachment is gone: attach the file again."))
}
