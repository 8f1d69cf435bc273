//! The message tree: each message names its parent, a conversation names the leaf of the
//! thread it shows (the path from a root to that leaf). Edits and regenerated replies are
//! new siblings, so every earlier version stays reachable.

use super::messages::{from_row, SELECT};
use super::Db;
use crate::error::{AppError, AppResult};
use crate::types::Message;
use rusqlite::{params, Connection, OptionalExtension};

/// Deeper than any real conversation; stops a walk in a tree that a bug made cyclic.
const MAX_DEPTH: u32 = 1_000_000;

/// The leaf of the shown thread: the conversation's current leaf while it exists, else its
/// newest message (a database written before the tree, or a leaf deleted under it); None
/// for an empty conversation.
pub(super) fn leaf_in(conn: &Connection, conversation_id: &str) -> AppResult<Option<String>> {
    let current: Option<String> = conn
        .query_row(
            "SELECT m.id FROM conversations c JOIN messages m
             ON m.id = c.current_leaf_id AND m.conversation_id = c.id WHERE c.id = ?1",
            [conversation_id],
            |r| r.get(0),
        )
        .optional()?;
    if current.is_some() {
        return Ok(current);
    }
    Ok(conn
        .query_row(
            "SELECT id FROM messages WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT 1",
            [conversation_id],
            |r| r.get(0),
        )
        .optional()?)
}

pub(super) fn set_leaf(
    conn: &Connection,
    conversation_id: &str,
    leaf: Option<&str>,
) -> AppResult<()> {
    conn.execute(
        "UPDATE conversations SET current_leaf_id = ?2 WHERE id = ?1",
        params![conversation_id, leaf],
    )?;
    Ok(())
}

/// The messages from a root down to `message_id`, oldest first.
pub(super) fn path_in(conn: &Connection, message_id: &str) -> AppResult<Vec<Message>> {
    let mut stmt = conn.prepare(&format!(
        "WITH RECURSIVE path(id, depth) AS (
            SELECT ?1, 0
            UNION ALL
            SELECT p.parent_id, path.depth + 1 FROM messages p JOIN path ON p.id = path.id
            WHERE p.parent_id IS NOT NULL AND path.depth < {MAX_DEPTH}
        )
        {SELECT} JOIN path ON m.id = path.id ORDER BY path.depth DESC"
    ))?;
    let rows = stmt
        .query_map([message_id], from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The newest message under `message_id` (itself included). A message is always older
/// than its children, so the newest of a subtree is a leaf: the end of the branch that was
/// written last.
pub(super) fn latest_leaf_in(conn: &Connection, message_id: &str) -> AppResult<String> {
    Ok(conn.query_row(
        &format!(
            "WITH RECURSIVE sub(id, depth) AS (
                SELECT ?1, 0
                UNION ALL
                SELECT c.id, sub.depth + 1 FROM messages c JOIN sub ON c.parent_id = sub.id
                WHERE sub.depth < {MAX_DEPTH}
            )
            SELECT m.id FROM messages m JOIN sub ON m.id = sub.id ORDER BY m.seq DESC LIMIT 1"
        ),
        [message_id],
        |r| r.get(0),
    )?)
}

/// The shown thread of a conversation, oldest first.
pub(super) fn thread_in(conn: &Connection, conversation_id: &str) -> AppResult<Vec<Message>> {
    match leaf_in(conn, conversation_id)? {
        Some(leaf) => path_in(conn, &leaf),
        None => Ok(Vec::new()),
    }
}

fn parent_of(
    conn: &Connection,
    conversation_id: &str,
    message_id: &str,
) -> AppResult<Option<String>> {
    conn.query_row(
        "SELECT parent_id FROM messages WHERE id = ?1 AND conversation_id = ?2",
        params![message_id, conversation_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| AppError::not_found("This message no longer exists."))
}

impl Db {
    /// Shows another branch: the one that holds `message_id` (a search hit), or with
    /// `version`, the one through that version (from 1) among `message_id`'s siblings
    /// (the `‹ n/m ›` switcher). Either way the thread ends at the newest leaf under it.
    /// Returns the thread now shown.
    pub fn switch_branch(
        &self,
        conversation_id: &str,
        message_id: &str,
        version: Option<u32>,
    ) -> AppResult<Vec<Message>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        super::conversations::get_in(&tx, conversation_id)?;
        let parent = parent_of(&tx, conversation_id, message_id)?;
        let target = match version {
            None => message_id.to_string(),
            Some(v) => tx
                .query_row(
                    "SELECT id FROM messages WHERE conversation_id = ?1 AND parent_id IS ?2
                     ORDER BY seq LIMIT 1 OFFSET ?3",
                    params![conversation_id, parent, i64::from(v.max(1)) - 1],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .ok_or_else(|| {
                    AppError::invalid(format!("There is no version {v} of this message."))
                })?,
        };
        let leaf = latest_leaf_in(&tx, &target)?;
        set_leaf(&tx, conversation_id, Some(&leaf))?;
        let thread = path_in(&tx, &leaf)?;
        tx.commit()?;
        Ok(thread)
    }

    /// The messages from a root down to `message_id`: exactly what a reply to it is sent.
    pub fn thread_to(&self, message_id: &str) -> AppResult<Vec<Message>> {
        path_in(&self.lock(), message_id)
    }

    /// Every message of a conversation, every branch, oldest first (the export).
    pub fn all_messages(&self, conversation_id: &str) -> AppResult<Vec<Message>> {
        let conn = self.lock();
        super::conversations::get_in(&conn, conversation_id)?;
        let mut stmt = conn.prepare(&format!(
            "{SELECT} WHERE m.conversation_id = ?1 ORDER BY m.seq"
        ))?;
        let rows = stmt
            .query_map([conversation_id], from_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The id of the shown thread's last message (None: no messages).
    pub fn current_leaf(&self, conversation_id: &str) -> AppResult<Option<String>> {
        leaf_in(&self.lock(), conversation_id)
    }
}
