//! Chat turns: each streams `ChatEvent`s through its own channel and resolves when over.

use crate::error::AppResult;
use crate::state::AppState;
use crate::turn::{self, Emit, TurnKind};
use crate::types::{ChatEvent, TurnResult};
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
    on_event: Channel<ChatEvent>,
) -> AppResult<TurnResult> {
    turn::run(
        state.inner().clone(),
        conversation_id,
        TurnKind::Send { content },
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
    on_event: Channel<ChatEvent>,
) -> AppResult<TurnResult> {
    turn::run(
        state.inner().clone(),
        conversation_id,
        TurnKind::Regenerate,
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
        emitter(on_event),
    )
    .await
}
