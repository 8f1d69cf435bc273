//! The HTTP endpoints.

use crate::error::{ApiError, ApiJson};
use crate::generation::{self, StreamEvent, Ticket};
use crate::openai::{self, ChatRequest, CompletionRequest, Kind, PromptInput, Settings};
use crate::response::Responder;
use crate::tools::{CallFilter, ToolChoice};
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::time::Duration;
use woolly_core::engine::{Engine, GenerateRequest, Prompt, TokenLogprob};
use woolly_core::grammar::Grammar;

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
    let settings = body.params.validate(Kind::Chat)?;
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
    let settings = body.params.validate(Kind::Completion)?;
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
    let shown = match settings.tool_choice {
        ToolChoice::None => Vec::new(),
        _ => settings.tools.definitions.clone(),
    };
    let for_grammar = settings.clone();
    let (tokens, grammar) = tokio::task::spawn_blocking(move || {
        let tokens = engine.prompt_tokens_with_tools(&prompt, &shown)?;
        Ok::<_, ApiError>((tokens, grammar_for(&engine, &for_grammar)?))
    })
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
    request.grammar = grammar;
    request.logprobs = settings.logprobs;
    let responder = Responder::new(kind, &state.inner.engine, settings.include_usage);
    Ok(Prepared {
        request,
        settings,
        responder,
        ticket,
        prefix,
    })
}

/// The grammar the reply must follow: a forced tool call, or `response_format`'s JSON.
/// Compiled here so that a bad schema is a 400 before anything streams.
fn grammar_for(engine: &Engine, settings: &Settings) -> Result<Option<Grammar>, ApiError> {
    let functions: Vec<(&str, &Value)> = match &settings.tool_choice {
        ToolChoice::Required => settings
            .tools
            .functions
            .iter()
            .map(|(n, p)| (n.as_str(), p))
            .collect(),
        ToolChoice::Function(name) => settings
            .tools
            .functions
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(n, p)| (n.as_str(), p))
            .collect(),
        ToolChoice::None | ToolChoice::Auto => Vec::new(),
    };
    let grammar = if !functions.is_empty() {
        Some(engine.tool_call_grammar(&functions))
    } else {
        settings.format.as_ref().map(|c| engine.grammar(c))
    };
    grammar.transpose().map_err(|e| match e {
        woolly_core::engine::EngineError::Grammar(g) => {
            let param = if functions.is_empty() {
                "response_format"
            } else {
                "tools"
            };
            ApiError::invalid(format!("Invalid schema: {g}"), Some(param))
        }
        other => ApiError::Engine(other),
    })
}

async fn respond(state: &AppState, p: Prepared) -> Response {
    if p.settings.stream {
        return sse(state, p).into_response();
    }
    match generation::generate(state, p.ticket, p.request).await {
        Ok(generation) => {
            let calls = match p.settings.tool_choice {
                ToolChoice::None => None,
                _ => crate::tools::calls_in(&generation.text, &p.settings.tools),
            };
            Json(p.responder.complete(&generation, &p.prefix, calls)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn data(value: &Value) -> Event {
    Event::default().data(value.to_string())
}

/// What a stream has let through so far: text held back while it may be a tool call, and
/// log-probabilities waiting for the text they belong to.
struct StreamState {
    calls: Option<CallFilter>,
    logprobs: Option<Vec<TokenLogprob>>,
    /// Characters streamed so far (completions' `text_offset`).
    offset: usize,
}

impl StreamState {
    fn text_chunks(&mut self, responder: &Responder, text: &str) -> Vec<Value> {
        if text.is_empty() {
            return Vec::new();
        }
        let lp = self.logprobs.as_mut().map(std::mem::take);
        let chunk = responder.text_chunk(text, lp.as_deref(), self.offset);
        self.offset += text.chars().count();
        vec![chunk]
    }
}

/// Server-sent events: chunks as the engine produces them, then `data: [DONE]`. When the
/// client goes away the stream is dropped, which cancels the generation.
fn sse(state: &AppState, p: Prepared) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let responder = p.responder;
    let tools = p.settings.tools.clone();
    let mut st = StreamState {
        calls: (p.settings.tool_choice != ToolChoice::None).then(CallFilter::default),
        logprobs: p.settings.logprobs.map(|_| Vec::new()),
        offset: p.prefix.chars().count(),
    };
    let mut head: Vec<Event> = responder.head_chunk().iter().map(data).collect();
    if !p.prefix.is_empty() {
        head.push(data(&responder.text_chunk(&p.prefix, None, 0)));
    }
    let mut rx = generation::stream(state, p.ticket, p.request);
    let events = stream::poll_fn(move |cx| rx.poll_recv(cx)).flat_map(move |event| {
        let finished = matches!(event, StreamEvent::Done(_));
        let out: Vec<Value> = match event {
            StreamEvent::Token(t) => {
                if let (Some(lp), Some(pending)) = (t.logprob, st.logprobs.as_mut()) {
                    pending.push(lp);
                }
                let text = match st.calls.as_mut() {
                    Some(filter) => filter.push(&t.text),
                    None => t.text,
                };
                st.text_chunks(&responder, &text)
            }
            StreamEvent::Done(Ok(generation)) => {
                let mut out = Vec::new();
                let mut finish = generation.stats.stop_reason.as_str();
                if let Some(filter) = st.calls.as_mut() {
                    let (text, calls) = filter.finish(&tools);
                    out.extend(st.text_chunks(&responder, &text));
                    if !calls.is_empty() {
                        out.extend(responder.tool_call_chunks(&calls));
                        finish = "tool_calls";
                    }
                }
                out.extend(responder.tail_chunks(&generation, finish));
                out
            }
            StreamEvent::Done(Err(e)) => vec![e.body()],
        };
        let mut events: Vec<Event> = out.iter().map(data).collect();
        if finished {
            events.push(Event::default().data("[DONE]"));
        }
        stream::iter(events)
    });
    Sse::new(stream::iter(head).chain(events).map(Ok))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}
