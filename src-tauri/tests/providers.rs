//! Remote providers through the app's commands (mock runtime): a second, real Woolly server
//! on loopback (woolly-server over the test model, with an API key) added as a provider;
//! its models listed; a conversation chatting through it with the usual streaming events;
//! stop; and clear errors for a wrong key, an unreachable port, a malformed answer and a
//! removed provider.

mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{free_port, kinds, start_long_turn, test_model, token_text, Harness};
use woolly_core::engine::{Engine, EngineConfig};

const KEY: &str = "remote-secret-123";
const REMOTE_MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

/// A real OpenAI-compatible server on 127.0.0.1 (woolly-server in this process).
struct Remote {
    rt: tokio::runtime::Runtime,
    _handle: woolly_server::ServerHandle,
    port: u16,
}

impl Remote {
    fn start(api_key: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = EngineConfig::builder().context_length(2048).build();
        let engine = Arc::new(Engine::load(test_model(), config).expect("load the test model"));
        let server_config = woolly_server::ServerConfig {
            api_key: Some(api_key.into()),
            ..Default::default()
        };
        let handle = rt
            .block_on(woolly_server::spawn(engine, server_config, "127.0.0.1:0"))
            .expect("start the remote server");
        let port = handle.local_addr().port();
        Self {
            rt,
            _handle: handle,
            port,
        }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The same greedy question asked directly (not streamed): what the app must show.
    fn direct_reply(&self, question: &str, max_tokens: u32) -> String {
        let body = json!({
            "model": REMOTE_MODEL,
            "messages": [
                { "role": "system", "content": "You are a helpful assistant." },
                { "role": "user", "content": question },
            ],
            "temperature": 0.0, "top_p": 0.9, "seed": 7, "max_tokens": max_tokens,
        });
        let url = format!("{}/chat/completions", self.base_url());
        let text = self.rt.block_on(async {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            resp.text().await.unwrap()
        });
        let v: Value = serde_json::from_str(&text).unwrap();
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string()
    }

    /// Requests queued or running on the remote server.
    fn pending(&self) -> u64 {
        let url = format!("http://127.0.0.1:{}/health", self.port);
        let text = self.rt.block_on(async {
            let resp = reqwest::get(url).await.unwrap();
            resp.text().await.unwrap()
        });
        let body: Value = serde_json::from_str(&text).unwrap();
        body["pending"].as_u64().unwrap()
    }
}

/// A server that answers 200 with what is not the OpenAI API: HTML for the model list, a
/// broken event for a chat.
fn malformed_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let (kind, payload) = if request_line.contains("/models") {
                ("text/html", "<html><body>Welcome to nginx!</body></html>")
            } else {
                ("text/event-stream", "data: {\"choices\": [oops\n\n")
            };
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
                payload.len()
            );
        }
    });
    port
}

fn add_provider(h: &Harness, name: &str, base_url: &str, key: Option<&str>) -> Value {
    h.invoke(
        "add_provider",
        json!({ "name": name, "baseUrl": base_url, "apiKey": key }),
    )
    .expect("add_provider")
}

/// A conversation on a remote model with deterministic, short replies.
fn remote_chat(h: &Harness, provider_id: &str, max_tokens: u32) -> String {
    let c = h
        .invoke("create_conversation", json!({ "title": null }))
        .unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    let mut params = c["params"].clone();
    params["temperature"] = json!(0.0);
    params["seed"] = json!(7);
    params["maxTokens"] = json!(max_tokens);
    let model_id = format!("remote:{provider_id}:{REMOTE_MODEL}");
    let updated = h
        .invoke(
            "update_conversation",
            json!({ "conversationId": id, "systemPrompt": "You are a helpful assistant.", "params": params, "modelId": model_id }),
        )
        .unwrap();
    assert_eq!(updated["modelId"], model_id.as_str());
    id
}

fn send(h: &Harness, conversation_id: &str, content: &str) -> (Result<Value, Value>, Vec<Value>) {
    let (ch_id, ch) = h.channel();
    let result = h.invoke(
        "send_message",
        json!({ "conversationId": conversation_id, "content": content, "onEvent": ch }),
    );
    (result, h.events(ch_id))
}

#[test]
fn chat_streams_through_a_remote_openai_compatible_server() {
    let remote = Remote::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());

    // Added with a trailing slash and a padded key: both normalized; the key is in the
    // secret store only.
    let p = add_provider(
        &h,
        "  Loopback   Woolly ",
        &format!("{}/", remote.base_url()),
        Some(&format!(" {KEY} ")),
    );
    let pid = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["name"], "Loopback Woolly");
    assert_eq!(p["baseUrl"], remote.base_url());
    assert_eq!(p["hasApiKey"], true);
    assert_eq!(
        h.state()
            .secrets
            .get(&format!("provider:{pid}"))
            .unwrap()
            .as_deref(),
        Some(KEY)
    );
    assert_eq!(h.invoke("list_providers", json!({})).unwrap(), json!([p]));

    let models = h
        .invoke("provider_models", json!({ "providerId": pid }))
        .unwrap();
    assert_eq!(models[0]["id"], REMOTE_MODEL, "{models}");
    assert_eq!(models[0]["ownedBy"], "woolly");

    // A turn: the same events as a local one (no model loading), the real model's answer.
    let id = remote_chat(&h, &pid, 24);
    let (result, events) = send(&h, &id, "What is the capital of France?");
    let result = result.expect("send_message");
    let k = kinds(&events);
    assert_eq!(k[0], "started", "{k:?}");
    assert_eq!(k.last().unwrap(), "finished", "{k:?}");
    assert!(k[1..k.len() - 1].iter().all(|e| e == "token"), "{k:?}");
    assert!(k.len() >= 4, "several tokens streamed: {k:?}");
    let streamed = token_text(&events);
    assert!(!streamed.trim().is_empty());
    // Token for token what the server answers to the same greedy request. (Top-k, min-p
    // and the repeat penalty are not OpenAI parameters, so remote turns do not send them.)
    assert_eq!(
        streamed,
        remote.direct_reply("What is the capital of France?", 24)
    );
    let reply = &result["assistantMessage"];
    assert_eq!(reply["content"], streamed.as_str());
    assert_eq!(events[0]["data"]["messageId"], reply["id"]);
    assert_eq!(
        events[0]["data"]["userMessageId"],
        result["userMessage"]["id"]
    );
    let stats = &events.last().unwrap()["data"]["stats"];
    assert_eq!(reply["stats"], *stats);
    assert!(
        ["eos", "max_tokens"].contains(&stats["stopReason"].as_str().unwrap()),
        "{stats}"
    );
    let generated = stats["generatedTokens"].as_u64().unwrap();
    assert!((2..=24).contains(&generated), "{stats}");
    let prompt_tokens = stats["promptTokens"].as_u64().unwrap();
    assert!(prompt_tokens > 10, "usage from the server: {stats}");
    assert!(stats["tokensPerSecond"].as_f64().unwrap() > 0.0, "{stats}");
    assert_eq!(reply["modelId"], format!("remote:{pid}:{REMOTE_MODEL}"));
    // The local engine was never loaded.
    assert_eq!(
        h.invoke("system_info", json!({})).unwrap()["modelState"],
        "unloaded"
    );

    // The next turn sends the history.
    let (result, events) = send(&h, &id, "And of Germany?");
    result.expect("second turn");
    let p2 = events.last().unwrap()["data"]["stats"]["promptTokens"]
        .as_u64()
        .unwrap();
    assert!(
        p2 > prompt_tokens + 10,
        "history in the prompt: {p2} vs {prompt_tokens}"
    );
    let messages = h
        .invoke("get_messages", json!({ "conversationId": id }))
        .unwrap();
    assert_eq!(messages.as_array().unwrap().len(), 4);

    // Stop cancels the HTTP stream: the partial reply is saved and the remote server is
    // free again (it saw the client go away).
    let long = remote_chat(&h, &pid, 600);
    let (ch_id, turn) = start_long_turn(&h, &long);
    assert_eq!(remote.pending(), 1);
    assert_eq!(
        h.invoke("stop_generation", json!({ "conversationId": long }))
            .unwrap(),
        json!(true)
    );
    let stopped_at = Instant::now();
    let result = turn.join().unwrap().expect("a stopped turn resolves");
    assert!(stopped_at.elapsed() < Duration::from_secs(2));
    let events = h.events(ch_id);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["data"]["stats"]["stopReason"], "cancelled");
    let partial = token_text(&events);
    assert!(!partial.is_empty());
    assert_eq!(result["assistantMessage"]["content"], partial.as_str());
    let deadline = Instant::now() + Duration::from_secs(10);
    while remote.pending() != 0 {
        assert!(
            Instant::now() < deadline,
            "the remote server kept generating"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The key is in neither the config files nor the database.
    for path in [
        h.state().paths.providers_file(),
        h.state().paths.settings_file(),
        h.state().paths.database(),
    ] {
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "{} holds the key",
            path.display()
        );
    }
    assert!(std::fs::read_to_string(h.state().paths.providers_file())
        .unwrap()
        .contains(&remote.base_url()));
}

#[test]
fn provider_errors_are_clear_values() {
    let remote = Remote::start(KEY);
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());

    // Input checks.
    let err = h
        .invoke(
            "add_provider",
            json!({ "name": "x", "baseUrl": "localhost:8080", "apiKey": null }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    let err = h
        .invoke(
            "add_provider",
            json!({ "name": "x", "baseUrl": remote.base_url(), "apiKey": "two words" }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    assert_eq!(h.invoke("list_providers", json!({})).unwrap(), json!([]));

    // A wrong key, then none: 401 from the server becomes `unauthorized`.
    let p = add_provider(&h, "Wrong key", &remote.base_url(), Some("not-the-key"));
    let pid = p["id"].as_str().unwrap().to_string();
    let err = h
        .invoke("provider_models", json!({ "providerId": pid }))
        .unwrap_err();
    assert_eq!(err["code"], "unauthorized", "{err}");
    assert!(err["message"].as_str().unwrap().contains("401"), "{err}");
    let id = remote_chat(&h, &pid, 8);
    let (result, events) = send(&h, &id, "Hello?");
    assert_eq!(result.unwrap_err()["code"], "unauthorized");
    assert_eq!(kinds(&events).last().unwrap(), "error", "{events:?}");
    assert_eq!(events.last().unwrap()["data"]["code"], "unauthorized");
    let messages = h
        .invoke("get_messages", json!({ "conversationId": id }))
        .unwrap();
    assert_eq!(
        messages.as_array().unwrap().len(),
        1,
        "no empty reply is kept: {messages}"
    );
    let p = h
        .invoke(
            "set_provider_key",
            json!({ "providerId": pid, "apiKey": null }),
        )
        .unwrap();
    assert_eq!(p["hasApiKey"], false);
    assert_eq!(
        h.invoke("provider_models", json!({ "providerId": pid }))
            .unwrap_err()["code"],
        "unauthorized"
    );
    // The right key fixes it.
    let p = h
        .invoke(
            "set_provider_key",
            json!({ "providerId": pid, "apiKey": KEY }),
        )
        .unwrap();
    assert_eq!(p["hasApiKey"], true);
    assert!(h
        .invoke("provider_models", json!({ "providerId": pid }))
        .is_ok());

    // Nothing listens: `unreachable`.
    let closed = add_provider(
        &h,
        "Closed",
        &format!("http://127.0.0.1:{}/v1", free_port()),
        None,
    );
    let closed_id = closed["id"].as_str().unwrap();
    let err = h
        .invoke("provider_models", json!({ "providerId": closed_id }))
        .unwrap_err();
    assert_eq!(err["code"], "unreachable", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{err}"
    );
    let id = remote_chat(&h, closed_id, 8);
    assert_eq!(
        send(&h, &id, "Hello?").0.unwrap_err()["code"],
        "unreachable"
    );

    // Something that is not the OpenAI API: `bad_response`.
    let port = malformed_server();
    let odd = add_provider(&h, "Odd", &format!("http://127.0.0.1:{port}/v1"), Some("k"));
    let odd_id = odd["id"].as_str().unwrap();
    let err = h
        .invoke("provider_models", json!({ "providerId": odd_id }))
        .unwrap_err();
    assert_eq!(err["code"], "bad_response", "{err}");
    let id = remote_chat(&h, odd_id, 8);
    let (result, _) = send(&h, &id, "Hello?");
    let err = result.unwrap_err();
    assert_eq!(err["code"], "bad_response", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("not JSON"),
        "{err}"
    );

    // Editing keeps the id (conversations still point at it); removing forgets the key.
    let edited = h
        .invoke(
            "update_provider",
            json!({ "providerId": pid, "name": "Right key", "baseUrl": remote.base_url() }),
        )
        .unwrap();
    assert_eq!(
        (edited["id"].as_str(), edited["name"].as_str()),
        (Some(pid.as_str()), Some("Right key"))
    );
    let kept = remote_chat(&h, &pid, 4);
    h.invoke("remove_provider", json!({ "providerId": pid }))
        .unwrap();
    assert_eq!(
        h.state().secrets.get(&format!("provider:{pid}")).unwrap(),
        None
    );
    assert_eq!(
        h.invoke("provider_models", json!({ "providerId": pid }))
            .unwrap_err()["code"],
        "not_found"
    );
    assert_eq!(
        send(&h, &kept, "Hello?").0.unwrap_err()["code"],
        "not_found"
    );
    assert_eq!(
        h.invoke("remove_provider", json!({ "providerId": pid }))
            .unwrap_err()["code"],
        "not_found"
    );
    let left = h.invoke("list_providers", json!({})).unwrap();
    assert_eq!(left.as_array().unwrap().len(), 2, "{left}");
}

/// A loopback server that answers every request with an empty model list and reports each
/// request's `Authorization` header (None when absent).
fn recording_server() -> (u16, std::sync::mpsc::Receiver<Option<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut auth = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") {
                        auth = Some(value.trim().to_string());
                    }
                }
            }
            let body = r#"{"object":"list","data":[]}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tx.send(auth);
        }
    });
    (port, rx)
}

#[test]
fn a_key_stays_with_its_host_and_travels_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let secret = |pid: &str| h.state().secrets.get(&format!("provider:{pid}")).unwrap();

    // Plain http:// is for this machine only.
    for url in [
        "http://api.example.com/v1",
        "http://10.0.0.5:8000/v1",
        "http://localhost.example.com/v1",
    ] {
        let err = h
            .invoke(
                "add_provider",
                json!({ "name": "x", "baseUrl": url, "apiKey": "k" }),
            )
            .unwrap_err();
        assert_eq!(err["code"], "invalid_argument", "{url}: {err}");
        assert!(
            err["message"].as_str().unwrap().contains("https://"),
            "{err}"
        );
    }
    assert_eq!(h.invoke("list_providers", json!({})).unwrap(), json!([]));

    // A new path on the same origin keeps the key.
    let p = add_provider(&h, "Cloud", "https://api.example.com/v1", Some("cloud-key"));
    let pid = p["id"].as_str().unwrap().to_string();
    let same = h
        .invoke(
            "update_provider",
            json!({ "providerId": pid, "name": "Cloud", "baseUrl": "https://API.example.com/v2/" }),
        )
        .unwrap();
    assert_eq!(same["hasApiKey"], true);
    assert_eq!(secret(&pid).as_deref(), Some("cloud-key"));
    // A refused edit changes nothing.
    let err = h
        .invoke(
            "update_provider",
            json!({ "providerId": pid, "name": "Cloud", "baseUrl": "http://api.example.com/v2" }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    assert_eq!(secret(&pid).as_deref(), Some("cloud-key"));
    // Another host, or another port of the same host: the key is deleted.
    for (url, key) in [
        ("https://elsewhere.example/v1", "cloud-key"),
        ("https://elsewhere.example:8443/v1", "second-key"),
    ] {
        if key == "second-key" {
            h.invoke(
                "set_provider_key",
                json!({ "providerId": pid, "apiKey": key }),
            )
            .unwrap();
        }
        let moved = h
            .invoke(
                "update_provider",
                json!({ "providerId": pid, "name": "Cloud", "baseUrl": url }),
            )
            .unwrap();
        assert_eq!(moved["hasApiKey"], false, "{url}");
        assert_eq!(secret(&pid), None, "{url}");
    }

    // End to end on loopback: a key given for one port is never sent to another.
    let (port, requests) = recording_server();
    let p = add_provider(
        &h,
        "Local",
        &format!("http://127.0.0.1:{port}/v1"),
        Some("local-key"),
    );
    let local = p["id"].as_str().unwrap().to_string();
    h.invoke("provider_models", json!({ "providerId": local }))
        .unwrap();
    let seen = requests.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen.as_deref(), Some("Bearer local-key"));
    let (other, requests) = recording_server();
    let moved = h
        .invoke(
            "update_provider",
            json!({ "providerId": local, "name": "Local", "baseUrl": format!("http://localhost:{other}/v1") }),
        )
        .unwrap();
    assert_eq!(moved["hasApiKey"], false);
    h.invoke("provider_models", json!({ "providerId": local }))
        .unwrap();
    let seen = requests.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen, None, "the old host's key went to the new one");

    // A provider saved by an older version with plain http:// to another machine is refused
    // before anything is sent (192.0.2.1 is TEST-NET: a connection attempt would time out).
    let file = h.state().paths.providers_file();
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    saved["data"][0]["baseUrl"] = json!("http://192.0.2.1/v1");
    saved["data"][0]["hasApiKey"] = json!(true);
    std::fs::write(&file, saved.to_string()).unwrap();
    h.state()
        .secrets
        .set(&format!("provider:{pid}"), "cloud-key")
        .unwrap();
    let started = Instant::now();
    let err = h
        .invoke("provider_models", json!({ "providerId": pid }))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it tried to connect"
    );
    let id = remote_chat(&h, &pid, 4);
    assert_eq!(
        send(&h, &id, "Hello?").0.unwrap_err()["code"],
        "invalid_argument"
    );
}
