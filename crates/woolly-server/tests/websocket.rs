//! The WebSocket endpoint against the real test model.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use woolly_server::ServerConfig;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &woolly_server::ServerHandle, query: &str) -> Socket {
    let url = format!("ws://{}/v1/ws{query}", server.local_addr());
    tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connect")
        .0
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(60), socket.next())
            .await
            .expect("a message within 60 s")
            .expect("socket open")
            .expect("a frame");
        if let Message::Text(t) = message {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

async fn send(socket: &mut Socket, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// Reads until `done` (or an error), returning the streamed text and the last message.
async fn until_done(socket: &mut Socket) -> (String, Value) {
    let mut text = String::new();
    loop {
        let m = next_json(socket).await;
        match m["type"].as_str().unwrap() {
            "start" => {}
            "token" => text.push_str(m["text"].as_str().unwrap()),
            _ => return (text, m),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_tokens_then_done() {
    let server = start(shared_engine(), ServerConfig::default()).await;
    let mut socket = connect(&server, "").await;
    send(&mut socket, json!({"type": "chat", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8, "temperature": 0})).await;
    let start = next_json(&mut socket).await;
    assert_eq!(start["type"], "start");
    let (text, done) = until_done(&mut socket).await;
    assert_eq!(done["type"], "done", "{done}");
    assert!(!text.is_empty());
    assert_eq!(done["text"], text.as_str());
    let usage = &done["usage"];
    assert_eq!(
        usage["total_tokens"],
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert!(["stop", "length"].contains(&done["finish_reason"].as_str().unwrap()));

    // Same request over HTTP gives the same text.
    common::install_tls_provider();
    let r: Value = reqwest::Client::new()
        .post(url(&server, "/v1/chat/completions"))
        .json(&json!({"messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8, "temperature": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["choices"][0]["message"]["content"], text.as_str());

    // Errors keep the connection open.
    socket.send(Message::Text("{oops".into())).await.unwrap();
    let e = next_json(&mut socket).await;
    assert_eq!(e["type"], "error");
    assert_eq!(e["status"], 400);
    assert!(e["error"]["message"].as_str().is_some());
    send(
        &mut socket,
        json!({"type": "completion", "prompt": "The sky is", "max_tokens": 3, "temperature": 0}),
    )
    .await;
    let (_, done) = until_done(&mut socket).await;
    assert_eq!(done["type"], "done", "{done}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_generation() {
    let server = start(shared_engine(), ServerConfig::default()).await;
    let mut socket = connect(&server, "").await;
    send(&mut socket, json!({"type": "completion", "prompt": "Once upon a time", "max_tokens": 900, "ignore_eos": true})).await;
    assert_eq!(next_json(&mut socket).await["type"], "start");
    let first = next_json(&mut socket).await;
    assert_eq!(first["type"], "token");
    // A second request while one runs is refused.
    send(
        &mut socket,
        json!({"type": "completion", "prompt": "x", "max_tokens": 1}),
    )
    .await;
    send(&mut socket, json!({"type": "cancel"})).await;
    let mut busy = false;
    let done = loop {
        let m = next_json(&mut socket).await;
        match m["type"].as_str().unwrap() {
            "token" => {}
            "error" => {
                assert_eq!(m["error"]["code"], "busy");
                busy = true;
            }
            _ => break m,
        }
    };
    assert!(busy);
    assert_eq!(done["type"], "done");
    assert_eq!(done["finish_reason"], "cancelled");
    assert!(done["usage"]["completion_tokens"].as_u64().unwrap() < 900);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_and_origin_are_checked() {
    let config = ServerConfig {
        api_key: Some("k-1".into()),
        ..Default::default()
    };
    let server = start(shared_engine(), config).await;
    let url = format!("ws://{}/v1/ws", server.local_addr());
    assert!(
        tokio_tungstenite::connect_async(url.as_str())
            .await
            .is_err(),
        "no key"
    );
    assert!(
        tokio_tungstenite::connect_async(format!("{url}?api_key=k-2"))
            .await
            .is_err(),
        "wrong key"
    );
    let mut socket = connect(&server, "?api_key=k-1").await;
    send(
        &mut socket,
        json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}),
    )
    .await;
    let (_, done) = until_done(&mut socket).await;
    assert_eq!(done["type"], "done");

    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", "Bearer k-1".parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async(request.clone())
            .await
            .is_ok(),
        "header key"
    );
    // A browser page from a foreign origin is refused.
    request
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async(request).await.is_err(),
        "foreign origin"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_tool_call_and_logprobs_over_the_socket() {
    let server = start(shared_engine(), ServerConfig::default()).await;
    let mut socket = connect(&server, "").await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
                       "required": ["city"], "additionalProperties": false}}}]);
    send(
        &mut socket,
        json!({"type": "chat", "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": tools, "tool_choice": "required", "max_tokens": 60, "temperature": 0}),
    )
    .await;
    let (text, done) = until_done(&mut socket).await;
    assert_eq!(done["finish_reason"], "tool_calls", "{done}");
    assert_eq!(text, "", "a call is not streamed as text");
    let call = &done["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    let city = args["city"].as_str().expect("a city string");
    assert!(
        city.chars().count() <= 20 && args.as_object().unwrap().len() == 1,
        "{args}"
    );

    // Log-probabilities ride on the token messages: greedy takes the most likely token.
    send(
        &mut socket,
        json!({"type": "chat", "messages": [{"role": "user", "content": "Say hi."}],
        "max_tokens": 4, "temperature": 0, "logprobs": true, "top_logprobs": 3}),
    )
    .await;
    let mut seen = 0;
    loop {
        let m = next_json(&mut socket).await;
        match m["type"].as_str().unwrap() {
            "token" => {
                let top = m["top_logprobs"].as_array().unwrap();
                assert_eq!(top.len(), 3);
                assert_eq!(top[0]["token_id"], m["token_id"]);
                assert_eq!(top[0]["logprob"], m["logprob"]);
                assert!(m["logprob"].as_f64().unwrap() <= 0.0);
                seen += 1;
            }
            "done" => break,
            _ => {}
        }
    }
    assert_eq!(seen, 4);
}
