//! The local OpenAI-compatible server started from the app's commands (mock runtime, real
//! test model): it shares the app's engine, requires the keychain's API key, follows a key
//! change at once, reports a port in use, and frees its port when stopped.

mod support;

use serde_json::{json, Value};
use std::sync::Arc;
use support::{free_port, Harness};
use woolly_desktop::secrets::{SecretError, SecretStore};
use woolly_desktop::server_host::API_KEY_SECRET;

const MODEL_ID: &str = "SmolLM2-135M-Instruct.Q4_1";

struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Self {
        // The workspace builds reqwest with `rustls-no-provider`; pick ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            // No pooled connections: a restarted server closes the old ones.
            client: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        }
    }

    /// GET `http://127.0.0.1:<port><path>`, with a bearer key when given: status and JSON.
    fn get(&self, port: u16, path: &str, key: Option<&str>) -> (u16, Value) {
        self.rt.block_on(async {
            let mut req = self.client.get(format!("http://127.0.0.1:{port}{path}"));
            if let Some(key) = key {
                req = req.bearer_auth(key);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            (status, serde_json::from_str(&body).unwrap_or(Value::Null))
        })
    }
}

fn port_closed(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
fn server_starts_on_the_apps_engine_with_a_key_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let http = Http::new();

    let s = h.invoke("server_status", json!({})).unwrap();
    assert_eq!(s["running"], false, "{s}");
    assert_eq!(s["port"], 8080);
    assert_eq!(s["hasApiKey"], false);
    assert_eq!(s["address"], Value::Null);

    // The key goes to the secret store, trimmed; one with spaces is refused.
    let err = h
        .invoke("set_server_api_key", json!({ "apiKey": "has space" }))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    let s = h
        .invoke(
            "set_server_api_key",
            json!({ "apiKey": "  wk-first-123\n" }),
        )
        .unwrap();
    assert_eq!(s["hasApiKey"], true);
    assert_eq!(s["running"], false);
    assert_eq!(
        h.state().secrets.get(API_KEY_SECRET).unwrap().as_deref(),
        Some("wk-first-123")
    );
    assert!(!std::fs::read_to_string(h.state().paths.server_file())
        .unwrap_or_default()
        .contains("wk-first"));

    let port = free_port();
    let s = h.invoke("start_server", json!({ "port": port })).unwrap();
    assert_eq!(s["running"], true, "{s}");
    assert_eq!(s["address"], format!("127.0.0.1:{port}"));
    assert_eq!(s["baseUrl"], format!("http://127.0.0.1:{port}/v1"));
    assert_eq!(s["modelId"], MODEL_ID);
    assert_eq!(s["error"], Value::Null);
    // Starting the server loaded the default model into the app: one engine, shared.
    let info = h.invoke("system_info", json!({})).unwrap();
    assert_eq!(info["modelState"], "loaded");
    assert_eq!(info["model"]["id"], "SmolLM2-135M-Instruct.Q4_1.gguf");

    let (status, health) = http.get(port, "/health", None);
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("ok")),
        "{health}"
    );
    assert_eq!(health["model"], MODEL_ID);
    let (status, models) = http.get(port, "/v1/models", Some("wk-first-123"));
    assert_eq!(status, 200, "{models}");
    assert_eq!(models["data"][0]["id"], MODEL_ID);
    let (status, err) = http.get(port, "/v1/models", None);
    assert_eq!(status, 401, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{err}"
    );
    assert_eq!(http.get(port, "/v1/models", Some("wk-first-12")).0, 401);

    // A new key applies at once, on the same port.
    let s = h
        .invoke("set_server_api_key", json!({ "apiKey": "wk-second-456" }))
        .unwrap();
    assert_eq!(s["address"], format!("127.0.0.1:{port}"), "{s}");
    assert_eq!(http.get(port, "/v1/models", Some("wk-first-123")).0, 401);
    assert_eq!(http.get(port, "/v1/models", Some("wk-second-456")).0, 200);

    // Moving to a port another program holds fails clearly; the running server stays up.
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = blocker.local_addr().unwrap().port();
    let err = h
        .invoke("start_server", json!({ "port": busy }))
        .unwrap_err();
    assert_eq!(err["code"], "server_failed", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains(&busy.to_string()),
        "{err}"
    );
    let s = h.invoke("server_status", json!({})).unwrap();
    assert_eq!(s["address"], format!("127.0.0.1:{port}"), "{s}");
    assert!(s["error"].as_str().unwrap().contains("in use"), "{s}");
    assert_eq!(http.get(port, "/v1/models", Some("wk-second-456")).0, 200);
    assert_eq!(
        h.invoke("start_server", json!({ "port": 0 })).unwrap_err()["code"],
        "invalid_argument"
    );

    // Stop: the port is closed, the port stays remembered.
    let s = h.invoke("stop_server", json!({})).unwrap();
    assert_eq!(s["running"], false, "{s}");
    assert_eq!(s["address"], Value::Null);
    assert_eq!(s["port"], port);
    assert_eq!(s["error"], Value::Null);
    assert!(port_closed(port), "port {port} still accepts connections");

    // Unloading the model stops a running server (it would keep the model in memory).
    let port2 = free_port();
    h.invoke("start_server", json!({ "port": port2 })).unwrap();
    assert_eq!(http.get(port2, "/health", None).0, 200);
    h.invoke("unload_model", json!({})).unwrap();
    let s = h.invoke("server_status", json!({})).unwrap();
    assert_eq!(s["running"], false, "{s}");
    assert!(s["error"].as_str().unwrap().contains("unloaded"), "{s}");
    assert!(port_closed(port2));
    drop(h);

    // The port is remembered across restarts of the app; the key is not in any file.
    let h = Harness::open(dir.path());
    let s = h.invoke("server_status", json!({})).unwrap();
    assert_eq!(
        (s["running"].clone(), s["port"].clone()),
        (json!(false), json!(port2))
    );
    for entry in std::fs::read_dir(dir.path().join("config")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains("wk-second"), "{text}");
    }
}

/// A desktop without a usable keychain (no Secret Service running).
struct NoKeychain;

impl SecretStore for NoKeychain {
    fn get(&self, _: &str) -> Result<Option<String>, SecretError> {
        Err(SecretError::Keychain(
            "no Secret Service on this desktop".into(),
        ))
    }
    fn set(&self, _: &str, _: &str) -> Result<(), SecretError> {
        Err(SecretError::Keychain(
            "no Secret Service on this desktop".into(),
        ))
    }
    fn delete(&self, _: &str) -> Result<(), SecretError> {
        Err(SecretError::Keychain(
            "no Secret Service on this desktop".into(),
        ))
    }
}

#[test]
fn without_a_keychain_keys_fail_clearly_and_keyless_use_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open_with(dir.path(), Arc::new(NoKeychain));
    let http = Http::new();

    let err = h
        .invoke("set_server_api_key", json!({ "apiKey": "wk-key" }))
        .unwrap_err();
    assert_eq!(err["code"], "keychain", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("keychain"),
        "{err}"
    );
    assert_eq!(
        h.invoke("server_status", json!({})).unwrap()["hasApiKey"],
        false
    );
    // No key was ever set, so the keychain is not needed to start.
    let port = free_port();
    let s = h.invoke("start_server", json!({ "port": port })).unwrap();
    assert_eq!(s["running"], true, "{s}");
    assert_eq!(http.get(port, "/v1/models", None).0, 200);
    h.invoke("stop_server", json!({})).unwrap();
    assert!(port_closed(port));

    // Providers: one without a key is fine; one whose key cannot be stored is not added.
    let p = h
        .invoke(
            "add_provider",
            json!({ "name": "Open", "baseUrl": "http://127.0.0.1:9/v1", "apiKey": null }),
        )
        .unwrap();
    assert_eq!(p["hasApiKey"], false);
    let err = h
        .invoke(
            "add_provider",
            json!({ "name": "Keyed", "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "sk-1" }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "keychain", "{err}");
    let list = h.invoke("list_providers", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // Listing its models does not touch the keychain: the error is about the endpoint.
    let err = h
        .invoke("provider_models", json!({ "providerId": p["id"] }))
        .unwrap_err();
    assert_eq!(err["code"], "unreachable", "{err}");
}
