//! Drives the app's commands through Tauri's IPC on the mock runtime, with channel
//! messages captured by a channel interceptor.

#![allow(dead_code)]

mod stand_in;
#[allow(unused_imports)]
pub use stand_in::StandIn;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tauri::ipc::{CallbackFn, InvokeBody, InvokeResponseBody};
use tauri::test::{
    get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY,
};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow, WebviewWindowBuilder};
use woolly_desktop::{AppPaths, AppState};

pub fn test_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

#[derive(Default)]
struct Events {
    /// channel id -> (index, message)
    by_channel: Mutex<HashMap<u32, Vec<(usize, Value)>>>,
    arrived: Condvar,
}

pub struct Harness {
    pub app: App<MockRuntime>,
    pub window: WebviewWindow<MockRuntime>,
    events: Arc<Events>,
    next_channel: AtomicU32,
}

impl Harness {
    /// An app whose data and config live under `root`, with secrets in memory (the real
    /// keychain is tested by tests/keyring.rs inside a D-Bus session), launched with the
    /// repository's test model (as `make run` passes it in `WOOLLY_MODEL`).
    pub fn open(root: &Path) -> Self {
        Self::open_with(
            root,
            Arc::new(woolly_desktop::secrets::MemorySecrets::default()),
        )
    }

    /// With a secret store of the test's choosing (e.g. one that always fails).
    pub fn open_with(root: &Path, secrets: Arc<dyn woolly_desktop::secrets::SecretStore>) -> Self {
        let mut paths = AppPaths::under(root);
        paths.launch_model = Some(test_model().canonicalize().expect("the test model"));
        Self::open_paths(paths, secrets)
    }

    /// With paths of the test's choosing (e.g. no launch model).
    pub fn open_paths(
        paths: AppPaths,
        secrets: Arc<dyn woolly_desktop::secrets::SecretStore>,
    ) -> Self {
        Self::open_updater(paths, secrets, unreachable_updater())
    }

    /// With the updater plugin's configuration (`plugins.updater`) of the test's choosing.
    /// Every harness keeps updates and the catalog refresh on loopback: the model catalog
    /// source is a closed port until a test sets its own.
    pub fn open_updater(
        paths: AppPaths,
        secrets: Arc<dyn woolly_desktop::secrets::SecretStore>,
        updater: Value,
    ) -> Self {
        let state = AppState::open_with(paths, secrets).expect("open app state");
        state
            .catalogs
            .set_source(woolly_desktop::catalogs::CatalogSource {
                url: "http://127.0.0.1:1/catalog.json".into(),
                keys: woolly_hub::CatalogKeys::builtin().unwrap(),
            });
        let mut context = mock_context(noop_assets());
        context
            .config_mut()
            .plugins
            .0
            .insert("updater".into(), updater);
        let events = Arc::new(Events::default());
        let sink = events.clone();
        let builder = mock_builder().channel_interceptor(move |_webview, callback, index, body| {
            let value = match body {
                InvokeResponseBody::Json(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                InvokeResponseBody::Raw(b) => json!({ "raw": b.len() }),
            };
            sink.by_channel
                .lock()
                .unwrap()
                .entry(callback.0)
                .or_default()
                .push((index, value));
            sink.arrived.notify_all();
            true
        });
        let app = woolly_desktop::setup(builder, state)
            .build(context)
            .expect("build app");
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("window");
        Self {
            app,
            window,
            events,
            next_channel: AtomicU32::new(1000),
        }
    }

    pub fn state(&self) -> AppState {
        self.app.state::<AppState>().inner().clone()
    }

    /// A fresh channel argument (`"__CHANNEL__:<id>"`) and its id.
    pub fn channel(&self) -> (u32, String) {
        let id = self.next_channel.fetch_add(1, Ordering::Relaxed);
        (id, format!("__CHANNEL__:{id}"))
    }

    pub fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        invoke_on(&self.window, cmd, args)
    }

    /// Messages received on channel `id`, in order.
    pub fn events(&self, id: u32) -> Vec<Value> {
        let mut list = self
            .events
            .by_channel
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .unwrap_or_default();
        list.sort_by_key(|(i, _)| *i);
        list.into_iter().map(|(_, v)| v).collect()
    }

    /// Waits until channel `id` has a message for which `pred` holds.
    pub fn wait_for(&self, id: u32, timeout: Duration, pred: impl Fn(&[Value]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.events.by_channel.lock().unwrap();
        loop {
            let mut list = guard.get(&id).cloned().unwrap_or_default();
            list.sort_by_key(|(i, _)| *i);
            let values: Vec<Value> = list.into_iter().map(|(_, v)| v).collect();
            if pred(&values) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = self.events.arrived.wait_timeout(guard, left).unwrap().0;
        }
    }
}

pub fn invoke_on(
    window: &WebviewWindow<MockRuntime>,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(window, request).map(|b| b.deserialize::<Value>().expect("json response"))
}

pub fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("?").to_string())
        .collect()
}

pub fn token_count(events: &[Value]) -> usize {
    events.iter().filter(|e| e["event"] == "token").count()
}

/// Starts a long reply in `conversation_id` on another thread and returns once 8 tokens
/// have streamed: the channel's id and the thread, whose result is `send_message`'s.
pub fn start_long_turn(
    h: &Harness,
    conversation_id: &str,
) -> (u32, std::thread::JoinHandle<Result<Value, Value>>) {
    let (ch_id, ch) = h.channel();
    let window = h.window.clone();
    let content = "Write a very long story about a dragon who learns to bake bread.";
    let args = json!({ "conversationId": conversation_id, "content": content, "onEvent": ch });
    let turn = std::thread::spawn(move || invoke_on(&window, "send_message", args));
    assert!(
        h.wait_for(ch_id, Duration::from_secs(120), |e| token_count(e) >= 8),
        "tokens never came: {:?}",
        kinds(&h.events(ch_id))
    );
    (ch_id, turn)
}

/// The updater pointed at a closed loopback port (plain http allowed for loopback tests).
pub fn unreachable_updater() -> Value {
    json!({
        "endpoints": ["http://127.0.0.1:1/latest.json"],
        "pubkey": "",
        "dangerousInsecureTransportProtocol": true,
    })
}

/// A loopback port nothing listens on (just released by the OS).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn token_text(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["event"] == "token")
        .map(|e| e["data"]["text"].as_str().unwrap_or(""))
        .collect()
}

/// Deterministic, short replies.
pub fn greedy(h: &Harness, conversation_id: &str, max_tokens: u32) {
    greedy_with(
        h,
        conversation_id,
        max_tokens,
        2048,
        "You are a helpful assistant.",
    );
}

/// [`greedy`] in a context of `context_length` tokens, under `system_prompt`.
pub fn greedy_with(
    h: &Harness,
    conversation_id: &str,
    max_tokens: u32,
    context_length: u32,
    system_prompt: &str,
) {
    let mut params =
        serde_json::to_value(woolly_desktop::types::SamplingParams::default()).unwrap();
    params["temperature"] = json!(0.0);
    params["seed"] = json!(7);
    params["maxTokens"] = json!(max_tokens);
    params["contextLength"] = json!(context_length);
    h.invoke(
        "update_conversation",
        json!({ "conversationId": conversation_id, "systemPrompt": system_prompt, "params": params, "modelId": null }),
    )
    .expect("update_conversation");
}
