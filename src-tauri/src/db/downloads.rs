//! Download records, so paused and failed downloads are still listed after a restart.

use super::{now_ms, Db};
use crate::error::AppResult;
use crate::types::{DownloadInfo, DownloadStatus};
use rusqlite::{params, Row};

#[derive(Debug, Clone)]
pub struct DownloadRow {
    pub id: String,
    pub catalog_id: Option<String>,
    pub name: String,
    /// The file name in the model store.
    pub file_name: String,
    pub url: String,
    pub sha256: String,
    pub status: DownloadStatus,
    pub downloaded_bytes: u64,
    pub total_bytes: u64,
    pub error: Option<String>,
}

impl DownloadRow {
    pub fn info(&self) -> DownloadInfo {
        DownloadInfo {
            id: self.id.clone(),
            catalog_id: self.catalog_id.clone(),
            name: self.name.clone(),
            url: self.url.clone(),
            status: self.status,
            downloaded_bytes: self.downloaded_bytes,
            total_bytes: self.total_bytes,
            bytes_per_second: 0.0,
            eta_seconds: None,
            error: self.error.clone(),
        }
    }
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<DownloadRow> {
    Ok(DownloadRow {
        id: r.get(0)?,
        catalog_id: r.get(1)?,
        name: r.get(2)?,
        file_name: r.get(3)?,
        url: r.get(4)?,
        sha256: r.get(5)?,
        status: DownloadStatus::parse(&r.get::<_, String>(6)?),
        downloaded_bytes: r.get::<_, i64>(7)?.max(0) as u64,
        total_bytes: r.get::<_, i64>(8)?.max(0) as u64,
        error: r.get(9)?,
    })
}

impl Db {
    pub fn downloads(&self) -> AppResult<Vec<DownloadRow>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, catalog_id, name, file_name, url, sha256, status, downloaded_bytes, total_bytes, error
             FROM downloads ORDER BY created_at",
        )?;
        let rows = stmt.query_map([], from_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn save_download(&self, d: &DownloadRow) -> AppResult<()> {
        self.lock().execute(
            "INSERT INTO downloads (id, catalog_id, name, file_name, url, sha256, status, downloaded_bytes, total_bytes, error, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(id) DO UPDATE SET status = excluded.status, downloaded_bytes = excluded.downloaded_bytes,
                total_bytes = excluded.total_bytes, error = excluded.error",
            params![
                d.id,
                d.catalog_id,
                d.name,
                d.file_name,
                d.url,
                d.sha256,
                d.status.as_str(),
                d.downloaded_bytes as i64,
                d.total_bytes as i64,
                d.error,
                now_ms()
            ],
        )?;
        Ok(())
    }

    pub fn delete_download(&self, id: &str) -> AppResult<()> {
        self.lock()
            .execute("DELETE FROM downloads WHERE id = ?1", [id])?;
        Ok(())
    }
}
