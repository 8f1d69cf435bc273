//! The history database: SQLite (bundled, FTS5), one connection behind a mutex, schema
//! versioned through `PRAGMA user_version`, every multi-row change in a transaction.

mod attachments;
mod conversations;
mod downloads;
mod import;
mod messages;
mod migrations;
mod search;
mod tree;

pub use downloads::DownloadRow;

use crate::error::{AppError, AppResult};
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
        match connect(path) {
            Ok(conn) => Ok(Self {
                conn: Mutex::new(conn),
            }),
            Err(Failure::Corrupt(why)) => Err(AppError::new(
                crate::ErrorCode::Io,
                format!("The database is damaged: {why}"),
            )),
            Err(Failure::Other(e)) => Err(e),
        }
    }

    /// [`Self::open`] at start-up: a file that is not a database or is corrupt is kept aside
    /// (with its WAL, renamed with a timestamp) and a fresh database opened, with a notice
    /// for the user. Other failures (permissions, a full disk) are errors: the file may be
    /// fine.
    pub fn open_recovering(path: &Path) -> AppResult<(Self, Option<String>)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match connect(path) {
            Ok(conn) => Ok((
                Self {
                    conn: Mutex::new(conn),
                },
                None,
            )),
            Err(Failure::Corrupt(why)) => {
                let kept = crate::recovery::set_aside(path)?;
                for side in ["-wal", "-shm"] {
                    let mut name = path.as_os_str().to_owned();
                    name.push(side);
                    let side_path = std::path::PathBuf::from(name);
                    if side_path.exists() {
                        let mut kept_side = kept.as_os_str().to_owned();
                        kept_side.push(side);
                        std::fs::rename(&side_path, kept_side)?;
                    }
                }
                let db = Self::open(path)?;
                let notice = format!(
                    "Your conversation history could not be read ({}), so Woolly started a new \
                     one. The damaged file was kept as {}.",
                    why,
                    kept.display()
                );
                Ok((db, Some(notice)))
            }
            Err(Failure::Other(e)) => Err(e),
        }
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

/// Connects and migrates; a file that is not a database or fails SQLite's quick check
/// (which reads every page: corruption found now rather than in the middle of a reply) is
/// reported as corrupt.
fn connect(path: &Path) -> Result<Connection, Failure> {
    let mut conn = Connection::open(path)?;
    // WAL + NORMAL: a killed app loses nothing that was committed; readers never block
    // the writer that streams a reply.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let check: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(Failure::Corrupt(format!("integrity check: {check}")));
    }
    migrations::migrate(&mut conn)?;
    Ok(conn)
}

/// Why the database did not open: damaged (kept aside at start-up) or anything else.
enum Failure {
    Corrupt(String),
    Other(AppError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DatabaseCorrupt | C::NotADatabase) => Failure::Corrupt(e.to_string()),
            _ => Failure::Other(e.into()),
        }
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
