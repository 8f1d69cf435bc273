//! Settings as a versioned JSON file, replaced atomically (temp file, fsync, rename).

use crate::error::{AppError, AppResult};
use crate::types::Settings;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// The file format this build writes; older versions are upgraded on read.
pub const SETTINGS_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct SettingsFile {
    version: u32,
    settings: serde_json::Value,
}

/// Reads the settings, falling back to defaults for a missing file, and to defaults for
/// any field that is missing or unreadable (a newer or hand-edited file never blocks start-up).
pub fn load(path: &Path) -> Settings {
    read(path).unwrap_or_default()
}

/// [`load`] at start-up: a file that cannot be read as settings at all is kept aside
/// (renamed with a timestamp, see [`crate::recovery`]) and the defaults are used, with a
/// notice for the user saying so.
pub fn load_recovering(path: &Path) -> (Settings, Option<String>) {
    match read(path) {
        Ok(s) => (s, None),
        Err(()) => {
            let notice = match crate::recovery::set_aside(path) {
                Ok(kept) => format!(
                    "Your settings file could not be read, so Woolly started with the default \
                     settings. The unreadable file was kept as {}.",
                    kept.display()
                ),
                Err(e) => format!(
                    "Your settings file could not be read ({e}), so Woolly started with the \
                     default settings."
                ),
            };
            (Settings::default(), Some(notice))
        }
    }
}

/// The settings in `path`: defaults for a missing file, `Err` for one that is not a
/// settings file (not JSON, or a field of the wrong type).
fn read(path: &Path) -> Result<Settings, ()> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
        Err(_) => return Err(()),
    };
    let file = serde_json::from_slice::<SettingsFile>(&bytes).map_err(drop)?;
    let mut merged = serde_json::to_value(Settings::default()).unwrap_or_default();
    merge(&mut merged, file.settings);
    serde_json::from_value(merged).map_err(drop)
}

fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

pub fn validate(s: &Settings) -> AppResult<()> {
    if s.threads == Some(0) {
        return Err(AppError::invalid(
            "Threads must be a positive whole number.",
        ));
    }
    if s.memory_limit_bytes == Some(0) {
        return Err(AppError::invalid(
            "The memory limit must be more than 0 bytes.",
        ));
    }
    if s.unload_after_minutes == Some(0) {
        return Err(AppError::invalid(
            "Unload after idle minutes must be at least 1 (or empty to keep the model loaded).",
        ));
    }
    s.default_params.validate().map_err(AppError::invalid)
}

pub fn save(path: &Path, settings: &Settings) -> AppResult<()> {
    let file = SettingsFile {
        version: SETTINGS_VERSION,
        settings: serde_json::to_value(settings).map_err(|e| AppError::internal(e.to_string()))?,
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| AppError::internal(e.to_string()))?;
    write_atomic(path, &json)?;
    Ok(())
}

/// Writes `bytes` to a temporary file next to `path`, syncs it, then renames it over `path`:
/// a crash leaves either the old or the new file, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable (best effort: not every platform can open a dir).
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/settings.json");
        assert_eq!(load(&path), Settings::default());
        let mut s = Settings {
            threads: Some(2),
            ..Settings::default()
        };
        s.default_params.temperature = 0.0;
        save(&path, &s).unwrap();
        assert_eq!(load(&path), s);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        // A partial file keeps the defaults for what it lacks.
        std::fs::write(
            &path,
            r#"{"version":1,"settings":{"theme":"dark","defaultParams":{"topK":7}}}"#,
        )
        .unwrap();
        let s = load(&path);
        assert_eq!(s.theme, crate::types::Theme::Dark);
        assert_eq!(s.default_params.top_k, 7);
        assert_eq!(s.default_params.max_tokens, 1024);
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(load(&path), Settings::default());
        assert!(std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
    }
}
