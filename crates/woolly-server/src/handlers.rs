//! The HTTP endpoints.

use crate::error::{ApiError, ApiJson};
use crate::generation::{self, StreamEvent, Ticket};
use crate::openai::{self, ChatRequest, CompletionRequest, Kind, PromptInput, Responder, Settings};
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::time::Duration;
use woolly_core::engine::{GenerateRequest, Prompt};

pub async fn health(State(state): State<AppState>) -> Json<Value> {
    let pending = state
        .inner
        .pending
        .load(std::sync::atomic::Ordering::SeqCst);
    let device = state.inner.engine.device();
    Json(json!({
        "status": "ok",
        "model": state.inner.engine.info().model_id,
        "pending": pending,
        "device": device.device,
        "device_reason": device.reason,
        "gpu": device.gpu,
    }))
}

pub async fn list_models(State(state): State<AppState>) -> Json<Value> {
    Json(json!({"object": "list", "data": [state.model_object()]}))
}

pub async fn get_model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state.check_model(Some(&id))?;
    Ok(Json(state.model_object()))
}

pub async fn chat_completions(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let prepared = prepare_chat(&state, body).await?;
    Ok(respond(&state, prepared).await)
}

pub async fn completions(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let prepared = prepare_completion(&state, body).await?;
    Ok(respond(&state, prepared).await)
}

/// A validated request, tokenized, with its place in the queue.
pub struct Prepared {
    pub request: GenerateRequest,
    pub settings: Settings,
    pub responder: Responder,
    pub ticket: Ticket,
    /// Text put before the reply (`echo` on completions).
    pub prefix: String,
}

pub async fn prepare_chat(state: &AppState, body: ChatRequest) -> Result<Prepared, ApiError> {
    state.check_model(body.model.as_deref())?;
    let settings = body.params.validate()?;
    let messages = openai::chat_messages(body.messages)?;
    prepare(
        state,
        Prompt::Chat(messages),
        settings,
        Kind::Chat,
        String::new(),
    )
    .await
}

pub async fn prepare_completion(
    state: &AppState,
    body: CompletionRequest,
) -> Result<Prepared, ApiError> {
    state.check_model(body.model.as_deref())?;
    let settings = body.params.validate()?;
    if body.best_of.is_some_and(|b| b != 1) {
        return Err(ApiError::invalid(
            "Only `best_of` = 1 is supported",
            Some("best_of"),
        ));
    }
    if body.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::invalid(
            "`suffix` is not supported",
            Some("suffix"),
        ));
    }
    let one = |n: usize| {
        if n == 1 {
            Ok(())
        } else {
            Err(ApiError::invalid(
                "Only one prompt per request is supported",
                Some("prompt"),
            ))
        }
    };
    let prompt = match body.prompt {
        PromptInput::Text(t) => Prompt::Text(t),
        PromptInput::Texts(mut v) => {
            one(v.len())?;
            Prompt::Text(v.remove(0))
        }
        PromptInput::Tokens(ids) => Prompt::Tokens(ids),
        PromptInput::TokenLists(mut v) => {
            one(v.len())?;
            Prompt::Tokens(v.remove(0))
        }
    };
    let prefix = match (&prompt, body.echo.unwrap_or(false)) {
        (_, false) => String::new(),
        (Prompt::Text(t), true) => t.clone(),
        (Prompt::Tokens(ids), true) => state.inner.engine.tokenizer().decode(ids),
        (Prompt::Chat(_), true) => String::new(),
    };
    prepare(state, prompt, settings, Kind::Completion, prefix).await
}

/// Tokenizes the prompt (on a worker: it may be long) and checks it fits the context, so
/// prompt errors are answered with a status code before any streaming starts.
async fn prepare(
    state: &AppState,
    prompt: Prompt,
    settings: Settings,
    kind: Kind,
    prefix: String,
) -> Result<Prepared, ApiError> {
    let engine = state.inner.engine.clone();
    let tokens = tokio::task::spawn_blocking(move || engine.prompt_tokens(&prompt))
        .await
        .map_err(|e| ApiError::Internal(format!("tokenizer worker failed: {e}")))??;
    let info = state.inner.engine.info();
    let vocab = state.inner.engine.tokenizer().vocab_size();
    if let Some(bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
        return Err(ApiError::invalid(
            format!("Token id {bad} is outside the vocabulary (size {vocab})"),
            Some("prompt"),
        ));
    }
    if tokens.is_empty() {
        return Err(woolly_core::engine::EngineError::EmptyPrompt.into());
    }
    let ctx = info.context_length;
    if tokens.len() >= ctx {
        return Err(woolly_core::engine::EngineError::PromptTooLong {
            prompt_tokens: tokens.len(),
            context_length: ctx,
        }
        .into());
    }
    let ticket = state.ticket()?;
    let mut request = GenerateRequest::new(Prompt::Tokens(tokens.clone()));
    // Without a limit, the reply may fill the rest of the context.
    request.max_tokens = settings.max_tokens.unwrap_or(ctx - tokens.len());
    request.sampling = settings.sampling.clone();
    request.stop = settings.stop.clone();
    request.ignore_eos = settings.ignore_eos;
    let responder = Responder::new(kind, &info.model_id, settings.include_usage);
    Ok(Prepared {
        request,
        settings,
        responder,
        ticket,
        prefix,
    })
}

async fn respond(state: &AppState, p: Prepared) -> Response {
    if p.settings.stream {
        return sse(state, p).into_response();
    }
    match generation::generate(state, p.ticket, p.request).await {
        Ok(generation) => Json(p.responder.complete(&generation, &p.prefix)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn data(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

/// Server-sent events: chunks as the engine produces them, then `data: [DONE]`. When the
/// client goes away the stream is dropped, which cancels the generation.
fn sse(state: &AppState, p: Prepared) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let responder = p.responder;
    let mut head: Vec<Event> = responder.head_chunk().iter().map(data).collect();
    if !p.prefix.is_empty() {
        head.push(data(&responder.text_chunk(&p.prefix)));
    }
    let mut rx = generation::stream(state, p.ticket, p.request);
    let events = stream::poll_fn(move |cx| rx.poll_recv(cx)).flat_map(move |event| {
        let out: Vec<Event> = match event {
            StreamEvent::Token(text) if text.is_empty() => Vec::new(),
            StreamEvent::Token(text) => vec![data(&responder.text_chunk(&text))],
            StreamEvent::Done(Ok(generation)) => {
                let mut out: Vec<Event> = responder
                    .tail_chunks(&generation)
                    .iter()
                    .map(data)
                    .collect();
                out.push(Event::default().data("[DONE]"));
                out
            }
            StreamEvent::Done(Err(e)) => vec![data(&e.body()), Event::default().data("[DONE]")],
        };
        stream::iter(out)
    });
    Sse::new(stream::iter(head).chain(events).map(Ok))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}
