//! Conversation rows.

use super::{new_id, now_ms, Db};
use crate::error::{AppError, AppResult};
use crate::types::{Conversation, SamplingParams};
use rusqlite::{params, Connection, OptionalExtension, Row};

pub const DEFAULT_TITLE: &str = "New chat";

pub(super) const SELECT: &str =
    "SELECT c.id, c.title, c.created_at, c.updated_at, c.system_prompt, c.params, c.model_id,
    (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) FROM conversations c";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Conversation> {
    let params: String = r.get(5)?;
    Ok(Conversation {
        id: r.get(0)?,
        title: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        system_prompt: r.get(4)?,
        // A row written by a future version with unknown fields still opens.
        params: serde_json::from_str(&params).unwrap_or_default(),
        model_id: r.get(6)?,
        message_count: r.get(7)?,
    })
}

pub(super) fn get_in(conn: &Connection, id: &str) -> AppResult<Conversation> {
    conn.query_row(&format!("{SELECT} WHERE c.id = ?1"), [id], from_row)
        .optional()?
        .ok_or_else(|| AppError::not_found("This conversation no longer exists."))
}

pub(super) fn touch(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE conversations SET updated_at = ?2 WHERE id = ?1",
        params![id, now_ms()],
    )?;
    Ok(())
}

/// Longest title accepted, in characters.
const MAX_TITLE: usize = 200;

fn check_title(title: &str) -> AppResult<()> {
    if title.chars().count() > MAX_TITLE {
        return Err(AppError::invalid(format!(
            "A title can have at most {MAX_TITLE} characters."
        )));
    }
    Ok(())
}

/// A title from the first message: its first line, whitespace collapsed, at most 48 chars.
pub fn title_from(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return DEFAULT_TITLE.into();
    }
    if line.chars().count() > 48 {
        let cut: String = line.chars().take(47).collect();
        format!("{}…", cut.trim_end())
    } else {
        line
    }
}

fn params_json(p: &SamplingParams) -> String {
    serde_json::to_string(p).unwrap_or_else(|_| "{}".into())
}

impl Db {
    pub fn list_conversations(&self) -> AppResult<Vec<Conversation>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY c.updated_at DESC, c.seq DESC"))?;
        let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn get_conversation(&self, id: &str) -> AppResult<Conversation> {
        get_in(&self.lock(), id)
    }

    pub fn create_conversation(
        &self,
        title: Option<&str>,
        system_prompt: &str,
        params: &SamplingParams,
        model_id: Option<&str>,
    ) -> AppResult<Conversation> {
        let title = title
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(DEFAULT_TITLE);
        check_title(title)?;
        let id = new_id();
        let now = now_ms();
        let conn = self.lock();
        conn.execute(
            "INSERT INTO conversations (id, title, created_at, updated_at, system_prompt, params, model_id)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
            params![id, title, now, system_prompt, params_json(params), model_id],
        )?;
        get_in(&conn, &id)
    }

    pub fn rename_conversation(&self, id: &str, title: &str) -> AppResult<Conversation> {
        let title = title.trim();
        if title.is_empty() {
            return Err(AppError::invalid("The title cannot be empty."));
        }
        check_title(title)?;
        let conn = self.lock();
        let n = conn.execute(
            "UPDATE conversations SET title = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, title, now_ms()],
        )?;
        if n == 0 {
            return Err(AppError::not_found("This conversation no longer exists."));
        }
        get_in(&conn, id)
    }

    pub fn update_conversation(
        &self,
        id: &str,
        system_prompt: &str,
        params: &SamplingParams,
        model_id: Option<&str>,
    ) -> AppResult<Conversation> {
        params.validate().map_err(AppError::invalid)?;
        let conn = self.lock();
        let n = conn.execute(
            "UPDATE conversations SET system_prompt = ?2, params = ?3, model_id = ?4 WHERE id = ?1",
            params![id, system_prompt, params_json(params), model_id],
        )?;
        if n == 0 {
            return Err(AppError::not_found("This conversation no longer exists."));
        }
        get_in(&conn, id)
    }

    pub fn delete_conversation(&self, id: &str) -> AppResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM messages WHERE conversation_id = ?1", [id])?;
        let n = tx.execute("DELETE FROM conversations WHERE id = ?1", [id])?;
        if n == 0 {
            return Err(AppError::not_found("This conversation no longer exists."));
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::title_from;

    #[test]
    fn titles() {
        assert_eq!(title_from("  Hello\nworld"), "Hello");
        assert_eq!(title_from("\n\n  a   b "), "a b");
        assert_eq!(title_from(""), "New chat");
        let long = "é".repeat(60);
        let t = title_from(&long);
        assert_eq!(t.chars().count(), 48);
        assert!(t.ends_with('…'));
    }
}
