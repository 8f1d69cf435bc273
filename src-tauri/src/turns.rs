//! Which conversations are generating, with the cancel token of each running turn.

use crate::error::{AppError, AppResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use woolly_core::engine::CancelToken;

#[derive(Default, Clone)]
pub struct Turns {
    running: Arc<Mutex<HashMap<String, CancelToken>>>,
}

/// Held for the whole turn; dropping it frees the conversation for the next one.
pub struct TurnGuard {
    turns: Turns,
    conversation_id: String,
    pub cancel: CancelToken,
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.turns.lock().remove(&self.conversation_id);
    }
}

impl Turns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancelToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a turn; `busy` while another runs for the same conversation.
    pub fn begin(&self, conversation_id: &str) -> AppResult<TurnGuard> {
        let mut running = self.lock();
        if running.contains_key(conversation_id) {
            return Err(AppError::busy());
        }
        let cancel = CancelToken::default();
        running.insert(conversation_id.to_string(), cancel.clone());
        Ok(TurnGuard {
            turns: self.clone(),
            conversation_id: conversation_id.to_string(),
            cancel,
        })
    }

    /// Cancels the running turn; true if there was one.
    pub fn stop(&self, conversation_id: &str) -> bool {
        match self.lock().get(conversation_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    pub fn stop_all(&self) -> usize {
        let running = self.lock();
        running.values().for_each(CancelToken::cancel);
        running.len()
    }

    pub fn is_running(&self, conversation_id: &str) -> bool {
        self.lock().contains_key(conversation_id)
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }
}
