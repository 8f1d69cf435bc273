//! The Tauri commands: thin wrappers that take the app state, call into the modules that
//! do the work and return `Result<_, AppError>`. The names are the UI's contract
//! (`ui/src/api/commands.ts`).

pub mod attachments;
pub mod chat;
pub mod conversations;
pub mod export;
pub mod models;
pub mod providers;
pub mod server;
pub mod system;
pub mod updates;

/// Every command, as `ui/src/api/commands.ts` `COMMAND_NAMES` lists them (build.rs declares
/// the same list in the app manifest).
pub const COMMAND_NAMES: &[&str] = &[
    "list_conversations",
    "create_conversation",
    "rename_conversation",
    "update_conversation",
    "delete_conversation",
    "search_conversations",
    "get_messages",
    "switch_branch",
    "export_conversation",
    "export_all",
    "import_conversations",
    "send_message",
    "stop_generation",
    "regenerate",
    "edit_and_resend",
    "context_usage",
    "attach_files",
    "watch_drops",
    "remove_attachment",
    "list_attachments",
    "get_settings",
    "save_settings",
    "system_info",
    "load_model",
    "unload_model",
    "open_external",
    "catalog",
    "installed_models",
    "list_downloads",
    "download_model",
    "pause_download",
    "resume_download",
    "cancel_download",
    "pick_model_file",
    "import_model",
    "delete_model",
    "set_hf_token",
    "has_hf_token",
    "hub_search",
    "hub_files",
    "server_status",
    "start_server",
    "stop_server",
    "set_server_api_key",
    "list_providers",
    "add_provider",
    "update_provider",
    "set_provider_key",
    "remove_provider",
    "provider_models",
    "update_status",
    "check_for_update",
    "download_update",
    "install_update",
    "refresh_catalog",
];

/// Runs blocking work on a blocking worker, never on the async runtime's threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::error::AppResult<T> + Send + 'static,
) -> crate::error::AppResult<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| {
            Err(crate::error::AppError::internal(format!(
                "A worker stopped unexpectedly: {e}"
            )))
        })
}
