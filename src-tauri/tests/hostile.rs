//! Hostile input through the real command layer (Tauri's IPC on the mock runtime), as a
//! compromised or buggy WebView could send it: every command with path traversal, absolute
//! paths outside the app's directories, huge strings, control characters, wrong types and
//! bodies that are not JSON. Each call must answer (no panic, no hang) with a value or a
//! typed error, and no file outside the app's directories may be read or written.
#![cfg(unix)]

mod support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::Harness;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use woolly_desktop::commands::COMMAND_NAMES;
use woolly_desktop::AppPaths;

/// Each command's arguments as the UI names them; channels end in `onEvent`/`onProgress`.
fn arguments(cmd: &str) -> &'static [&'static str] {
    match cmd {
        "create_conversation" => &["title"],
        "rename_conversation" => &["conversationId", "title"],
        "update_conversation" => &["conversationId", "systemPrompt", "params", "modelId"],
        "delete_conversation" | "get_messages" | "stop_generation" => &["conversationId"],
        "list_attachments" => &["conversationId"],
        "search_conversations" => &["query"],
        "export_conversation" => &["conversationId", "format"],
        "export_all" => &["format"],
        "send_message" => &[
            "conversationId",
            "content",
            "allowDropOldest",
            "attachmentIds",
            "onEvent",
        ],
        "regenerate" => &["conversationId", "messageId", "allowDropOldest", "onEvent"],
        "switch_branch" => &["conversationId", "messageId", "version"],
        "edit_and_resend" => &[
            "conversationId",
            "messageId",
            "content",
            "allowDropOldest",
            "onEvent",
        ],
        "context_usage" => &["conversationId", "draft", "attachmentIds"],
        "watch_drops" => &["onDrop"],
        "remove_attachment" => &["attachmentId"],
        "save_settings" => &["settings"],
        "load_model" => &["modelId", "onProgress"],
        "open_external" => &["url"],
        "catalog" => &["contextLength"],
        "download_model" => &["source", "onProgress"],
        "pause_download" | "cancel_download" => &["downloadId"],
        "resume_download" => &["downloadId", "onProgress"],
        "import_model" => &["path", "mode"],
        "delete_model" => &["modelId"],
        "set_hf_token" => &["token"],
        "hub_search" => &["query", "sort", "limit"],
        "hub_files" => &["repo"],
        "start_server" => &["port"],
        "set_server_api_key" => &["apiKey"],
        "add_provider" => &["name", "baseUrl", "apiKey"],
        "update_provider" => &["providerId", "name", "baseUrl"],
        "set_provider_key" => &["providerId", "apiKey"],
        "remove_provider" | "provider_models" => &["providerId"],
        "download_update" => &["onProgress"],
        _ => &[],
    }
}

/// Commands that reach outside the test's sandbox when a call is well formed: the Hugging
/// Face token lives in the OS keychain itself (a `null` token would delete the user's), and
/// the file dialogs (a model file, files to attach) are native, the Hub search goes to
/// huggingface.co. They only get arguments that cannot deserialize.
const TYPES_ONLY: &[&str] = &[
    "set_hf_token",
    "has_hf_token",
    "hub_search",
    "hub_files",
    "pick_model_file",
    "attach_files",
    "export_conversation",
    "export_all",
    "import_conversations",
];

fn is_channel(arg: &str) -> bool {
    arg.starts_with("on")
}

/// Strings a hostile page would try: traversal out of the model store, absolute paths
/// outside the app's directories, huge and odd strings. `outside` holds a bait file.
fn hostile_strings(outside: &Path) -> Vec<String> {
    let bait = outside.join("bait.gguf");
    vec![
        String::new(),
        " ".into(),
        "../../../../../../../../etc/passwd".into(),
        "..\\..\\..\\..\\Windows\\win.ini".into(),
        "../../outside/bait.gguf".into(),
        "%2e%2e%2f%2e%2e%2foutside%2fbait.gguf".into(),
        bait.to_string_lossy().into_owned(),
        format!("file://{}", bait.display()),
        outside.to_string_lossy().into_owned(),
        "/etc/passwd".into(),
        "/dev/zero".into(),
        "/proc/self/environ".into(),
        "remote:../../x:../../y".into(),
        "a\0b".into(),
        "\u{202e}fdp.exe\u{0007}\r\n\t".into(),
        "😀".repeat(1 << 14),
        "A".repeat(1 << 20),
    ]
}

/// Values of the wrong type for every argument (numbers out of range for ports, sizes).
fn wrong_types() -> Vec<Value> {
    let mut deep = json!([]);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    vec![
        json!(-1),
        json!(70000),
        json!(1.5),
        json!(1e308),
        json!(u64::MAX),
        json!(true),
        json!([]),
        json!({}),
        json!({ "kind": "url", "url": 1, "sha256": [] }),
        json!({ "__proto__": { "admin": true } }),
        deep,
    ]
}

/// The result of one call, or a description of the failure (panic, hang).
fn call(h: &Harness, cmd: &str, body: InvokeBody) -> Result<Result<Value, Value>, String> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body,
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    let window = h.window.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        let response = get_ipc_response(&window, request)
            .map(|b| b.deserialize::<Value>().unwrap_or(Value::Null));
        let _ = tx.send(response);
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(r) => {
            let _ = worker.join();
            Ok(r)
        }
        Err(RecvTimeoutError::Disconnected) => Err("panicked".into()),
        Err(RecvTimeoutError::Timeout) => Err("no answer in 60 s".into()),
    }
}

const CODES: &[&str] = &[
    "not_found",
    "invalid_argument",
    "busy",
    "no_model",
    "insufficient_memory",
    "model_load_failed",
    "generation_failed",
    "download_failed",
    "hash_mismatch",
    "disk_full",
    "cancelled",
    "io",
    "keychain",
    "server_failed",
    "unreachable",
    "unauthorized",
    "bad_response",
    "context_full",
];

/// A typed rejection: the app's `{code, message}`, or Tauri's own refusal of arguments that
/// do not deserialize (a string naming the command). `internal` is a bug, not an answer.
fn typed(cmd: &str, err: &Value) -> bool {
    match err {
        Value::Object(o) => {
            o.get("message").is_some_and(Value::is_string)
                && o.get("code")
                    .and_then(Value::as_str)
                    .is_some_and(|c| CODES.contains(&c))
        }
        Value::String(s) => s.contains(cmd) || s.contains("invalid args"),
        _ => false,
    }
}

/// A body for a failure message: long strings cut short.
fn describe(v: &Value) -> String {
    fn cut(v: &Value) -> Value {
        match v {
            Value::String(s) if s.len() > 40 => {
                json!(format!(
                    "{}… ({} bytes)",
                    s.chars().take(20).collect::<String>(),
                    s.len()
                ))
            }
            Value::Array(a) => Value::Array(a.iter().take(4).map(cut).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), cut(v))).collect()),
            v => v.clone(),
        }
    }
    cut(v).to_string().chars().take(300).collect()
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, Option<SystemTime>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path.clone());
            }
            out.insert(path, (meta.len(), meta.modified().ok()));
        }
    }
    out
}

/// A named pipe as bait: opening it to read blocks until a writer comes, so a command that
/// opened it would hang, and a writer opening it without blocking finds a reader.
fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

/// Whether something holds the pipe open for reading (a non-blocking open to write fails
/// with ENXIO when no reader is there).
fn fifo_has_reader(path: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    #[cfg(target_os = "linux")]
    const O_NONBLOCK: i32 = 0o4000;
    #[cfg(not(target_os = "linux"))]
    const O_NONBLOCK: i32 = 0x0004; // macOS and the BSDs
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
        .is_ok()
}

/// The app with no launch model (nothing loads by accident) under `root/data`, `root/config`.
fn app(root: &Path) -> Harness {
    Harness::open_paths(
        AppPaths::under(root),
        Arc::new(woolly_desktop::secrets::MemorySecrets::default()),
    )
}

#[test]
fn every_command_survives_hostile_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let outside = root.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "do not touch").unwrap();
    make_fifo(&outside.join("bait.gguf"));
    let h = app(root);
    // Something real to point at: a conversation with a message, and a provider.
    let conversation = h
        .invoke("create_conversation", json!({ "title": "kept" }))
        .unwrap();
    let before_outside = snapshot(&outside);
    let cwd = std::env::current_dir().unwrap();
    let before_cwd: Vec<_> = std::fs::read_dir(&cwd)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();

    let strings = hostile_strings(&outside);
    for s in &strings {
        let lower = s.to_ascii_lowercase();
        assert!(
            !lower.starts_with("https:") && !lower.starts_with("mailto:"),
            "open_external would start a browser for {s:?}"
        );
    }
    let mut failures = Vec::new();
    let mut calls = 0;
    for &cmd in COMMAND_NAMES {
        let args = arguments(cmd);
        let fill = |value: &Value, channels: bool| -> Value {
            let mut o = serde_json::Map::new();
            for &a in args {
                let v = if is_channel(a) && channels {
                    json!(h.channel().1)
                } else {
                    value.clone()
                };
                o.insert(a.to_string(), v);
            }
            Value::Object(o)
        };
        let mut bodies: Vec<Value> = Vec::new();
        if TYPES_ONLY.contains(&cmd) {
            // Only bodies whose every argument has a wrong, non-null type.
            if !args.is_empty() {
                bodies.extend(wrong_types().iter().map(|v| fill(v, false)));
            }
        } else {
            // Missing arguments, and bodies that are not an object.
            bodies.extend([
                json!({ "unexpected": "../../etc/passwd" }),
                json!("../../etc/passwd"),
                json!([1, 2, 3]),
                json!(null),
            ]);
            for v in wrong_types() {
                bodies.push(fill(&v, false)); // channels too
                bodies.push(fill(&v, true));
            }
            for s in &strings {
                bodies.push(fill(&json!(s), true));
                // One argument hostile at a time, the others plausible.
                for &a in args.iter().filter(|a| !is_channel(a)) {
                    let mut body = fill(&json!(s), true);
                    for &other in args.iter().filter(|o| **o != a && !is_channel(o)) {
                        body[other] = match other {
                            "conversationId" => conversation["id"].clone(),
                            "mode" => json!("reference"),
                            "allowDropOldest" => json!(false),
                            "baseUrl" => json!("https://api.example.com/v1"),
                            "name" | "title" => json!("name"),
                            _ => json!(s),
                        };
                    }
                    bodies.push(body);
                }
            }
        }
        if cmd == "download_model" {
            for s in &strings {
                bodies.push(json!({
                    "source": { "kind": "url", "url": format!("https://127.0.0.1:1/{s}"), "sha256": "0".repeat(64), "name": s },
                    "onProgress": h.channel().1,
                }));
                bodies.push(json!({
                    "source": { "kind": "catalog", "catalogId": s },
                    "onProgress": h.channel().1,
                }));
            }
        }
        let mut answers = Vec::new();
        for body in bodies {
            let what = describe(&body);
            answers.push((what, call(&h, cmd, InvokeBody::Json(body))));
        }
        if !TYPES_ONLY.contains(&cmd) {
            // A body that is not JSON at all (invalid UTF-8).
            answers.push((
                "raw invalid UTF-8".into(),
                call(&h, cmd, InvokeBody::Raw(vec![0xff, 0xfe, b'{', 0xc3, 0x28])),
            ));
        }
        for (what, answer) in answers {
            calls += 1;
            match answer {
                Err(why) => failures.push(format!("{cmd} {what}: {why}")),
                Ok(Err(e)) if !typed(cmd, &e) => {
                    failures.push(format!("{cmd} {what}: untyped error {}", describe(&e)))
                }
                Ok(_) => {}
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(calls > 1000, "{calls}");

    // Downloads that started against 127.0.0.1:1 fail on their own; let them settle.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !fifo_has_reader(&outside.join("bait.gguf")),
        "a command opened a file outside the app's directories"
    );
    assert_eq!(
        snapshot(&outside),
        before_outside,
        "files outside were written"
    );
    let top: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for name in &top {
        assert!(
            ["data", "config", "outside"].contains(&name.as_str()),
            "{name} created"
        );
    }
    let after_cwd: Vec<_> = std::fs::read_dir(&cwd)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        after_cwd, before_cwd,
        "files created in the working directory"
    );
    // The app still works.
    let list = h.invoke("list_conversations", json!({})).unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == conversation["id"]));
}

/// Strings the app keeps are bounded: a huge title or key is refused, not stored.
#[test]
fn huge_titles_and_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let h = app(dir.path());
    let huge = "k".repeat(1 << 20);
    let c = h
        .invoke("create_conversation", json!({ "title": "short" }))
        .unwrap();
    for (cmd, args) in [
        ("create_conversation", json!({ "title": huge })),
        (
            "rename_conversation",
            json!({ "conversationId": c["id"], "title": "t".repeat(201) }),
        ),
        ("set_server_api_key", json!({ "apiKey": huge })),
        (
            "add_provider",
            json!({ "name": "p", "baseUrl": "https://api.example.com/v1", "apiKey": "k".repeat(4097) }),
        ),
    ] {
        let err = h.invoke(cmd, args).unwrap_err();
        assert_eq!(err["code"], "invalid_argument", "{cmd}: {err}");
    }
    assert_eq!(
        h.invoke("list_conversations", json!({})).unwrap()[0]["title"],
        "short"
    );
    assert_eq!(h.invoke("list_providers", json!({})).unwrap(), json!([]));
    let p = h
        .invoke(
            "add_provider",
            json!({ "name": "p", "baseUrl": "https://api.example.com/v1", "apiKey": "k".repeat(4096) }),
        )
        .unwrap();
    assert_eq!(p["hasApiKey"], true);
}

#[test]
fn imports_take_only_picked_files() {
    let dir = tempfile::tempdir().unwrap();
    let h = app(dir.path());
    let model = support::test_model().canonicalize().unwrap();
    // The same answer whether the file exists or not: no probing of the disk.
    let mut messages = Vec::new();
    for path in [
        model.to_string_lossy().into_owned(),
        "/etc/passwd".into(),
        "/nonexistent/x.gguf".into(),
        format!(
            "{}/../models/SmolLM2-135M-Instruct.Q4_1.gguf",
            model.parent().unwrap().display()
        ),
    ] {
        for mode in ["copy", "reference"] {
            let err = h
                .invoke("import_model", json!({ "path": path, "mode": mode }))
                .unwrap_err();
            assert_eq!(err["code"], "invalid_argument", "{path}: {err}");
            messages.push(err["message"].clone());
        }
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(h.invoke("installed_models", json!({})).unwrap(), json!([]));

    // Picked (the dialog's path, as the UI hands it back): imported once; the pick is used up.
    h.state().picked.record(&model);
    let m = h
        .invoke(
            "import_model",
            json!({ "path": format!(" {} ", model.display()), "mode": "reference" }),
        )
        .unwrap();
    assert_eq!(m["storage"], "reference");
    h.invoke("delete_model", json!({ "modelId": m["id"] }))
        .unwrap();
    let err = h
        .invoke(
            "import_model",
            json!({ "path": model, "mode": "reference" }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    assert!(
        model.is_file(),
        "deleting a referenced model keeps its file"
    );
}

#[test]
fn open_external_refuses_all_but_https_and_mailto() {
    let dir = tempfile::tempdir().unwrap();
    let h = app(dir.path());
    for url in [
        "http://example.com/",
        "HTTP://127.0.0.1:8080/v1/models",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://example.com/x",
        "smb://host/share",
        "ssh://host",
        "vscode://file/etc/passwd",
        "tauri://localhost/",
        "blob:https://example.com/x",
        "https:",
        "//example.com",
        "example.com",
        "",
        &"https".repeat(1 << 18),
    ] {
        let err = h
            .invoke("open_external", json!({ "url": url }))
            .unwrap_err();
        assert_eq!(err["code"], "invalid_argument", "{url:.80}: {err}");
    }
}

#[test]
fn the_webview_stays_on_the_app() {
    let ok = |u: &str| woolly_desktop::is_app_url(&u.parse().unwrap());
    for url in [
        "tauri://localhost",
        "tauri://localhost/index.html#/settings",
        "http://tauri.localhost/",
        "https://tauri.localhost/assets/x.js",
        "about:blank",
    ] {
        assert!(ok(url), "{url}");
    }
    for url in [
        "https://example.com/",
        "http://127.0.0.1:8080/",
        "http://localhost:1420/",
        "http://localhost/",
        "tauri://evil.example/",
        "http://tauri.localhost.evil.example/",
        "file:///etc/passwd",
        "data:text/html,x",
        "javascript:alert(1)",
        "about:srcdoc",
    ] {
        assert!(!ok(url), "{url}");
    }
}
