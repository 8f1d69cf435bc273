//! Conversation list, CRUD and search.

use crate::error::AppResult;
use crate::state::AppState;
use crate::types::{Conversation, Message, SamplingParams, SearchHit};
use tauri::State;

#[tauri::command]
pub fn list_conversations(state: State<'_, AppState>) -> AppResult<Vec<Conversation>> {
    state.db.list_conversations()
}

#[tauri::command]
pub fn create_conversation(
    state: State<'_, AppState>,
    title: Option<String>,
) -> AppResult<Conversation> {
    let settings = state.settings();
    state.db.create_conversation(
        title.as_deref(),
        &settings.default_system_prompt,
        &settings.default_params,
        None,
    )
}

#[tauri::command]
pub fn rename_conversation(
    state: State<'_, AppState>,
    conversation_id: String,
    title: String,
) -> AppResult<Conversation> {
    state.db.rename_conversation(&conversation_id, &title)
}

#[tauri::command]
pub fn update_conversation(
    state: State<'_, AppState>,
    conversation_id: String,
    system_prompt: String,
    params: SamplingParams,
    model_id: Option<String>,
) -> AppResult<Conversation> {
    state.db.update_conversation(
        &conversation_id,
        &system_prompt,
        &params,
        model_id.as_deref(),
    )
}

#[tauri::command]
pub fn delete_conversation(state: State<'_, AppState>, conversation_id: String) -> AppResult<()> {
    state.turns.stop(&conversation_id);
    state.db.delete_conversation(&conversation_id)
}

#[tauri::command]
pub fn search_conversations(
    state: State<'_, AppState>,
    query: String,
) -> AppResult<Vec<SearchHit>> {
    state.db.search(&query)
}

#[tauri::command]
pub fn get_messages(
    state: State<'_, AppState>,
    conversation_id: String,
) -> AppResult<Vec<Message>> {
    state.db.messages(&conversation_id)
}

/// Shows another branch of the message tree: the one holding `message_id` (a search hit)
/// or, with `version`, that version (from 1) of `message_id` (the `‹ n/m ›` switcher).
/// Returns the thread now shown; `busy` while the conversation is generating.
#[tauri::command]
pub fn switch_branch(
    state: State<'_, AppState>,
    conversation_id: String,
    message_id: String,
    version: Option<u32>,
) -> AppResult<Vec<Message>> {
    if state.turns.is_running(&conversation_id) {
        return Err(crate::error::AppError::busy());
    }
    state
        .db
        .switch_branch(&conversation_id, &message_id, version)
}
