//! The history database: SQLite (bundled, FTS5), one connection behind a mutex, schema
//! versioned through `PRAGMA user_version`, every multi-row change in a transaction.

mod conversations;
mod downloads;
mod import;
mod messages;
mod migrations;
mod search;

pub use downloads::DownloadRow;

use crate::error::AppResult;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

pub struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> AppResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = Connection::open(path)?;
        // WAL + NORMAL: a killed app loses nothing that was committed; readers never block
        // the writer that streams a reply.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> AppResult<u32> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
