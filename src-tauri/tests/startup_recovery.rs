//! Start-up with a broken history database or settings file, on real files and real SQLite:
//! the app starts, the broken file is kept (renamed with a timestamp), a fresh one is used,
//! and `system_info` carries a notice saying so.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use support::Harness;
use woolly_desktop::AppPaths;

/// Files in `dir` whose name starts with `prefix` and contains `.broken-`.
fn kept(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(prefix)
                && name.contains(".broken-")
                && !name.ends_with("-wal")
                && !name.ends_with("-shm")
        })
        .collect()
}

fn notices(h: &Harness) -> Vec<String> {
    let info = h.invoke("system_info", json!({})).unwrap();
    serde_json::from_value(info["notices"].clone()).unwrap()
}

/// The app works: a conversation is created and listed.
fn assert_history_works(h: &Harness) {
    let c = h
        .invoke("create_conversation", json!({"title": "after recovery"}))
        .unwrap();
    let list = h.invoke("list_conversations", json!({})).unwrap();
    let ids: Vec<&Value> = list.as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, vec![&c["id"]]);
}

#[test]
fn a_database_that_is_not_sqlite_is_kept_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let paths = AppPaths::under(dir.path());
    std::fs::create_dir_all(&paths.data_dir).unwrap();
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(paths.database(), &garbage).unwrap();

    let h = Harness::open(dir.path());
    let kept = kept(&paths.data_dir, "woolly.db");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        garbage,
        "the broken file, unchanged"
    );
    let notices = notices(&h);
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        notices[0].contains("conversation history could not be read"),
        "{notices:?}"
    );
    assert!(
        notices[0].contains(&kept[0].display().to_string()),
        "{notices:?}"
    );
    assert_history_works(&h);
}

#[test]
fn a_database_with_damaged_pages_is_kept_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let paths = AppPaths::under(dir.path());
    {
        // A real history with enough rows to span many pages, closed cleanly.
        let h = Harness::open(dir.path());
        for i in 0..400 {
            h.invoke(
                "create_conversation",
                json!({"title": format!("conversation {i} {}", "x".repeat(150))}),
            )
            .unwrap();
        }
        assert!(notices(&h).is_empty());
    }
    // Checkpoint the WAL into the main file, then overwrite pages past the header.
    {
        let conn = rusqlite::Connection::open(paths.database()).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let mut bytes = std::fs::read(paths.database()).unwrap();
    assert!(bytes.len() > 8 * 4096, "{} bytes", bytes.len());
    let end = bytes.len() - 4096;
    for b in &mut bytes[4096..end] {
        *b = 0xA5;
    }
    std::fs::write(paths.database(), &bytes).unwrap();

    let h = Harness::open(dir.path());
    let kept = kept(&paths.data_dir, "woolly.db");
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), bytes);
    assert_eq!(notices(&h).len(), 1);
    assert_history_works(&h);
}

#[test]
fn a_healthy_database_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let paths = AppPaths::under(dir.path());
    {
        let h = Harness::open(dir.path());
        assert_history_works(&h);
    }
    let h = Harness::open(dir.path());
    assert!(notices(&h).is_empty());
    assert!(kept(&paths.data_dir, "woolly.db").is_empty());
    let list = h.invoke("list_conversations", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[test]
fn a_corrupt_settings_file_gives_defaults_a_notice_and_is_kept() {
    let defaults = {
        let dir = tempfile::tempdir().unwrap();
        Harness::open(dir.path())
            .invoke("get_settings", json!({}))
            .unwrap()
    };
    for bad in [
        &b"{\"version\": 1, \"settings\": {\"theme\": "[..],
        &b"\xff\xfe not even text"[..],
        // JSON, but a field of the wrong type.
        &br#"{"version": 1, "settings": {"threads": "many"}}"#[..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let paths = AppPaths::under(dir.path());
        std::fs::create_dir_all(&paths.config_dir).unwrap();
        std::fs::write(paths.settings_file(), bad).unwrap();

        let h = Harness::open(dir.path());
        assert_eq!(h.invoke("get_settings", json!({})).unwrap(), defaults);
        let kept = kept(&paths.config_dir, "settings.json");
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(std::fs::read(&kept[0]).unwrap(), bad);
        let notices = notices(&h);
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(
            notices[0].contains("settings file could not be read"),
            "{notices:?}"
        );
        // Saving works and writes a good file again.
        let mut s = defaults.clone();
        s["threads"] = json!(1);
        h.invoke("save_settings", json!({"settings": s})).unwrap();
        assert_eq!(h.invoke("get_settings", json!({})).unwrap()["threads"], 1);
        assert!(paths.settings_file().exists());
    }
}
