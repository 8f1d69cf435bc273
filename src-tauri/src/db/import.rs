//! Imported conversations (see `crate::export`): each gets a new id, its messages new ids
//! and keep their tree (parents, version order, the shown branch), text, attached files,
//! times and statistics; all of a file's conversations land in one transaction, so a failure leaves
//! the history as it was.

use super::conversations::get_in;
use super::{new_id, now_ms, Db};
use crate::error::{AppError, AppResult};
use crate::export::ExportedConversation;
use crate::types::Conversation;
use rusqlite::params;
use std::collections::HashMap;

impl Db {
    /// `conversations` as [`crate::export::parse`] returns them: ids set, parents first.
    pub fn import_conversations(
        &self,
        conversations: &[ExportedConversation],
    ) -> AppResult<Vec<Conversation>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut ids = Vec::with_capacity(conversations.len());
        // Listed newest first, the file's first conversation on top.
        let now = now_ms();
        for c in conversations.iter().rev() {
            let id = new_id();
            let params = serde_json::to_string(&c.params).unwrap_or_else(|_| "{}".into());
            tx.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at, system_prompt, params, model_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![id, c.title.trim(), c.created_at, now, c.system_prompt, params, c.model_id],
            )?;
            // File id -> new id.
            let mut ids_of: HashMap<&str, String> = HashMap::new();
            for m in &c.messages {
                let new = new_id();
                let parent = m
                    .parent_id
                    .as_deref()
                    .map(|p| ids_of.get(p).cloned().ok_or_else(|| orphan(p)))
                    .transpose()?;
                let stats = m
                    .stats
                    .as_ref()
                    .map(|s| serde_json::to_string(s).unwrap_or_default());
                tx.execute(
                    "INSERT INTO messages (id, conversation_id, role, content, created_at, stats, model_id, parent_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![new, id, m.role.as_str(), m.content, m.created_at, stats, m.model_id, parent],
                )?;
                for a in &m.attachments {
                    tx.execute(
                        "INSERT INTO attachments (id, message_id, name, kind, size_bytes, note, content, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![new_id(), new, a.name, a.kind.as_str(), a.size_bytes as i64, a.note, a.text, m.created_at],
                    )?;
                }
                if let Some(file_id) = m.id.as_deref() {
                    ids_of.insert(file_id, new);
                }
            }
            let leaf = c.current_id.as_deref().and_then(|l| ids_of.get(l));
            tx.execute(
                "UPDATE conversations SET current_leaf_id = ?2 WHERE id = ?1",
                params![id, leaf],
            )?;
            ids.push(id);
        }
        ids.reverse();
        let imported = ids
            .iter()
            .map(|id| get_in(&tx, id))
            .collect::<AppResult<Vec<_>>>()?;
        tx.commit()?;
        Ok(imported)
    }
}

/// A parent not imported before its child: `parse` orders them, so this is a bug.
fn orphan(parent: &str) -> AppError {
    AppError::internal(format!(
        "The import lists a message before its parent \"{parent}\". Nothing was imported."
    ))
}
