//! Small file-system helpers: atomic writes, durable renames, free space.

use crate::error::{HubError, IoContext, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` so that readers see either the old or the new content,
/// never a torn file: a temporary file in the same directory, fsync, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        f.sync_all().at(&tmp)?;
        rename_durable(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Renames within one directory and syncs the directory so the rename survives a crash.
pub fn rename_durable(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).at(to)?;
    sync_dir(to.parent().unwrap_or(Path::new(".")));
    Ok(())
}

/// Best effort: not every platform can open a directory for syncing (Windows cannot).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Headroom kept free beyond the file itself, so a download never fills the disk to 0.
pub const DISK_HEADROOM: u64 = 64 * 1024 * 1024;

/// Fails when `dir`'s file system has less than `needed` bytes (plus headroom) free.
pub fn ensure_free_space(dir: &Path, needed: u64) -> Result<()> {
    let available = fs4::available_space(dir).at(dir)?;
    let needed_total = needed.saturating_add(DISK_HEADROOM);
    if available < needed_total {
        return Err(HubError::InsufficientDisk {
            path: dir.to_path_buf(),
            needed: needed_total,
            available,
        });
    }
    Ok(())
}
