//! `GET /v1/ws`: token streaming over a WebSocket.
//!
//! Every message is a JSON text frame. One connection runs one generation at a time and may
//! run many in turn.
//!
//! Client → server:
//! - `{"type": "chat", "messages": [...], ...}`: a chat request; the other fields are those
//!   of `POST /v1/chat/completions` (`max_tokens`, `temperature`, `stop`, `seed`, ...;
//!   `stream` is ignored). `type` may be left out when `messages` is present.
//! - `{"type": "completion", "prompt": "...", ...}`: a raw-text request, fields as
//!   `POST /v1/completions`.
//! - `{"type": "cancel"}`: stops the running generation; it ends with a `done` message whose
//!   `finish_reason` is `"cancelled"`.
//!
//! Server → client:
//! - `{"type": "start", "id": "chatcmpl-…", "model": "…", "prompt_tokens": 12}`
//! - `{"type": "token", "id": "…", "text": "Hel"}`, once per piece of text
//! - `{"type": "done", "id": "…", "finish_reason": "stop" | "length" | "cancelled",
//!   "text": "<the whole reply>", "usage": {"prompt_tokens", "completion_tokens",
//!   "total_tokens", …}, "timings": {…}}`
//! - `{"type": "error", "id": "…" (when a request was running), "status": 400,
//!   "error": {"message", "type", "param", "code"}}`: the request failed (bad JSON, bad
//!   parameters, a request while another runs); the connection stays open.
//!
//! Closing the connection cancels the running generation. With an API key configured, send
//! it in the `Authorization: Bearer` header or, where a client cannot set headers (browsers),
//! as the `api_key` query parameter. Browser pages are refused unless their `Origin` is one
//! of the configured CORS origins.

use crate::error::ApiError;
use crate::generation::{self, StreamEvent};
use crate::handlers::{prepare_chat, prepare_completion, Prepared};
use crate::openai::{self, ChatRequest, CompletionRequest};
use crate::tools::{tool_calls_json, CallFilter, ToolChoice, Tools};
use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use woolly_core::engine::CancelToken;

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Browsers do not apply CORS to WebSockets: check the page's origin here.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !state.origin_allowed(origin) {
            return ApiError::Forbidden(format!(
                "WebSocket connections from origin {origin:?} are not allowed"
            ))
            .into_response();
        }
    }
    ws.max_message_size(state.inner.config.max_body_bytes)
        .on_upgrade(move |socket| session(socket, state))
}

struct Running {
    id: String,
    rx: UnboundedReceiver<StreamEvent>,
    cancel: CancelToken,
    /// With tools: text held back while it may be a call, and the tools it may call.
    calls: Option<(CallFilter, Tools)>,
}

async fn next_event(running: &mut Option<Running>) -> Option<StreamEvent> {
    match running {
        Some(r) => r.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn send(socket: &mut WebSocket, value: Value) -> bool {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

fn error_message(e: &ApiError, id: Option<&str>) -> Value {
    let mut m = e.body();
    m["type"] = json!("error");
    m["status"] = json!(e.status().as_u16());
    if let Some(id) = id {
        m["id"] = json!(id);
    }
    m
}

async fn session(mut socket: WebSocket, state: AppState) {
    let mut running: Option<Running> = None;
    let mut text = String::new();
    loop {
        tokio::select! {
            message = socket.recv() => {
                let raw = match message {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let e = ApiError::invalid("Binary messages are not supported; send JSON text", None);
                        if !send(&mut socket, error_message(&e, None)).await { break; }
                        continue;
                    }
                    Some(Ok(_)) => continue, // ping/pong: answered by the library
                };
                match handle(&state, raw.as_str(), &running).await {
                    Ok(Action::Cancel) => {
                        if let Some(r) = &running { r.cancel.cancel(); }
                    }
                    Ok(Action::Start(p)) => {
                        let id = p.responder.id.clone();
                        let start = json!({
                            "type": "start", "id": id, "model": p.responder.model,
                            "prompt_tokens": prompt_len(&p),
                        });
                        let cancel = p.request.cancel.clone();
                        text = p.prefix.clone();
                        let calls = (p.settings.tool_choice != ToolChoice::None)
                            .then(|| (CallFilter::default(), p.settings.tools.clone()));
                        let rx = generation::stream(&state, p.ticket, p.request);
                        running = Some(Running { id, rx, cancel, calls });
                        if !send(&mut socket, start).await { break; }
                    }
                    Err(e) => {
                        if !send(&mut socket, error_message(&e, None)).await { break; }
                    }
                }
            }
            event = next_event(&mut running) => {
                let Some(r) = running.as_mut() else { continue };
                let id = r.id.clone();
                let message = match event {
                    Some(StreamEvent::Token(t)) => {
                        let piece = match r.calls.as_mut() {
                            Some((filter, _)) => filter.push(&t.text),
                            None => t.text,
                        };
                        if piece.is_empty() && t.logprob.is_none() {
                            continue;
                        }
                        text.push_str(&piece);
                        let mut m = json!({"type": "token", "id": id, "text": piece});
                        if let Some(lp) = t.logprob {
                            m["logprob"] = json!(lp.logprob);
                            m["token_id"] = json!(lp.token_id);
                            m["top_logprobs"] = lp.top.iter().map(|&(id, l)| json!({"token_id": id, "logprob": l})).collect();
                        }
                        m
                    }
                    Some(StreamEvent::Done(Ok(g))) => {
                        let mut finish = g.stats.stop_reason.as_str();
                        let mut tool_calls = Value::Null;
                        if let Some((filter, tools)) = r.calls.as_mut() {
                            let (rest, calls) = filter.finish(tools);
                            text.push_str(&rest);
                            if !calls.is_empty() {
                                finish = "tool_calls";
                                tool_calls = tool_calls_json(&calls);
                            }
                        }
                        running = None;
                        let mut m = json!({
                            "type": "done", "id": id,
                            "finish_reason": finish,
                            "text": std::mem::take(&mut text),
                            "usage": openai::usage(&g.stats),
                            "timings": openai::timings(&g.stats),
                        });
                        if !tool_calls.is_null() {
                            m["tool_calls"] = tool_calls;
                        }
                        m
                    }
                    Some(StreamEvent::Done(Err(e))) => {
                        running = None;
                        error_message(&e, Some(&id))
                    }
                    None => {
                        running = None;
                        error_message(&ApiError::Internal("the generation ended unexpectedly".into()), Some(&id))
                    }
                };
                if !send(&mut socket, message).await { break; }
            }
        }
    }
    if let Some(r) = running {
        r.cancel.cancel();
    }
}

fn prompt_len(p: &Prepared) -> usize {
    match &p.request.prompt {
        woolly_core::engine::Prompt::Tokens(t) => t.len(),
        _ => 0,
    }
}

enum Action {
    Start(Box<Prepared>),
    Cancel,
}

async fn handle(
    state: &AppState,
    raw: &str,
    running: &Option<Running>,
) -> Result<Action, ApiError> {
    let value: Value = serde_json::from_str(raw).map_err(|e| ApiError::InvalidRequest {
        message: format!("We could not parse the JSON message: {e}"),
        param: None,
        code: Some("invalid_json"),
    })?;
    let kind = match value.get("type").and_then(Value::as_str) {
        Some(k) => k.to_owned(),
        None if value.get("messages").is_some() => "chat".to_owned(),
        None => {
            return Err(ApiError::invalid(
                "The message needs a `type`: chat, completion or cancel",
                Some("type"),
            ))
        }
    };
    if kind == "cancel" {
        return Ok(Action::Cancel);
    }
    if running.is_some() {
        return Err(ApiError::InvalidRequest {
            message: "A generation is already running on this connection; wait for `done` or send `cancel`".into(),
            param: None,
            code: Some("busy"),
        });
    }
    let invalid =
        |e: serde_json::Error| ApiError::invalid(format!("Invalid {kind} request: {e}"), None);
    let prepared = match kind.as_str() {
        "chat" => {
            prepare_chat(
                state,
                serde_json::from_value::<ChatRequest>(value).map_err(invalid)?,
            )
            .await?
        }
        "completion" => {
            prepare_completion(
                state,
                serde_json::from_value::<CompletionRequest>(value).map_err(invalid)?,
            )
            .await?
        }
        other => {
            return Err(ApiError::invalid(
                format!("Unknown message type {other:?}: expected chat, completion or cancel"),
                Some("type"),
            ))
        }
    };
    Ok(Action::Start(Box::new(prepared)))
}
