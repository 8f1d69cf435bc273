//! Faults through the real server on loopback: a panic inside the engine during a turn (the
//! request fails, the server keeps answering), and a request for more tokens than the
//! context holds (answered as the OpenAI API does: the reply stops at the context with
//! `finish_reason: "length"`, never a crash).

mod common;

use common::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use woolly_core::engine::{Engine, EngineConfig};
use woolly_server::ServerConfig;

const MARKER: &str = "INJECTSERVERPANIC";

fn client() -> reqwest::Client {
    common::install_tls_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn chat(content: &str, max_tokens: u64, stream: bool) -> Value {
    json!({
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_engine_fails_the_request_and_the_server_keeps_working() {
    std::env::set_var("WOOLLY_FAULT_PANIC", MARKER);
    let server = start(shared_engine(), ServerConfig::default()).await;
    let c = client();
    let post = |body: Value| {
        let c = c.clone();
        let url = url(&server, "/v1/chat/completions");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };
    let good = post(chat("Say hi", 6, false)).await;
    assert_eq!(good.status(), 200);
    let good: Value = good.json().await.unwrap();
    for _ in 0..2 {
        let bad = post(chat(&format!("Please {MARKER}"), 6, false)).await;
        assert_eq!(bad.status(), 500);
        let body: Value = bad.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("injected fault"),
            "{body}"
        );
        // Streaming: the stream carries an error and ends; the connection is not dropped.
        let stream = post(chat(&format!("Please {MARKER}"), 6, true)).await;
        let text = stream.text().await.expect("the stream ends cleanly");
        assert!(text.contains("injected fault"), "{text}");
        // The same request as before the panics gets the same greedy answer.
        let again: Value = post(chat("Say hi", 6, false)).await.json().await.unwrap();
        assert_eq!(
            again["choices"][0]["message"]["content"],
            good["choices"][0]["message"]["content"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_tokens_than_the_context_stops_at_the_context_with_length() {
    const CTX: u64 = 96;
    let config = EngineConfig::builder()
        .context_length(CTX as usize)
        .threads(2)
        .build();
    let engine = Arc::new(Engine::load(test_model(), config).unwrap());
    let server = start(engine, ServerConfig::default()).await;
    let c = client();
    for max_tokens in [CTX * 10, i32::MAX as u64] {
        for (path, mut body) in [
            (
                "/v1/chat/completions",
                chat("Count to one thousand.", max_tokens, false),
            ),
            (
                "/v1/completions",
                json!({"prompt": "1, 2, 3,", "max_tokens": max_tokens}),
            ),
        ] {
            body["ignore_eos"] = json!(true);
            let res = c.post(url(&server, path)).json(&body).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path} max_tokens {max_tokens}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
            let (p, n) = (
                v["usage"]["prompt_tokens"].as_u64().unwrap(),
                v["usage"]["completion_tokens"].as_u64().unwrap(),
            );
            // Filled to the context and no further.
            assert!(
                p + n <= CTX && p + n >= CTX - 1,
                "{p} + {n} for a context of {CTX}"
            );
        }
    }
    // A prompt longer than the context: the API's 400 context_length_exceeded.
    let long = "word ".repeat(400);
    let res = c
        .post(url(&server, "/v1/completions"))
        .json(&json!({"prompt": long, "max_tokens": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "context_length_exceeded", "{v}");
}
