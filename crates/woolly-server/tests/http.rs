//! The HTTP API against the real test model on a loopback port.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use woolly_core::engine::{EngineEvent, StopReason};
use woolly_server::ServerConfig;

fn client() -> reqwest::Client {
    common::install_tls_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

/// `GET path`, its response whatever the status.
async fn get(
    c: &reqwest::Client,
    server: &woolly_server::ServerHandle,
    path: &str,
) -> reqwest::Response {
    c.get(url(server, path)).send().await.unwrap()
}

fn assert_error_shape(body: &Value, kind: &str) {
    let error = &body["error"];
    assert!(error.is_object(), "no error object in {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(error["type"], kind, "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_models() {
    let engine = shared_engine();
    let id = engine.info().model_id.clone();
    let server = start(engine, ServerConfig::default()).await;
    let c = client();

    let health: Value = get(&c, &server, "/health").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");

    let models: Value = get(&c, &server, "/v1/models").await.json().await.unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], id.as_str());
    assert_eq!(models["data"][0]["object"], "model");

    let one = get(&c, &server, &format!("/v1/models/{id}")).await;
    assert_eq!(one.status(), 200);
    let missing = get(&c, &server, "/v1/models/gpt-9").await;
    assert_eq!(missing.status(), 404);
    assert_error_shape(&missing.json().await.unwrap(), "not_found_error");

    let unknown = get(&c, &server, "/v1/nothing-here").await;
    assert_eq!(unknown.status(), 404);
    assert_error_shape(&unknown.json().await.unwrap(), "not_found_error");

    let wrong_method = get(&c, &server, "/v1/chat/completions").await;
    assert_eq!(wrong_method.status(), 405);
    assert_error_shape(&wrong_method.json().await.unwrap(), "invalid_request_error");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_errors() {
    let server = start(shared_engine(), ServerConfig::default()).await;
    let c = client();
    let post = |path: &str, body: String| {
        c.post(url(&server, path))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let r = post("/v1/chat/completions", "{\"messages\": [".into())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_error_shape(&body, "invalid_request_error");

    let r = post("/v1/chat/completions", json!({"model": "x"}).to_string())
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "missing messages");

    let r = post(
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": "hi"}], "temperature": 5}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["param"], "temperature");

    let r = post(
        "/v1/chat/completions",
        json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);

    let r = post(
        "/v1/chat/completions",
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");

    let r = post(
        "/v1/completions",
        json!({"prompt": [1, 2, 99999999]}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400, "token id outside the vocabulary");

    // A prompt longer than the context (1024 tokens).
    let long = "hello ".repeat(3000);
    let r = post("/v1/completions", json!({"prompt": long}).to_string())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "context_length_exceeded");

    let huge = json!({"prompt": "a".repeat(2 << 20)}).to_string();
    let r = post("/v1/completions", huge).await.unwrap();
    assert_eq!(r.status(), 413);
    assert_error_shape(&r.json().await.unwrap(), "invalid_request_error");

    // Not JSON: refused (this also keeps browsers' form posts out).
    let r = c
        .post(url(&server, "/v1/completions"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_error_shape(&r.json().await.unwrap(), "invalid_request_error");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_required_when_configured() {
    let config = ServerConfig {
        api_key: Some("sk-test-123".into()),
        ..Default::default()
    };
    let server = start(shared_engine(), config).await;
    let c = client();

    let r = get(&c, &server, "/v1/models").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let body: Value = r.json().await.unwrap();
    assert_error_shape(&body, "authentication_error");
    assert_eq!(body["error"]["code"], "invalid_api_key");

    let r = c
        .get(url(&server, "/v1/models"))
        .bearer_auth("sk-test-124")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(url(&server, "/v1/chat/completions"))
        .bearer_auth("wrong")
        .json(&json!({"messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = c
        .get(url(&server, "/v1/models"))
        .bearer_auth("sk-test-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = get(&c, &server, "/health").await;
    assert_eq!(r.status(), 200, "health needs no key");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_and_closed_cors() {
    let server = start(shared_engine(), ServerConfig::default()).await;
    let addr = server.local_addr();

    // DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends its own Host.
    let answer = raw(
        addr,
        "GET /v1/models HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 403, "{answer}");
    let answer = raw(
        addr,
        "GET /v1/models HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    // No Host at all (HTTP/1.0, or a hand-made HTTP/1.1 request) is refused too, on every
    // route; so is an absolute-form target naming a foreign host.
    for request in [
        "GET /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET /v1/models HTTP/1.0\r\n\r\n",
        "GET /health HTTP/1.0\r\n\r\n",
        "GET http://evil.example/v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ] {
        let answer = raw(addr, request).await;
        assert_eq!(status_of(&answer), 403, "{request:?}: {answer}");
    }
    let answer = raw(addr, "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await;
    assert_eq!(status_of(&answer), 200, "{answer}");

    // CORS closed: a preflight gets no Access-Control-Allow-Origin.
    let preflight = "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\
        Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n";
    let answer = raw(addr, preflight).await;
    assert!(
        !answer
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{answer}"
    );
    server.shutdown().await.unwrap();

    let config = ServerConfig {
        cors_origins: vec!["http://localhost:5173".into()],
        ..Default::default()
    };
    let server = start(shared_engine(), config).await;
    let preflight = preflight.replace("http://evil.example", "http://localhost:5173");
    let answer = raw(server.local_addr(), &preflight)
        .await
        .to_ascii_lowercase();
    assert!(
        answer.contains("access-control-allow-origin: http://localhost:5173"),
        "{answer}"
    );
    server.shutdown().await.unwrap();
}

fn chat_body(content: &str, max_tokens: usize, stream: bool) -> Value {
    json!({
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": stream,
        "stream_options": {"include_usage": true},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_completion_and_its_stream_agree() {
    let server = start(shared_engine(), ServerConfig::default()).await;
    let c = client();

    let r = c
        .post(url(&server, "/v1/chat/completions"))
        .json(&chat_body("What is 2+2?", 12, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let full: Value = r.json().await.unwrap();
    assert_eq!(full["object"], "chat.completion");
    let text = full["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!text.is_empty());
    assert_eq!(full["choices"][0]["message"]["role"], "assistant");
    let finish = full["choices"][0]["finish_reason"].as_str().unwrap();
    assert!(finish == "stop" || finish == "length", "{finish}");
    let usage = &full["usage"];
    let (p, g, t) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
        usage["total_tokens"].as_u64().unwrap(),
    );
    assert!(p > 5 && (1..=12).contains(&g) && t == p + g, "{usage}");

    let r = c
        .post(url(&server, "/v1/chat/completions"))
        .json(&chat_body("What is 2+2?", 12, true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let body = r.text().await.unwrap();
    assert!(
        body.ends_with("data: [DONE]\n\n"),
        "SSE must end with [DONE]: {body:?}"
    );
    let events = sse_data(&body);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        streamed, text,
        "streaming and non-streaming differ at temperature 0"
    );
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"].as_array().unwrap().len(), 0);
    for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        assert_eq!(usage_chunk["usage"][key], full["usage"][key], "{key}");
    }
    let finish_chunk = &chunks[chunks.len() - 2];
    assert_eq!(finish_chunk["choices"][0]["finish_reason"], finish);
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], chunks[0]["id"]);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_with_stop_and_echo() {
    let server = start(shared_engine(), ServerConfig::default()).await;
    let c = client();
    let body = json!({"prompt": "1, 2, 3, 4, 5,", "max_tokens": 20, "temperature": 0});
    let r: Value = c
        .post(url(&server, "/v1/completions"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["object"], "text_completion");
    let text = r["choices"][0]["text"].as_str().unwrap().to_owned();
    assert!(text.contains('6'), "{text:?}");

    // Stop at the first " 7": the text ends before it.
    let body = json!({"prompt": "1, 2, 3, 4, 5,", "max_tokens": 20, "temperature": 0, "stop": [" 7", "zzz"], "echo": true});
    let r: Value = c
        .post(url(&server, "/v1/completions"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stopped = r["choices"][0]["text"].as_str().unwrap();
    assert!(stopped.starts_with("1, 2, 3, 4, 5,"), "echo: {stopped:?}");
    assert!(!stopped.contains(" 7"), "{stopped:?}");
    if text.contains(" 7") {
        assert_eq!(r["choices"][0]["finish_reason"], "stop");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_streams_do_not_mix() {
    let server = start(shared_engine(), ServerConfig::default()).await;
    let c = client();
    let prompts = ["Name a color.", "Name a fruit.", "Name an animal."];
    let mut sequential = Vec::new();
    for p in prompts {
        let r: Value = c
            .post(url(&server, "/v1/chat/completions"))
            .json(&chat_body(p, 10, false))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sequential.push(
            r["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let tasks: Vec<_> = prompts
        .iter()
        .map(|p| {
            let (c, u, body) = (
                c.clone(),
                url(&server, "/v1/chat/completions"),
                chat_body(p, 10, true),
            );
            tokio::spawn(async move {
                let body = c
                    .post(u)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                let events = sse_data(&body);
                assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
                events[..events.len() - 1]
                    .iter()
                    .map(|e| serde_json::from_str::<Value>(e).unwrap())
                    .filter_map(|c| {
                        c["choices"][0]["delta"]["content"]
                            .as_str()
                            .map(str::to_owned)
                    })
                    .collect::<String>()
            })
        })
        .collect();
    for (task, expected) in tasks.into_iter().zip(&sequential) {
        assert_eq!(&task.await.unwrap(), expected);
    }
    server.shutdown().await.unwrap();
}

/// A client that drops its stream mid-generation frees the engine: the generation is
/// cancelled within a few tokens and the next request runs at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_cancels_the_generation() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let engine = fresh_engine();
    let events = engine.subscribe();
    let server = start(engine, ServerConfig::default()).await;
    let body = json!({"prompt": "Once upon a time", "max_tokens": 900, "ignore_eos": true, "stream": true}).to_string();
    let request = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen.windows(5).filter(|w| w == b"data:").count() < 3 {
        let n = tokio::time::timeout(Duration::from_secs(60), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    drop(stream);

    let stats = tokio::task::spawn_blocking(move || loop {
        match events
            .recv_timeout(Duration::from_secs(60))
            .expect("the generation should end")
        {
            EngineEvent::GenerationComplete { stats, .. } => return stats,
            _ => continue,
        }
    })
    .await
    .unwrap();
    assert_eq!(stats.stop_reason, StopReason::Cancelled);
    assert!(stats.generated_tokens < 900, "{stats:?}");

    let started = std::time::Instant::now();
    let r: Value = client()
        .post(url(&server, "/v1/completions"))
        .json(&json!({"prompt": "Hello", "max_tokens": 3, "temperature": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r["usage"]["completion_tokens"].as_u64().unwrap() <= 3);
    assert!(started.elapsed() < Duration::from_secs(30));
    server.shutdown().await.unwrap();
}

/// Same for a non-streaming request whose client gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_request_is_cancelled() {
    let engine = fresh_engine();
    let events = engine.subscribe();
    let server = start(engine, ServerConfig::default()).await;
    common::install_tls_provider();
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let r = quick
        .post(url(&server, "/v1/completions"))
        .json(&json!({"prompt": "Once upon a time", "max_tokens": 900, "ignore_eos": true}))
        .send()
        .await;
    assert!(r.is_err(), "expected the client to time out");
    let stats = tokio::task::spawn_blocking(move || loop {
        match events
            .recv_timeout(Duration::from_secs(60))
            .expect("the generation should end")
        {
            EngineEvent::GenerationComplete { stats, .. } => return stats,
            _ => continue,
        }
    })
    .await
    .unwrap();
    assert_eq!(stats.stop_reason, StopReason::Cancelled, "{stats:?}");
    server.shutdown().await.unwrap();
}
