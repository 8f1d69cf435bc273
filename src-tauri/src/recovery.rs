//! Start-up recovery: a history database or settings file that cannot be read is kept (renamed
//! with a timestamp, next to where it was) and replaced by a fresh one; the app says so
//! through `SystemInfo.notices`, so nothing is lost silently and start-up never blocks.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Renames `path` to `<name>.broken-<unix seconds>` (a numbered suffix if that exists) and
/// returns the new path.
pub fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut kept = path.with_file_name(format!("{name}.broken-{secs}"));
    let mut n = 1;
    while kept.exists() {
        kept = path.with_file_name(format!("{name}.broken-{secs}-{n}"));
        n += 1;
    }
    std::fs::rename(path, &kept)?;
    Ok(kept)
}

/// What the app recovered from at start-up, for the UI to show.
#[derive(Default)]
pub struct Notices(Mutex<Vec<String>>);

impl Notices {
    pub fn push(&self, notice: String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(notice);
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
