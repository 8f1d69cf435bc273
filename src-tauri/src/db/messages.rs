//! Message rows and the bookkeeping of a chat turn (each step one transaction).

use super::conversations::{get_in, title_from, touch, DEFAULT_TITLE};
use super::{new_id, now_ms, Db};
use crate::error::{AppError, AppResult};
use crate::types::{GenerationStats, Message, Role};
use rusqlite::{params, Connection, OptionalExtension, Row};

const SELECT: &str =
    "SELECT id, conversation_id, role, content, created_at, stats, model_id FROM messages";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
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
    })
}

fn get_message_in(conn: &Connection, id: &str) -> AppResult<Message> {
    conn.query_row(&format!("{SELECT} WHERE id = ?1"), [id], from_row)
        .optional()?
        .ok_or_else(|| AppError::not_found("This message no longer exists."))
}

fn insert(
    conn: &Connection,
    conversation_id: &str,
    role: Role,
    content: &str,
    model_id: Option<&str>,
) -> AppResult<Message> {
    let id = new_id();
    conn.execute(
        "INSERT INTO messages (id, conversation_id, role, content, created_at, model_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            conversation_id,
            role.as_str(),
            content,
            now_ms(),
            model_id
        ],
    )?;
    touch(conn, conversation_id)?;
    get_message_in(conn, &id)
}

impl Db {
    /// Oldest first.
    pub fn messages(&self, conversation_id: &str) -> AppResult<Vec<Message>> {
        let conn = self.lock();
        get_in(&conn, conversation_id)?;
        let mut stmt =
            conn.prepare(&format!("{SELECT} WHERE conversation_id = ?1 ORDER BY seq"))?;
        let rows = stmt
            .query_map([conversation_id], from_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn get_message(&self, id: &str) -> AppResult<Message> {
        get_message_in(&self.lock(), id)
    }

    /// Saves the user message of a new turn; names a "New chat" after it.
    pub fn add_user_message(&self, conversation_id: &str, content: &str) -> AppResult<Message> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let conversation = get_in(&tx, conversation_id)?;
        let message = insert(&tx, conversation_id, Role::User, content, None)?;
        if conversation.title == DEFAULT_TITLE {
            tx.execute(
                "UPDATE conversations SET title = ?2 WHERE id = ?1",
                params![conversation_id, title_from(content)],
            )?;
        }
        tx.commit()?;
        Ok(message)
    }

    /// Regenerate: drops a trailing assistant reply; the conversation must then end with
    /// a user message.
    pub fn prepare_regenerate(&self, conversation_id: &str) -> AppResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        get_in(&tx, conversation_id)?;
        let last = |tx: &Connection| -> AppResult<Option<(i64, String)>> {
            Ok(tx
                .query_row(
                    "SELECT seq, role FROM messages WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT 1",
                    [conversation_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?)
        };
        if let Some((seq, role)) = last(&tx)? {
            if role == "assistant" {
                tx.execute("DELETE FROM messages WHERE seq = ?1", [seq])?;
            }
        }
        match last(&tx)? {
            Some((_, role)) if role == "user" => {}
            _ => return Err(AppError::invalid("There is no message to answer again.")),
        }
        touch(&tx, conversation_id)?;
        tx.commit()?;
        Ok(())
    }

    /// Edit and resend: replaces a user message's text and deletes every later message.
    pub fn edit_user_message(
        &self,
        conversation_id: &str,
        message_id: &str,
        content: &str,
    ) -> AppResult<Message> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        get_in(&tx, conversation_id)?;
        let (seq, role): (i64, String) = tx
            .query_row(
                "SELECT seq, role FROM messages WHERE id = ?1 AND conversation_id = ?2",
                params![message_id, conversation_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| AppError::not_found("This message no longer exists."))?;
        if role != "user" {
            return Err(AppError::invalid("Only your own messages can be edited."));
        }
        tx.execute(
            "UPDATE messages SET content = ?2 WHERE seq = ?1",
            params![seq, content],
        )?;
        tx.execute(
            "DELETE FROM messages WHERE conversation_id = ?1 AND seq > ?2",
            params![conversation_id, seq],
        )?;
        touch(&tx, conversation_id)?;
        let message = get_message_in(&tx, message_id)?;
        tx.commit()?;
        Ok(message)
    }

    /// The (empty) reply row, created when a turn starts so a crash keeps what streamed.
    pub fn start_reply(&self, conversation_id: &str, model_id: Option<&str>) -> AppResult<Message> {
        insert(&self.lock(), conversation_id, Role::Assistant, "", model_id)
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

    pub fn delete_message(&self, message_id: &str) -> AppResult<()> {
        self.lock()
            .execute("DELETE FROM messages WHERE id = ?1", [message_id])?;
        Ok(())
    }
}
