//! Command tests on Tauri's mock runtime: conversations, search, settings, models, errors.
//! (Chat turns with the real model are in `chat.rs`.)

mod support;

use serde_json::json;
use support::{test_model, Harness};

#[test]
fn conversation_crud_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());

    assert_eq!(
        h.invoke("list_conversations", json!({})).unwrap(),
        json!([])
    );
    let a = h
        .invoke("create_conversation", json!({ "title": null }))
        .unwrap();
    assert_eq!(a["title"], "New chat");
    assert_eq!(a["messageCount"], 0);
    assert_eq!(a["modelId"], json!(null));
    assert_eq!(
        a["systemPrompt"],
        woolly_desktop::types::Settings::default().default_system_prompt
    );
    assert_eq!(a["params"]["maxTokens"], 1024);
    let a_id = a["id"].as_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let b = h
        .invoke("create_conversation", json!({ "title": "  Recipes  " }))
        .unwrap();
    assert_eq!(b["title"], "Recipes");
    let b_id = b["id"].as_str().unwrap().to_string();

    // Newest first.
    let list = h.invoke("list_conversations", json!({})).unwrap();
    assert_eq!(list[0]["id"], b_id.as_str());
    assert_eq!(list[1]["id"], a_id.as_str());

    let renamed = h
        .invoke(
            "rename_conversation",
            json!({ "conversationId": a_id, "title": "Travel plans" }),
        )
        .unwrap();
    assert_eq!(renamed["title"], "Travel plans");
    let err = h
        .invoke(
            "rename_conversation",
            json!({ "conversationId": a_id, "title": "  " }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    let err = h
        .invoke(
            "rename_conversation",
            json!({ "conversationId": "nope", "title": "x" }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "not_found", "{err}");

    let mut params = a["params"].clone();
    params["temperature"] = json!(0.2);
    params["seed"] = json!(42);
    let updated = h
        .invoke(
            "update_conversation",
            json!({ "conversationId": a_id, "systemPrompt": "Be brief.", "params": params, "modelId": "x.gguf" }),
        )
        .unwrap();
    assert_eq!(updated["systemPrompt"], "Be brief.");
    assert_eq!(updated["params"]["seed"], 42);
    assert!((updated["params"]["temperature"].as_f64().unwrap() - 0.2).abs() < 1e-6);
    assert_eq!(updated["modelId"], "x.gguf");
    params["temperature"] = json!(5.0);
    let err = h
        .invoke("update_conversation", json!({ "conversationId": a_id, "systemPrompt": "", "params": params, "modelId": null }))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument");

    // Turns that cannot start.
    let (_, ch) = h.channel();
    let err = h
        .invoke(
            "send_message",
            json!({ "conversationId": a_id, "content": "  ", "onEvent": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument");
    let (_, ch) = h.channel();
    let err = h
        .invoke(
            "send_message",
            json!({ "conversationId": "missing", "content": "hi", "onEvent": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
    let (_, ch) = h.channel();
    let err = h
        .invoke(
            "regenerate",
            json!({ "conversationId": b_id, "onEvent": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument");
    assert_eq!(
        h.invoke("stop_generation", json!({ "conversationId": b_id }))
            .unwrap(),
        json!(false)
    );

    assert_eq!(
        h.invoke("get_messages", json!({ "conversationId": b_id }))
            .unwrap(),
        json!([])
    );
    assert_eq!(
        h.invoke("delete_conversation", json!({ "conversationId": b_id }))
            .unwrap(),
        json!(null)
    );
    assert_eq!(
        h.invoke("get_messages", json!({ "conversationId": b_id }))
            .unwrap_err()["code"],
        "not_found"
    );
    assert_eq!(
        h.invoke("delete_conversation", json!({ "conversationId": b_id }))
            .unwrap_err()["code"],
        "not_found"
    );
    assert_eq!(
        h.invoke("list_conversations", json!({}))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn full_text_search() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let db = &h.state().db;
    let s = woolly_desktop::types::Settings::default();
    let soup = db
        .create_conversation(None, "", &s.default_params, None)
        .unwrap();
    let question = db
        .add_user_message(&soup.id, "How do I make a potato soup with leeks?")
        .unwrap();
    let reply = db.start_reply(&soup.id, &question.id, None).unwrap();
    db.update_reply(&reply.id, "Peel the potatoes, ").unwrap();
    db.finish_reply(
        &reply.id,
        "Peel the potatoes, slice the leeks and simmer them in stock.",
        None,
    )
    .unwrap();
    let rust = db
        .create_conversation(Some("Rust lifetimes"), "", &s.default_params, None)
        .unwrap();
    db.add_user_message(&rust.id, "Explain borrowing in Rust, like café talk")
        .unwrap();

    // The first message named the chat.
    assert_eq!(
        db.get_conversation(&soup.id).unwrap().title,
        "How do I make a potato soup with leeks?"
    );

    let hits = h
        .invoke("search_conversations", json!({ "query": "leek" }))
        .unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["conversation"]["id"], soup.id.as_str());
    assert_eq!(hits[0]["conversation"]["messageCount"], 2);
    let snippet = hits[0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("leeks"), "{snippet}");
    assert!(!snippet.contains('<'), "plain text: {snippet}");

    // Streamed updates are indexed: the partial text was replaced by the final one.
    assert_eq!(
        h.invoke("search_conversations", json!({ "query": "simmer stock" }))
            .unwrap()[0]["conversation"]["id"],
        soup.id.as_str()
    );
    // Title-only match: no snippet. Diacritics folded. Operators are literal.
    let hits = h
        .invoke("search_conversations", json!({ "query": "lifetimes" }))
        .unwrap();
    assert_eq!(hits[0]["conversation"]["id"], rust.id.as_str());
    assert_eq!(hits[0]["snippet"], json!(null));
    assert_eq!(
        h.invoke("search_conversations", json!({ "query": "cafe" }))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        h.invoke("search_conversations", json!({ "query": "NOT \"(" }))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        h.invoke("search_conversations", json!({ "query": "" }))
            .unwrap(),
        json!([])
    );
    assert_eq!(
        h.invoke("search_conversations", json!({ "query": "zebra" }))
            .unwrap(),
        json!([])
    );

    // Deleting a conversation removes it from the index.
    h.invoke("delete_conversation", json!({ "conversationId": soup.id }))
        .unwrap();
    assert_eq!(
        h.invoke("search_conversations", json!({ "query": "potato" }))
            .unwrap(),
        json!([])
    );
}

#[test]
fn settings_persist_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    {
        let h = Harness::open(dir.path());
        let mut s = h.invoke("get_settings", json!({})).unwrap();
        assert_eq!(s["theme"], "system");
        assert_eq!(s["device"], "auto");
        assert_eq!(s["threads"], json!(null));
        s["theme"] = json!("dark");
        s["threads"] = json!(2);
        s["defaultParams"]["maxTokens"] = json!(64);
        let saved = h.invoke("save_settings", json!({ "settings": s })).unwrap();
        assert_eq!(saved["theme"], "dark");
        s["threads"] = json!(0);
        assert_eq!(
            h.invoke("save_settings", json!({ "settings": s }))
                .unwrap_err()["code"],
            "invalid_argument"
        );
        // New conversations take the defaults.
        let c = h
            .invoke("create_conversation", json!({ "title": null }))
            .unwrap();
        assert_eq!(c["params"]["maxTokens"], 64);
    }
    let file = dir.path().join("config/settings.json");
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(on_disk["version"], 1);
    let h = Harness::open(dir.path());
    let s = h.invoke("get_settings", json!({})).unwrap();
    assert_eq!(
        (s["theme"].as_str(), s["threads"].as_u64()),
        (Some("dark"), Some(2))
    );

    let info = h.invoke("system_info", json!({})).unwrap();
    assert_eq!(info["modelState"], "unloaded");
    assert_eq!(info["threads"], 2);
    assert_eq!(info["device"]["kind"], "cpu");
    assert!(info["memory"]["totalBytes"].as_u64().unwrap() > 0);
    assert!(info["memory"]["processBytes"].as_u64().unwrap() > 0);

    assert_eq!(
        h.invoke("open_external", json!({ "url": "javascript:alert(1)" }))
            .unwrap_err()["code"],
        "invalid_argument"
    );
    assert_eq!(
        h.invoke("open_external", json!({ "url": "file:///etc/passwd" }))
            .unwrap_err()["code"],
        "invalid_argument"
    );
}

#[test]
fn models_page_commands() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let catalog = h
        .invoke("catalog", json!({ "contextLength": 2048 }))
        .unwrap();
    let catalog = catalog.as_array().unwrap();
    assert!(catalog.len() >= 3);
    for e in catalog {
        assert!(
            ["fits", "tight", "too_big"].contains(&e["fit"]["verdict"].as_str().unwrap()),
            "{e}"
        );
        assert_eq!(
            e["fit"]["contextLength"].as_u64().unwrap(),
            2048.min(e["contextLength"].as_u64().unwrap())
        );
        assert!(e["fit"]["requiredBytes"].as_u64().unwrap() > e["sizeBytes"].as_u64().unwrap() / 2);
        let is_repo_model = e["url"]
            .as_str()
            .unwrap()
            .ends_with("/SmolLM2-135M-Instruct.Q4_1.gguf");
        let expected = if is_repo_model {
            json!("SmolLM2-135M-Instruct.Q4_1.gguf")
        } else {
            json!(null)
        };
        assert_eq!(e["installedId"], expected, "{e}");
    }
    // With an empty store, the model given at launch (here the repository's test model) is
    // listed as a referenced model, and cannot be deleted from here.
    let installed = h.invoke("installed_models", json!({})).unwrap();
    assert_eq!(installed.as_array().unwrap().len(), 1, "{installed}");
    assert_eq!(installed[0]["id"], "SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(installed[0]["storage"], "reference");
    assert_eq!(
        installed[0]["path"],
        test_model().canonicalize().unwrap().to_str().unwrap()
    );
    let err = h
        .invoke(
            "delete_model",
            json!({ "modelId": "SmolLM2-135M-Instruct.Q4_1.gguf" }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    assert_eq!(h.invoke("list_downloads", json!({})).unwrap(), json!([]));

    // Import by reference: only a file picked in the dialog (simulated here: the mock
    // runtime has no native dialog), validated, listed, deletable without touching the file.
    let err = h
        .invoke(
            "import_model",
            json!({ "path": dir.path().join("nope.gguf"), "mode": "copy" }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument");
    let err = h
        .invoke(
            "import_model",
            json!({ "path": test_model(), "mode": "reference" }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "not picked: {err}");
    assert!(err["message"].as_str().unwrap().contains("Browse"), "{err}");
    let not_gguf = dir.path().join("fake.gguf");
    std::fs::write(&not_gguf, b"definitely not a model").unwrap();
    h.state().picked.record(&not_gguf);
    for mode in ["copy", "reference"] {
        let err = h
            .invoke("import_model", json!({ "path": not_gguf, "mode": mode }))
            .unwrap_err();
        assert_eq!(err["code"], "invalid_argument", "{err}");
    }
    // Nothing was recorded or copied for the file that is not a model.
    let store = h.state().paths.model_store();
    let files: Vec<_> = std::fs::read_dir(&store)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        files.iter().all(|f| f != "fake.gguf"),
        "{files:?} in the store"
    );
    assert_eq!(
        h.invoke("installed_models", json!({}))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    h.state().picked.record(&test_model());
    let model = h
        .invoke(
            "import_model",
            json!({ "path": test_model(), "mode": "reference" }),
        )
        .unwrap();
    assert_eq!(model["id"], "SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(model["architecture"], "llama");
    assert_eq!(model["quantization"], "Q4_1");
    assert_eq!(model["parameters"], "135M");
    assert_eq!(model["source"], "import");
    assert_eq!(model["storage"], "reference");
    assert_eq!(
        model["sha256"],
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
    assert_eq!(model["fit"]["verdict"], "fits");
    let installed = h.invoke("installed_models", json!({})).unwrap();
    assert_eq!(
        installed.as_array().unwrap().len(),
        1,
        "now in the store, not listed twice"
    );
    let catalog = h
        .invoke("catalog", json!({ "contextLength": null }))
        .unwrap();
    let smol = catalog.as_array().unwrap().iter().find(|e| {
        e["url"]
            .as_str()
            .unwrap()
            .ends_with("SmolLM2-135M-Instruct.Q4_1.gguf")
    });
    if let Some(smol) = smol {
        assert_eq!(smol["installedId"], "SmolLM2-135M-Instruct.Q4_1.gguf");
    }

    // Loading by id through load_model, with progress.
    let (ch_id, ch) = h.channel();
    let loaded = h
        .invoke(
            "load_model",
            json!({ "modelId": "SmolLM2-135M-Instruct.Q4_1.gguf", "onProgress": ch }),
        )
        .unwrap();
    assert_eq!(loaded["architecture"], "llama");
    assert_eq!(loaded["contextLength"], 4096);
    let events = h.events(ch_id);
    assert_eq!(events.last().unwrap()["event"], "loaded");
    assert!(events.iter().any(|e| e["event"] == "progress"));
    assert_eq!(
        h.invoke("system_info", json!({})).unwrap()["modelState"],
        "loaded"
    );
    let (_, ch) = h.channel();
    let err = h
        .invoke(
            "load_model",
            json!({ "modelId": "missing.gguf", "onProgress": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "no_model");

    assert_eq!(
        h.invoke(
            "delete_model",
            json!({ "modelId": "SmolLM2-135M-Instruct.Q4_1.gguf" })
        )
        .unwrap(),
        json!(null)
    );
    assert!(
        test_model().is_file(),
        "a referenced model's file is never deleted"
    );
    assert_eq!(
        h.invoke("system_info", json!({})).unwrap()["modelState"],
        "unloaded"
    );
    assert_eq!(
        h.invoke("installed_models", json!({})).unwrap()[0]["storage"],
        "reference"
    );
    assert_eq!(
        h.invoke("delete_model", json!({ "modelId": "../../etc/passwd" }))
            .unwrap_err()["code"],
        "not_found"
    );

    // Downloads: bad input is refused before anything starts.
    let (_, ch) = h.channel();
    let err = h
        .invoke("download_model", json!({ "source": { "kind": "url", "url": "http://127.0.0.1:9/m.gguf", "sha256": "abc" }, "onProgress": ch }))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument");
    let (_, ch) = h.channel();
    let err = h
        .invoke(
            "download_model",
            json!({ "source": { "kind": "catalog", "catalogId": "nope" }, "onProgress": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "not_found");
}

#[test]
fn downloads_report_failures_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let sha = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
    {
        let h = Harness::open(dir.path());
        // Nothing listens on port 9 of loopback: the download fails (after retries) and is
        // kept as failed.
        let (ch_id, ch) = h.channel();
        let info = h
            .invoke(
                "download_model",
                json!({ "source": { "kind": "url", "url": "http://127.0.0.1:9/tiny.gguf", "sha256": sha, "name": "Tiny" }, "onProgress": ch }),
            )
            .unwrap();
        assert_eq!(info["name"], "Tiny");
        let id = info["id"].as_str().unwrap().to_string();
        let (_, ch2) = h.channel();
        let err = h
            .invoke("download_model", json!({ "source": { "kind": "url", "url": "http://127.0.0.1:9/tiny.gguf", "sha256": sha }, "onProgress": ch2 }))
            .unwrap_err();
        assert_eq!(err["code"], "busy");
        h.invoke("pause_download", json!({ "downloadId": id }))
            .unwrap();
        let list = h.invoke("list_downloads", json!({})).unwrap();
        assert_eq!(list[0]["status"], "paused", "{list}");
        let _ = ch_id;
    }
    // After a restart the download is still listed (paused), and can be cancelled.
    let h = Harness::open(dir.path());
    let list = h.invoke("list_downloads", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["status"], "paused");
    let id = list[0]["id"].as_str().unwrap();
    assert_eq!(
        h.invoke("cancel_download", json!({ "downloadId": id }))
            .unwrap(),
        json!(null)
    );
    assert_eq!(h.invoke("list_downloads", json!({})).unwrap(), json!([]));
    assert_eq!(
        h.invoke("cancel_download", json!({ "downloadId": id }))
            .unwrap_err()["code"],
        "not_found"
    );
}

/// Every command is declared in the app manifest (build.rs), allowed by the main window's
/// capability and listed in the UI's command table: a command missing from one of them
/// would only fail at run time, in the real window.
#[test]
fn commands_are_declared_allowed_and_in_the_ui_contract() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let build = read("build.rs");
    let capability: serde_json::Value =
        serde_json::from_str(&read("capabilities/main.json")).unwrap();
    let allowed: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    let ui = read("../ui/src/api/commands.ts");
    for name in woolly_desktop::commands::COMMAND_NAMES {
        assert!(
            build.contains(&format!("\"{name}\"")),
            "{name} not in build.rs"
        );
        let permission = format!("allow-{}", name.replace('_', "-"));
        assert!(
            allowed.contains(&permission.as_str()),
            "{permission} not in capabilities/main.json"
        );
        assert!(
            ui.contains(&format!("\"{name}\"")),
            "{name} not in ui/src/api/commands.ts"
        );
    }
    assert_eq!(
        allowed.len(),
        woolly_desktop::commands::COMMAND_NAMES.len(),
        "the capability allows exactly the app's commands: {allowed:?}"
    );
}

/// Without a launch model and with an empty store there is no model: the app never falls
/// back to a file of the build machine (this binary was built inside the repository, next to
/// its test model) or of the working directory.
#[test]
fn no_model_without_one_given_or_installed() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open_paths(
        woolly_desktop::AppPaths::under(dir.path()),
        std::sync::Arc::new(woolly_desktop::secrets::MemorySecrets::default()),
    );
    // Run from the repository root, where `models/<test model>` is a relative path that
    // resolves (the working directory is per process: no other test depends on it).
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::env::set_current_dir(&repo).unwrap();
    assert!(std::path::Path::new("models/SmolLM2-135M-Instruct.Q4_1.gguf").is_file());

    assert_eq!(h.invoke("installed_models", json!({})).unwrap(), json!([]));
    let (_, ch) = h.channel();
    let err = h
        .invoke("load_model", json!({ "modelId": null, "onProgress": ch }))
        .unwrap_err();
    assert_eq!(err["code"], "no_model", "{err}");
    let c = h
        .invoke("create_conversation", json!({ "title": null }))
        .unwrap();
    let (_, ch) = h.channel();
    let err = h
        .invoke(
            "send_message",
            json!({ "conversationId": c["id"], "content": "Hello", "onEvent": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "no_model", "{err}");
    assert_eq!(
        h.invoke("system_info", json!({})).unwrap()["modelState"],
        "unloaded"
    );
}
