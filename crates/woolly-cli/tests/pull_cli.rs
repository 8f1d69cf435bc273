//! `woolly pull` against a real HTTP server on 127.0.0.1 serving the test model, with
//! the faults users meet: a dropped connection, a wrong hash, a missing file.

mod common;
#[path = "../../woolly-hub/tests/support/mod.rs"]
mod support;

use std::collections::VecDeque;
use std::sync::Mutex;
use support::{Faults, TestServer};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn gguf_files(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".gguf") || name.ends_with(".part") {
            found.push(name);
        }
    }
    found
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn pull_survives_a_dropped_connection_and_verifies() {
    let model = std::fs::read(common::test_model()).unwrap();
    let sha = support::sha256(&model).to_string();
    let len = model.len() as u64;
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let faults = Faults {
        drops: Mutex::new(VecDeque::from([len / 3])),
        ..Faults::default()
    };
    server.serve("/smollm2.gguf", model.clone(), faults);
    let store = tempfile::tempdir().unwrap();

    let out = common::woolly(&[
        "pull",
        &server.url("/smollm2.gguf"),
        "--sha256",
        &sha,
        "--dir",
        store.path().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "pull failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed: Vec<_> = walk(store.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    assert_eq!(
        installed.len(),
        1,
        "one model installed: {:?}",
        gguf_files(store.path())
    );
    assert_eq!(
        std::fs::read(&installed[0]).unwrap(),
        model,
        "installed bytes equal the served file"
    );
    // The second request resumed with a Range after the drop instead of starting over.
    let ranges: Vec<_> = server
        .requests("/smollm2.gguf")
        .into_iter()
        .filter_map(|r| r.range)
        .collect();
    assert!(!ranges.is_empty(), "resumed with a Range request");
}

#[test]
fn pull_with_a_wrong_hash_fails_and_installs_nothing() {
    let model = std::fs::read(common::test_model()).unwrap();
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    server.serve("/smollm2.gguf", model, Faults::default());
    let store = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);

    let out = common::woolly(&[
        "pull",
        &server.url("/smollm2.gguf"),
        "--sha256",
        &wrong,
        "--dir",
        store.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        stderr.contains("sha") || stderr.contains("hash"),
        "message names the hash: {stderr}"
    );
    assert!(
        gguf_files(store.path()).is_empty(),
        "nothing left behind: {:?}",
        gguf_files(store.path())
    );
}

#[test]
fn pull_of_a_missing_file_fails_clearly() {
    let rt = runtime();
    let server = rt.block_on(TestServer::start());
    let store = tempfile::tempdir().unwrap();
    let out = common::woolly(&[
        "pull",
        &server.url("/nope.gguf"),
        "--sha256",
        &"a".repeat(64),
        "--dir",
        store.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("404"), "message gives the status: {stderr}");
    assert!(gguf_files(store.path()).is_empty());
}
