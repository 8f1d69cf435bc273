//! A chat turn through a remote provider: the same events and the same saving as a local
//! turn (turn.rs), with the reply streamed over HTTP (SSE) instead of from the engine. Stop
//! drops the HTTP stream, which tells the provider to stop generating.

use super::sse::{self, Event, ParseError, SseLines, Usage};
use super::{client, provider_key, ProviderError, RemoteModel};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::turns::TurnGuard;
use crate::types::{
    ChatEvent, Conversation, GenerationStats, Message, Role, StopReason, TurnResult,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use woolly_core::engine::CancelToken;

/// How often the growing reply is written to the database (as for local turns).
const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// Longest line the stream may send.
const MAX_LINE: usize = 1 << 20;

type Emit<'a> = &'a (dyn Fn(ChatEvent) + Send + Sync);

fn error_event(e: &AppError) -> ChatEvent {
    ChatEvent::Error {
        message: e.message.clone(),
        code: Some(e.code.as_str().to_string()),
        context: e.context.clone(),
    }
}

/// Resolves once `token` is cancelled (the turn's stop button).
async fn cancelled(token: &CancelToken) {
    while !token.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The request body: OpenAI's chat format with the sampling settings it knows.
fn request_body(conversation: &Conversation, history: &[Message], model: &str) -> Value {
    let mut messages = Vec::with_capacity(history.len() + 1);
    if !conversation.system_prompt.trim().is_empty() {
        messages.push(json!({ "role": "system", "content": conversation.system_prompt }));
    }
    for m in history.iter().filter(|m| !m.content.is_empty()) {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(json!({ "role": role, "content": m.content }));
    }
    let p = &conversation.params;
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
        "temperature": p.temperature,
        "top_p": p.top_p,
        "max_tokens": p.max_tokens,
    });
    if let Some(seed) = p.seed {
        body["seed"] = json!(seed);
    }
    body
}

/// What streamed so far, and how it ended.
#[derive(Default)]
struct Reply {
    text: String,
    deltas: u32,
    first_token: Option<Instant>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
    cancelled: bool,
}

impl Reply {
    fn stats(&self, started: Instant) -> GenerationStats {
        let generated = self.usage.map_or(self.deltas, |u| u.completion_tokens);
        let decode_secs = self.first_token.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let tokens_per_second = if generated > 1 && decode_secs > 0.0 {
            (generated - 1) as f64 / decode_secs
        } else {
            0.0
        };
        let stop_reason = if self.cancelled {
            StopReason::Cancelled
        } else if self.finish_reason.as_deref() == Some("length") {
            StopReason::MaxTokens
        } else {
            StopReason::Eos
        };
        GenerationStats {
            prompt_tokens: self.usage.map_or(0, |u| u.prompt_tokens),
            generated_tokens: generated,
            tokens_per_second,
            time_to_first_token_ms: self
                .first_token
                .map_or(0, |t| t.duration_since(started).as_millis() as u64),
            stop_reason,
            context_length: None,
            dropped_messages: None,
        }
    }
}

/// Runs the turn to its end; errors are also sent as an `error` event.
pub async fn generate(
    state: &AppState,
    conversation: &Conversation,
    user_message: Option<Message>,
    parent_id: &str,
    guard: &TurnGuard,
    emit: Emit<'_>,
    remote: &RemoteModel,
) -> AppResult<TurnResult> {
    let fail = |e: AppError| {
        emit(error_event(&e));
        Err(e)
    };
    let provider = match state.providers.get(&remote.provider_id) {
        Ok(p) => p,
        Err(e) => return fail(e.into()),
    };
    let (secrets, config) = (state.secrets.clone(), provider.clone());
    let key = match crate::commands::blocking(move || provider_key(&*secrets, &config)).await {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    // The path to the message being answered, each message with its own attachments.
    let thread = state.db.thread_to(parent_id)?;
    let saved = crate::attachments::in_thread(state.db.attachments(&conversation.id)?, &thread);
    let history = crate::attachments::expand(thread, &saved);
    if !history.iter().any(|m| !m.content.is_empty()) {
        return fail(AppError::invalid("There is no message to answer."));
    }
    let body = request_body(conversation, &history, &remote.model);

    let reply = state
        .db
        .start_reply(&conversation.id, parent_id, Some(&remote.id()))?;
    emit(ChatEvent::Started {
        message_id: reply.id.clone(),
        user_message_id: user_message.as_ref().map(|m| m.id.clone()),
        prompt_tokens: None,
    });
    let started = Instant::now();
    let mut out = Reply::default();
    let finished = tokio::select! {
        r = stream(state, &reply.id, &provider.base_url, key.as_deref(), &body, emit, &mut out) => Some(r),
        // Dropping the stream closes the connection: the provider stops generating.
        _ = cancelled(&guard.cancel) => None,
    };
    let streamed = finished.unwrap_or_else(|| {
        out.cancelled = true;
        Ok(())
    });
    match streamed {
        Ok(()) => {
            let stats = out.stats(started);
            let saved = state.db.finish_reply(&reply.id, &out.text, Some(&stats))?;
            emit(ChatEvent::Finished {
                stats: stats.clone(),
            });
            Ok(TurnResult {
                user_message,
                assistant_message: saved.unwrap_or(Message {
                    content: out.text,
                    stats: Some(stats),
                    ..reply
                }),
            })
        }
        Err(e) => {
            if out.text.is_empty() {
                let _ = state.db.delete_message(&reply.id);
            } else {
                let mut stats = out.stats(started);
                stats.stop_reason = StopReason::Error;
                let _ = state.db.finish_reply(&reply.id, &out.text, Some(&stats));
            }
            fail(e.into())
        }
    }
}

/// Sends the request and streams the answer into `out` (saving it as it grows) until
/// `[DONE]`, a finish reason at the end of the body, or an error.
async fn stream(
    state: &AppState,
    reply_id: &str,
    base_url: &str,
    key: Option<&str>,
    body: &Value,
    emit: Emit<'_>,
    out: &mut Reply,
) -> Result<(), ProviderError> {
    let url = format!("{base_url}/chat/completions");
    let bad = |detail: String| ProviderError::BadResponse {
        url: url.clone(),
        detail,
    };
    let mut resp = client::start_chat(base_url, key, body).await?;
    let token = |out: &mut Reply, text: &str| {
        if text.is_empty() {
            return;
        }
        out.first_token.get_or_insert_with(Instant::now);
        out.text.push_str(text);
        out.deltas += 1;
        emit(ChatEvent::Token {
            text: text.to_string(),
        });
    };

    let json_answer = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json_answer {
        // A server that ignores `stream: true` sends the whole completion at once.
        let text = resp
            .text()
            .await
            .map_err(|e| client::transport_error(&url, &e))?;
        let whole = sse::parse_completion(&text).map_err(|e| parse_error(&url, e))?;
        token(out, &whole.content);
        (out.finish_reason, out.usage, out.done) = (whole.finish_reason, whole.usage, true);
        return Ok(());
    }

    let mut lines = SseLines::default();
    let mut last_flush = Instant::now();
    while !out.done {
        let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| client::transport_error(&url, &e))?
        else {
            break;
        };
        for data in lines.push(&chunk) {
            match sse::parse_data(&data).map_err(|e| parse_error(&url, e))? {
                Event::Done => {
                    out.done = true;
                    break;
                }
                Event::Delta(d) => {
                    token(out, &d.content);
                    out.finish_reason = d.finish_reason.or(out.finish_reason.take());
                    out.usage = d.usage.or(out.usage);
                }
            }
        }
        if lines.pending().len() > MAX_LINE {
            return Err(bad("an event line is too long".into()));
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            // A failed write is retried at the next flush; the final write reports errors.
            let _ = state.db.update_reply(reply_id, &out.text);
            last_flush = Instant::now();
        }
    }
    if out.done || out.finish_reason.is_some() {
        return Ok(());
    }
    Err(bad(if lines.data_lines == 0 {
        format!(
            "the answer is not an event stream: {}",
            sse::excerpt(&String::from_utf8_lossy(lines.pending()))
        )
    } else {
        "the stream ended before the reply was complete".into()
    }))
}

fn parse_error(url: &str, e: ParseError) -> ProviderError {
    match e {
        ParseError::Malformed(detail) => ProviderError::BadResponse {
            url: url.to_string(),
            detail,
        },
        ParseError::Remote(message) => ProviderError::Failed {
            url: url.to_string(),
            message,
        },
    }
}
