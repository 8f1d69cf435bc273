//! Chat turns: each streams `ChatEvent`s through its own channel and resolves when over.
//! `regenerate` and `edit_and_resend` add new versions (siblings) and keep the old ones.
//! `allow_drop_oldest` (default false) lets a turn leave out the oldest messages that do
//! not fit the context window; without it such a turn fails with `context_full`.

use super::blocking;
use crate::attachments;
use crate::engine_host;
use crate::error::AppResult;
use crate::providers::RemoteModel;
use crate::state::AppState;
use crate::turn::{self, Emit, TurnKind};
use crate::types::{ChatEvent, ContextUsage, TurnResult};
use std::sync::Arc;
use tauri::ipc::Channel;
use tauri::State;

fn emitter(channel: Channel<ChatEvent>) -> Emit {
    // A closed webview only loses the events; the reply is still saved.
    Arc::new(move |event| {
        let _ = channel.send(event);
    })
}

#[tauri::command]
pub async fn send_message(
    state: State<'_, AppState>,
    conversation_id: String,
    content: String,
    allow_drop_oldest: Option<bool>,
    attachment_ids: Option<Vec<String>>,
    on_event: Channel<ChatEvent>,
) -> AppResult<TurnResult> {
    turn::run(
        state.inner().clone(),
        conversation_id,
        TurnKind::Send {
            content,
            attachments: attachment_ids.unwrap_or_default(),
        },
        allow_drop_oldest.unwrap_or(false),
        emitter(on_event),
    )
    .await
}

#[tauri::command]
pub fn stop_generation(state: State<'_, AppState>, conversation_id: String) -> bool {
    state.turns.stop(&conversation_id)
}

#[tauri::command]
pub async fn regenerate(
    state: State<'_, AppState>,
    conversation_id: String,
    message_id: Option<String>,
    allow_drop_oldest: Option<bool>,
    on_event: Channel<ChatEvent>,
) -> AppResult<TurnResult> {
    turn::run(
        state.inner().clone(),
        conversation_id,
        TurnKind::Regenerate { message_id },
        allow_drop_oldest.unwrap_or(false),
        emitter(on_event),
    )
    .await
}

#[tauri::command]
pub async fn edit_and_resend(
    state: State<'_, AppState>,
    conversation_id: String,
    message_id: String,
    content: String,
    allow_drop_oldest: Option<bool>,
    on_event: Channel<ChatEvent>,
) -> AppResult<TurnResult> {
    let kind = TurnKind::Edit {
        message_id,
        content,
    };
    turn::run(
        state.inner().clone(),
        conversation_id,
        kind,
        allow_drop_oldest.unwrap_or(false),
        emitter(on_event),
    )
    .await
}

/// The context meter: the conversation and the draft (with the pending attachments
/// `attachment_ids` names) counted with the loaded model, as the next turn would send
/// them, split by part. Null when that model is not loaded (counting never loads one) or
/// the conversation uses a remote provider.
#[tauri::command]
pub async fn context_usage(
    state: State<'_, AppState>,
    conversation_id: String,
    draft: String,
    attachment_ids: Option<Vec<String>>,
) -> AppResult<Option<ContextUsage>> {
    let state = state.inner().clone();
    blocking(move || {
        let pending = super::attachments::pending(&state, &attachment_ids.unwrap_or_default())?;
        let conversation = state.db.get_conversation(&conversation_id)?;
        let id = conversation.model_id.as_deref();
        if id.and_then(RemoteModel::parse).is_some() {
            return Ok(None);
        }
        let store = state.store().ok();
        let launch = state.paths.launch_model.as_deref();
        let Ok(model) = engine_host::resolve(store.as_ref(), launch, id, &state.settings()) else {
            return Ok(None);
        };
        let (Some(engine), Some(loaded)) = (state.engine.current(), state.engine.loaded_id())
        else {
            return Ok(None);
        };
        if loaded != model.id {
            return Ok(None);
        }
        let params = &conversation.params;
        let ctx = (engine.info().context_length as u32).min(params.context_length);
        // The shown thread, and only its messages' attachments (a draft continues it).
        let history = state.db.messages(&conversation_id)?;
        let saved = attachments::in_thread(state.db.attachments(&conversation_id)?, &history);
        attachments::usage(
            &engine,
            &conversation.system_prompt,
            history,
            &saved,
            &pending,
            &draft,
            ctx,
            params.max_tokens,
        )
        .map(Some)
    })
    .await
}
