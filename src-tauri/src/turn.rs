//! One chat turn: save the user's side, load the model if needed, stream the reply through
//! the turn's event sink while saving it as it grows, then finalize it with its statistics.
//! Everything after the first database write runs on a blocking worker. A conversation on a
//! remote provider's model streams through `providers::chat` instead.

use crate::attachments;
use crate::engine_host;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::prompt::build_prompt;
use crate::providers::{self, RemoteModel};
use crate::state::AppState;
use crate::turns::TurnGuard;
use crate::types::{ChatEvent, Conversation, GenerationStats, Message, StopReason, TurnResult};
use std::sync::Arc;
use std::time::{Duration, Instant};
use woolly_core::engine::{self, GenerateRequest, Prompt};

/// How often the growing reply is written to the database (also every `FLUSH_TOKENS`).
const FLUSH_EVERY: Duration = Duration::from_millis(250);
const FLUSH_TOKENS: usize = 32;

pub type Emit = Arc<dyn Fn(ChatEvent) + Send + Sync>;

pub enum TurnKind {
    /// `attachments`: ids of pending attachments (`attachments::Pending`) sent with it.
    Send {
        content: String,
        attachments: Vec<String>,
    },
    /// A new version of reply `message_id` (None: the end of the shown thread).
    Regenerate { message_id: Option<String> },
    /// A new version of user message `message_id` (with the same attachments) and a reply
    /// to it.
    Edit { message_id: String, content: String },
}

fn error_event(e: &AppError) -> ChatEvent {
    ChatEvent::Error {
        message: e.message.clone(),
        code: Some(e.code.as_str().to_string()),
        context: e.context.clone(),
    }
}

/// Runs a turn to its end and returns what was saved. When the conversation does not fit
/// the context window, the turn fails with `context_full` (the user message of a send or
/// an edit stays saved, so `regenerate` with `allow_drop_oldest` continues it), unless
/// `allow_drop_oldest` lets it leave out the fewest oldest messages that make it fit.
pub async fn run(
    state: AppState,
    conversation_id: String,
    kind: TurnKind,
    allow_drop_oldest: bool,
    emit: Emit,
) -> AppResult<TurnResult> {
    let check = |content: &str| {
        if content.trim().is_empty() {
            Err(AppError::invalid("The message is empty."))
        } else {
            Ok(())
        }
    };
    match &kind {
        // Files alone are a message too.
        TurnKind::Send { attachments, .. } if !attachments.is_empty() => {}
        TurnKind::Send { content, .. } | TurnKind::Edit { content, .. } => check(content)?,
        TurnKind::Regenerate { .. } => {}
    }
    let guard = state.turns.begin(&conversation_id)?;
    let user_message = match &kind {
        TurnKind::Send {
            content,
            attachments,
        } => {
            let files = state.attachments.get(attachments)?;
            // The new user message continues the shown thread (its parent is the leaf).
            let message = state.db.add_user_message(&conversation_id, content)?;
            state.db.add_attachments(&message.id, &files)?;
            for id in attachments {
                state.attachments.remove(id);
            }
            Some(message)
        }
        TurnKind::Regenerate { .. } => None,
        TurnKind::Edit {
            message_id,
            content,
        } => Some(
            state
                .db
                .edit_user_message(&conversation_id, message_id, content)?,
        ),
    };
    // The user message the reply answers; the prompt is the path to it, never another
    // branch.
    let parent_id = match (&user_message, kind) {
        (Some(m), _) => m.id.clone(),
        (None, TurnKind::Regenerate { message_id }) => state
            .db
            .regenerate_target(&conversation_id, message_id.as_deref())?,
        (None, _) => unreachable!("send and edit save a user message"),
    };
    let conversation = state.db.get_conversation(&conversation_id)?;
    // A remote provider's model: stream over HTTP instead of running the engine.
    if let Some(remote) = conversation
        .model_id
        .as_deref()
        .and_then(RemoteModel::parse)
    {
        let (state, guard) = (&state, &guard);
        return providers::chat::generate(
            state,
            &conversation,
            user_message,
            &parent_id,
            guard,
            &*emit,
            &remote,
        )
        .await;
    }
    let worker_emit = emit.clone();
    let job = tauri::async_runtime::spawn_blocking(move || {
        let turn = Turn {
            conversation: &conversation,
            user_message,
            parent_id,
            allow_drop_oldest,
        };
        generate(&state, turn, &guard, &*worker_emit)
    });
    match job.await {
        Ok(result) => result,
        Err(e) => {
            let e = AppError::internal(format!("The generation worker stopped unexpectedly: {e}"));
            emit(error_event(&e));
            Err(e)
        }
    }
}

struct Turn<'a> {
    conversation: &'a Conversation,
    user_message: Option<Message>,
    /// The message the reply answers.
    parent_id: String,
    allow_drop_oldest: bool,
}

fn generate(
    state: &AppState,
    turn: Turn<'_>,
    guard: &TurnGuard,
    emit: &(dyn Fn(ChatEvent) + Send + Sync),
) -> AppResult<TurnResult> {
    let Turn {
        conversation,
        user_message,
        parent_id,
        allow_drop_oldest,
    } = turn;
    let fail = |e: AppError| {
        emit(error_event(&e));
        Err(e)
    };
    let settings = state.settings();
    let params = &conversation.params;
    let store = state.store().ok();
    let model = match engine_host::resolve(
        store.as_ref(),
        state.paths.launch_model.as_deref(),
        conversation.model_id.as_deref(),
        &settings,
    ) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let mut progress = |p: f32, stage: &str| {
        emit(ChatEvent::ModelLoading {
            model_id: model.id.clone(),
            progress: p,
            stage: stage.to_string(),
        })
    };
    let (engine, _) =
        match state
            .engine
            .ensure(&model, params.context_length, &settings, &mut progress)
        {
            Ok(loaded) => loaded,
            Err(e) => return fail(e),
        };
    let ctx = (engine.info().context_length as u32).min(params.context_length);
    // The path to the message being answered, each message with its own attachments (only
    // those: other branches' files are not in this prompt).
    let thread = state.db.thread_to(&parent_id)?;
    let saved = attachments::in_thread(state.db.attachments(&conversation.id)?, &thread);
    let history = attachments::expand(thread, &saved);
    let built = match build_prompt(
        &engine,
        &conversation.system_prompt,
        &history,
        ctx,
        params.max_tokens,
        allow_drop_oldest,
    ) {
        Ok(p) => p,
        Err(mut e) => {
            // Dropping an attachment is another way to make it fit.
            if let Some(o) = e.context.as_mut().filter(|_| !saved.is_empty()) {
                o.attachments = attachments::token_list(&engine, &saved.iter().collect::<Vec<_>>());
                e.message
                    .push_str(" Removing an attached file also frees room.");
            }
            return fail(e);
        }
    };
    let (prompt, prompt_tokens) = (built.messages, built.prompt_tokens);
    let dropped = (built.dropped > 0).then_some(built.dropped);
    let reply = state
        .db
        .start_reply(&conversation.id, &parent_id, Some(&model.id))?;
    emit(ChatEvent::Started {
        message_id: reply.id.clone(),
        user_message_id: user_message.as_ref().map(|m| m.id.clone()),
        prompt_tokens: Some(prompt_tokens),
    });

    let mut request = GenerateRequest::new(Prompt::Chat(prompt));
    request.sampling = woolly_core::sampling::SamplingParams {
        temperature: params.temperature,
        top_k: params.top_k as usize,
        top_p: params.top_p,
        min_p: params.min_p,
        repeat_penalty: params.repeat_penalty,
        seed: params.seed,
        ..Default::default()
    };
    request.max_tokens = params
        .max_tokens
        .min(ctx.saturating_sub(prompt_tokens))
        .max(1) as usize;
    request.cancel = guard.cancel.clone();

    let mut text = String::new();
    let mut last_flush = Instant::now();
    let mut unflushed = 0usize;
    let outcome = engine.generate(&request, |t| {
        if t.text.is_empty() {
            return;
        }
        text.push_str(&t.text);
        emit(ChatEvent::Token {
            text: t.text.clone(),
        });
        unflushed += 1;
        if unflushed >= FLUSH_TOKENS || last_flush.elapsed() >= FLUSH_EVERY {
            // A failed write is retried at the next flush; the final write reports errors.
            let _ = state.db.update_reply(&reply.id, &text);
            last_flush = Instant::now();
            unflushed = 0;
        }
    });
    match outcome {
        Ok(generation) => {
            let stats = GenerationStats {
                dropped_messages: dropped,
                ..stats(&generation.stats, params.max_tokens, ctx)
            };
            let saved = state.db.finish_reply(&reply.id, &text, Some(&stats))?;
            emit(ChatEvent::Finished {
                stats: stats.clone(),
            });
            let assistant_message = saved.unwrap_or(Message {
                content: text,
                stats: Some(stats),
                ..reply
            });
            Ok(TurnResult {
                user_message,
                assistant_message,
            })
        }
        Err(e) => {
            let mut e = AppError::from(e);
            if e.code != ErrorCode::InsufficientMemory {
                e.code = ErrorCode::GenerationFailed;
            }
            if text.is_empty() {
                let _ = state.db.delete_message(&reply.id);
            } else {
                let stats = GenerationStats {
                    prompt_tokens,
                    generated_tokens: 0,
                    tokens_per_second: 0.0,
                    time_to_first_token_ms: 0,
                    stop_reason: StopReason::Error,
                    context_length: Some(ctx),
                    dropped_messages: dropped,
                };
                let _ = state.db.finish_reply(&reply.id, &text, Some(&stats));
            }
            fail(e)
        }
    }
}

fn stats(s: &engine::GenerationStats, max_tokens: u32, ctx: u32) -> GenerationStats {
    let stop_reason = match s.stop_reason {
        engine::StopReason::Eos | engine::StopReason::Stop => StopReason::Eos,
        engine::StopReason::Cancelled => StopReason::Cancelled,
        engine::StopReason::Length if s.generated_tokens >= max_tokens as usize => {
            StopReason::MaxTokens
        }
        engine::StopReason::Length => StopReason::ContextFull,
    };
    let tokens_per_second = if s.decode_tok_s > 0.0 && s.decode_tok_s.is_finite() {
        s.decode_tok_s
    } else if s.total_ms > 0.0 {
        s.generated_tokens as f64 / (s.total_ms / 1e3)
    } else {
        0.0
    };
    GenerationStats {
        prompt_tokens: s.prompt_tokens as u32,
        generated_tokens: s.generated_tokens as u32,
        tokens_per_second,
        time_to_first_token_ms: s.time_to_first_token_ms.max(0.0).round() as u64,
        stop_reason,
        context_length: Some(ctx),
        dropped_messages: None,
    }
}
