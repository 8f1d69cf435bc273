//! Woolly's desktop app: the engine embedded in-process behind Tauri commands, a SQLite
//! history with full-text search, settings in a versioned file, and the model manager.

pub mod attachments;
pub mod catalogs;
pub mod commands;
pub mod db;
pub mod downloads;
pub mod engine_host;
pub mod error;
pub mod export;
pub mod hub;
pub mod jsonfile;
pub mod paths;
pub mod prompt;
pub mod providers;
pub mod recovery;
pub mod secrets;
pub mod server_host;
pub mod settings;
pub mod state;
pub mod system;
pub mod turn;
pub mod turns;
pub mod types;
pub mod updates;

pub use error::{AppError, AppResult, ErrorCode};
pub use paths::AppPaths;
pub use state::AppState;

use std::time::{Duration, Instant};
use tauri::{Builder, Manager, RunEvent, Runtime};

/// Adds the app's state, plugins and commands to a builder (the real one or the test
/// runtime's `tauri::test::mock_builder()`).
pub fn setup<R: Runtime>(builder: Builder<R>, state: AppState) -> Builder<R> {
    use commands::{
        attachments, chat, conversations, export, models, providers, server, system, updates,
    };
    builder
        .plugin(tauri_plugin_dialog::init())
        // Endpoint and public key: tauri.conf.json `plugins.updater`. Driven from Rust only
        // (commands/updates.rs); the window has no permission for the plugin's own commands.
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(
            tauri::plugin::Builder::<R>::new("navigation-guard")
                .on_navigation(|_webview, url| is_app_url(url))
                .build(),
        )
        // Files dropped on the window: read here, announced on the `watch_drops` channel.
        // The paths never go to the WebView.
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) = event {
                let state = window.state::<AppState>().inner().clone();
                let paths = paths.clone();
                std::thread::spawn(move || {
                    state.attachments.dropped(&paths);
                });
            }
        })
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            conversations::list_conversations,
            conversations::create_conversation,
            conversations::rename_conversation,
            conversations::update_conversation,
            conversations::delete_conversation,
            conversations::search_conversations,
            conversations::get_messages,
            conversations::switch_branch,
            export::export_conversation,
            export::export_all,
            export::import_conversations,
            chat::send_message,
            chat::stop_generation,
            chat::regenerate,
            chat::edit_and_resend,
            chat::context_usage,
            attachments::attach_files,
            attachments::watch_drops,
            attachments::remove_attachment,
            attachments::list_attachments,
            system::get_settings,
            system::save_settings,
            system::system_info,
            system::load_model,
            system::unload_model,
            system::open_external,
            models::catalog,
            models::installed_models,
            models::list_downloads,
            models::download_model,
            models::pause_download,
            models::resume_download,
            models::cancel_download,
            models::pick_model_file,
            models::import_model,
            models::delete_model,
            models::set_hf_token,
            models::has_hf_token,
            models::hub_search,
            models::hub_files,
            server::server_status,
            server::start_server,
            server::stop_server,
            server::set_server_api_key,
            providers::list_providers,
            providers::add_provider,
            providers::update_provider,
            providers::set_provider_key,
            providers::remove_provider,
            providers::provider_models,
            updates::update_status,
            updates::check_for_update,
            updates::download_update,
            updates::install_update,
            updates::refresh_catalog,
        ])
}

/// Whether the WebView may show `url`: only the app's own pages (the embedded UI; the Vite
/// dev server in a build without it). A link or a redirect to anywhere else is not
/// followed: links open in the system browser through `open_external`.
pub fn is_app_url(url: &tauri::Url) -> bool {
    match (url.scheme(), url.host_str()) {
        ("tauri", Some("localhost")) => true,
        // How Windows and Android serve the embedded UI.
        ("http" | "https", Some("tauri.localhost")) => true,
        ("http", Some("localhost")) if cfg!(not(feature = "custom-protocol")) => {
            url.port() == Some(1420)
        }
        _ => url.as_str() == "about:blank",
    }
}

/// On exit: stop every reply being generated and give the turns a moment to save it.
pub fn finish_turns(state: &AppState, within: Duration) {
    if state.turns.stop_all() == 0 {
        return;
    }
    let deadline = Instant::now() + within;
    while state.turns.count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The desktop app's entry point.
pub fn run() {
    if let Ok(v) = std::env::var(woolly_core::quant::cpu::ENV) {
        if let Err(e) = v.parse::<woolly_core::quant::CpuFeatures>() {
            eprintln!(
                "woolly-desktop: ignoring {}: {e}",
                woolly_core::quant::cpu::ENV
            );
        }
    }
    let state = match AppPaths::from_env().and_then(AppState::open) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("woolly-desktop: cannot open the app's data: {}", e.message);
            std::process::exit(1);
        }
    };
    state.watch_idle_model();
    let weekly = state.clone();
    let app = setup(tauri::Builder::default(), state)
        .setup(move |app| {
            updates::spawn_weekly(app.handle().clone(), weekly);
            Ok(())
        })
        .build(tauri::generate_context!())
        .unwrap_or_else(|e| {
            eprintln!("woolly-desktop: cannot start: {e}");
            std::process::exit(1);
        });
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            finish_turns(&handle.state::<AppState>(), Duration::from_secs(3));
        }
    });
}
