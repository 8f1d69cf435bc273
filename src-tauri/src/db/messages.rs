//! Message rows and the bookkeeping of a chat turn (each step one transaction). Messages
//! form a tree (`super::tree`): nothing here deletes an earlier version.

use super::conversations::{get_in, title_from, touch, DEFAULT_TITLE};
use super::tree::{latest_leaf_in, leaf_in, set_leaf, thread_in};
use super::{new_id, now_ms, Db};
use crate::error::{AppError, AppResult};
use crate::types::{GenerationStats, Message, Role};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// A message with its place among its siblings (`version` of `versions`); rows as `m`.
pub(super) const SELECT: &str = "SELECT m.id, m.conversation_id, m.role, m.content, m.created_at,
    m.stats, m.model_id, m.parent_id,
    (SELECT COUNT(*) FROM messages s WHERE s.conversation_id = m.conversation_id
        AND s.parent_id IS m.parent_id AND s.seq <= m.seq),
    (SELECT COUNT(*) FROM messages s WHERE s.conversation_id = m.conversation_id
        AND s.parent_id IS m.parent_id)
    FROM messages m";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let role: String = r.get(2)?;
    let stats: Option<String> = r.get(5)?;
    Ok(Message {
        id: r.get(0)?,
        conversation_id: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Assistant),
        content: r.get(3)?,
        created_at: r.get(4)?,
        stats: stats.and_then(|s| serde_json::from_str(&s).ok()),
        model_id: r.get(6)?,
        parent_id: r.get(7)?,
        version: r.get(8)?,
        versions: r.get(9)?,
    })
}

fn get_message_in(conn: &Connection, id: &str) -> AppResult<Message> {
    conn.query_row(&format!("{SELECT} WHERE m.id = ?1"), [id], from_row)
        .optional()?
        .ok_or_else(|| AppError::not_found("This message no longer exists."))
}

/// Adds a message under `parent_id` and makes it the end of the shown thread.
fn insert(
    conn: &Connection,
    conversation_id: &str,
    parent_id: Option<&str>,
    role: Role,
    content: &str,
    model_id: Option<&str>,
) -> AppResult<Message> {
    let id = new_id();
    conn.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created_at, model_id, parent_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            conversation_id,
            role.as_str(),
            content,
            now_ms(),
            model_id,
            parent_id
        ],
    )?;
    set_leaf(conn, conversation_id, Some(&id))?;
    touch(conn, conversation_id)?;
    get_message_in(conn, &id)
}

/// A message of `conversation_id` as (role, parent).
fn role_and_parent(
    conn: &Connection,
    conversation_id: &str,
    message_id: &str,
) -> AppResult<(String, Option<String>)> {
    conn.query_row(
        "SELECT role, parent_id FROM messages WHERE id = ?1 AND conversation_id = ?2",
        params![message_id, conversation_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .ok_or_else(|| AppError::not_found("This message no longer exists."))
}

impl Db {
    /// The shown thread (one branch of the tree), oldest first.
    pub fn messages(&self, conversation_id: &str) -> AppResult<Vec<Message>> {
        let conn = self.lock();
        get_in(&conn, conversation_id)?;
        thread_in(&conn, conversation_id)
    }

    pub fn get_message(&self, id: &str) -> AppResult<Message> {
        get_message_in(&self.lock(), id)
    }

    /// Saves the user message of a new turn at the end of the shown thread; names a
    /// "New chat" after it.
    pub fn add_user_message(&self, conversation_id: &str, content: &str) -> AppResult<Message> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let conversation = get_in(&tx, conversation_id)?;
        let leaf = leaf_in(&tx, conversation_id)?;
        let message = insert(
            &tx,
            conversation_id,
            leaf.as_deref(),
            Role::User,
            content,
            None,
        )?;
        if conversation.title == DEFAULT_TITLE {
            tx.execute(
                "UPDATE conversations SET title = ?2 WHERE id = ?1",
                params![conversation_id, title_from(content)],
            )?;
        }
        tx.commit()?;
        Ok(message)
    }

    /// Regenerate: the user message a new reply answers. `message_id` is the reply to
    /// answer again (its new version becomes a sibling) or a user message to answer; None
    /// means the end of the shown thread. Nothing is written: the earlier reply stays.
    pub fn regenerate_target(
        &self,
        conversation_id: &str,
        message_id: Option<&str>,
    ) -> AppResult<String> {
        let conn = self.lock();
        get_in(&conn, conversation_id)?;
        let nothing = || AppError::invalid("There is no message to answer again.");
        let id = match message_id {
            Some(id) => id.to_string(),
            None => leaf_in(&conn, conversation_id)?.ok_or_else(nothing)?,
        };
        let (role, parent) = role_and_parent(&conn, conversation_id, &id)?;
        match (role.as_str(), parent) {
            ("user", _) => Ok(id),
            (_, Some(parent)) => match role_and_parent(&conn, conversation_id, &parent)?.0.as_str()
            {
                "user" => Ok(parent),
                _ => Err(nothing()),
            },
            _ => Err(nothing()),
        }
    }

    /// Edit: a new version of user message `message_id` (a sibling with the new text and
    /// copies of the original's attachments; the original and the replies under it stay),
    /// now the end of the shown thread.
    pub fn edit_user_message(
        &self,
        conversation_id: &str,
        message_id: &str,
        content: &str,
    ) -> AppResult<Message> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        get_in(&tx, conversation_id)?;
        let (role, parent) = role_and_parent(&tx, conversation_id, message_id)?;
        if role != "user" {
            return Err(AppError::invalid("Only your own messages can be edited."));
        }
        let message = insert(
            &tx,
            conversation_id,
            parent.as_deref(),
            Role::User,
            content,
            None,
        )?;
        // The new version keeps the original's files.
        super::attachments::copy_in(&tx, message_id, &message.id)?;
        tx.commit()?;
        Ok(message)
    }

    /// The (empty) reply to `parent_id`, created when a turn starts so a crash keeps what
    /// streamed; it ends the shown thread.
    pub fn start_reply(
        &self,
        conversation_id: &str,
        parent_id: &str,
        model_id: Option<&str>,
    ) -> AppResult<Message> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        role_and_parent(&tx, conversation_id, parent_id)?;
        let message = insert(
            &tx,
            conversation_id,
            Some(parent_id),
            Role::Assistant,
            "",
            model_id,
        )?;
        tx.commit()?;
        Ok(message)
    }

    /// Saves the text streamed so far. False when the row is gone (conversation deleted).
    pub fn update_reply(&self, message_id: &str, content: &str) -> AppResult<bool> {
        let n = self.lock().execute(
            "UPDATE messages SET content = ?2 WHERE id = ?1",
            params![message_id, content],
        )?;
        Ok(n > 0)
    }

    /// The final text and statistics of a reply.
    pub fn finish_reply(
        &self,
        message_id: &str,
        content: &str,
        stats: Option<&GenerationStats>,
    ) -> AppResult<Option<Message>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let stats = stats.map(|s| serde_json::to_string(s).unwrap_or_default());
        let n = tx.execute(
            "UPDATE messages SET content = ?2, stats = ?3 WHERE id = ?1",
            params![message_id, content, stats],
        )?;
        if n == 0 {
            return Ok(None);
        }
        let message = get_message_in(&tx, message_id)?;
        touch(&tx, &message.conversation_id)?;
        tx.commit()?;
        Ok(Some(message))
    }

    /// Deletes a reply that never got any text (a turn that failed before its first
    /// token). Its children, if any, move up to its parent; when it ended the shown thread,
    /// the thread ends at the newest leaf under its parent instead (a failed regenerate
    /// shows the earlier reply again).
    pub fn delete_message(&self, message_id: &str) -> AppResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let row: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT conversation_id, parent_id FROM messages WHERE id = ?1",
                [message_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((conversation_id, parent)) = row else {
            return Ok(());
        };
        let was_leaf = leaf_in(&tx, &conversation_id)?.as_deref() == Some(message_id);
        tx.execute(
            "UPDATE messages SET parent_id = ?2 WHERE parent_id = ?1",
            params![message_id, parent],
        )?;
        tx.execute("DELETE FROM messages WHERE id = ?1", [message_id])?;
        if was_leaf {
            let leaf = match &parent {
                Some(p) => Some(latest_leaf_in(&tx, p)?),
                None => None,
            };
            set_leaf(&tx, &conversation_id, leaf.as_deref())?;
        }
        tx.commit()?;
        Ok(())
    }
}
