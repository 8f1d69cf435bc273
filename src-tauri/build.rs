// Declares the app's commands (the UI's contract, ui/src/api/commands.ts) in the app
// manifest, so none is reachable unless a capability allows it (capabilities/main.json).
const COMMANDS: &[&str] = &[
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

/// `frontendDist` is embedded at compile time. Without a built UI (a fresh clone before
/// `npm --prefix ui run build`), a placeholder page keeps `cargo build --workspace` working;
/// building the UI replaces it and triggers a rebuild (the embedded files are tracked).
fn ensure_frontend_dist() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/dist");
    if dist.join("index.html").exists() {
        return;
    }
    println!("cargo:warning=ui/dist is missing: embedding a placeholder page; run `npm --prefix ui run build` first");
    let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Woolly</title></head>\
        <body><h1>Woolly</h1><p>The user interface was not built. Run <code>npm --prefix ui run build</code>, \
        then build the app again (<code>make run</code> does both).</p></body></html>\n";
    std::fs::create_dir_all(&dist)
        .and_then(|_| std::fs::write(dist.join("index.html"), page))
        .expect("write ui/dist placeholder");
}

fn main() {
    ensure_frontend_dist();
    let manifest = tauri_build::AppManifest::new().commands(COMMANDS);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri build");
}
