//! Attachments saved with the user message they were sent with (migration 4). Deleting the
//! message (or its conversation) deletes them.

use super::{new_id, now_ms, Db};
use crate::attachments::{Attachment, AttachmentKind};
use crate::error::{AppError, AppResult};
use rusqlite::{params, Connection, Row};

fn from_row(r: &Row<'_>) -> rusqlite::Result<Attachment> {
    let kind: String = r.get(3)?;
    let text: String = r.get(6)?;
    Ok(Attachment {
        id: r.get(0)?,
        message_id: Some(r.get(1)?),
        name: r.get(2)?,
        kind: AttachmentKind::parse(&kind),
        size_bytes: r.get::<_, i64>(4)?.max(0) as u64,
        note: r.get(5)?,
        chars: text.chars().count() as u32,
        text,
    })
}

/// Copies the attachments of message `from` to message `to` (new ids, same files, same
/// order): the new version of an edited message is sent with the original's files.
pub(super) fn copy_in(conn: &Connection, from: &str, to: &str) -> AppResult<()> {
    let mut stmt =
        conn.prepare("SELECT seq FROM attachments WHERE message_id = ?1 ORDER BY seq")?;
    let seqs: Vec<i64> = stmt
        .query_map([from], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for seq in seqs {
        conn.execute(
            "INSERT INTO attachments (id, message_id, name, kind, size_bytes, note, content, created_at)
             SELECT ?1, ?2, name, kind, size_bytes, note, content, ?3 FROM attachments WHERE seq = ?4",
            params![new_id(), to, now_ms(), seq],
        )?;
    }
    Ok(())
}

impl Db {
    /// Saves `list` with the user message `message_id`, in one transaction.
    pub fn add_attachments(
        &self,
        message_id: &str,
        list: &[Attachment],
    ) -> AppResult<Vec<Attachment>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut saved = Vec::with_capacity(list.len());
        for a in list {
            tx.execute(
                "INSERT INTO attachments (id, message_id, name, kind, size_bytes, note, content, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    a.id,
                    message_id,
                    a.name,
                    a.kind.as_str(),
                    a.size_bytes as i64,
                    a.note,
                    a.text,
                    now_ms()
                ],
            )?;
            saved.push(Attachment {
                message_id: Some(message_id.to_string()),
                ..a.clone()
            });
        }
        tx.commit()?;
        Ok(saved)
    }

    /// The attachments of a conversation's messages, in the order they were attached.
    pub fn attachments(&self, conversation_id: &str) -> AppResult<Vec<Attachment>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT a.id, a.message_id, a.name, a.kind, a.size_bytes, a.note, a.content
             FROM attachments a JOIN messages m ON m.id = a.message_id
             WHERE m.conversation_id = ?1 ORDER BY a.seq",
        )?;
        let rows = stmt
            .query_map([conversation_id], from_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Deletes a saved attachment (the user dropped it to make the conversation fit).
    pub fn delete_attachment(&self, id: &str) -> AppResult<()> {
        let n = self
            .lock()
            .execute("DELETE FROM attachments WHERE id = ?1", [id])?;
        if n == 0 {
            return Err(AppError::not_found("This attachment no longer exists."));
        }
        Ok(())
    }
}
