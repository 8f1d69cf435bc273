//! Hugging Face search through the real command layer, against a loopback stand-in of the
//! Hub API (`WOOLLY_HF_ENDPOINT`) serving the recorded shapes of
//! `crates/woolly-hub/tests/fixtures/hf/`: search, a repository's files with fit badges,
//! split models refused, errors as typed codes, and a file downloaded and verified with the
//! SHA-256 from the listing.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::{kinds, test_model, Harness, StandIn};

const SEARCH: &str = include_str!("../../crates/woolly-hub/tests/fixtures/hf/search-gguf.json");
const TREE: &str =
    include_str!("../../crates/woolly-hub/tests/fixtures/hf/tree-qwen2.5-7b-instruct.json");

#[test]
fn hub_search_files_and_download_through_the_commands() {
    let hub = StandIn::start();
    let put = |path: &str, code: u16, body: Vec<u8>| hub.put(path, code, body);
    let model = std::fs::read(test_model()).expect("the test model");
    let sha = woolly_hub::hash::sha256_file(&test_model())
        .unwrap()
        .to_string();
    put("/api/models", 200, SEARCH.as_bytes().to_vec());
    put(
        "/api/models/bartowski/Qwen2.5-7B-Instruct-GGUF/tree/main",
        200,
        TREE.as_bytes().to_vec(),
    );
    let tree = json!([
        {"type": "file", "oid": "0123456789abcdef0123456789abcdef01234567", "size": 1519, "path": ".gitattributes"},
        {"type": "file", "oid": "1123456789abcdef0123456789abcdef01234567", "size": 135,
         "path": "smol-Q4_1.gguf",
         "lfs": {"oid": sha, "size": model.len(), "pointerSize": 135}}
    ]);
    put(
        "/api/models/org/smol-GGUF/tree/main",
        200,
        serde_json::to_vec(&tree).unwrap(),
    );
    put(
        "/org/smol-GGUF/resolve/main/smol-Q4_1.gguf",
        200,
        model.clone(),
    );
    put("/api/models/org/gated/tree/main", 401, vec![]);
    put("/api/models/org/broken/tree/main", 500, vec![]);
    put("/api/models/org/garbage/tree/main", 200, b"<html>".to_vec());
    // Before the app reads it; this test binary has no other test.
    std::env::set_var("WOOLLY_HF_ENDPOINT", hub.base());

    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());

    let found = h
        .invoke(
            "hub_search",
            json!({ "query": "qwen", "sort": "recent", "limit": 10 }),
        )
        .unwrap();
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 4);
    assert_eq!(found[0]["id"], "bartowski/Qwen2.5-7B-Instruct-GGUF");
    assert_eq!(found[0]["downloads"], 184_213);
    assert_eq!(found[0]["lastModified"], 1_726_712_181_000_i64);
    assert_eq!(found[2]["gated"], true);
    assert_eq!(found[3]["lastModified"], Value::Null);
    let err = h
        .invoke("hub_search", json!({ "query": "qwen", "sort": "trending" }))
        .unwrap_err();
    assert!(
        err.to_string().contains("hub_search") || err.to_string().contains("sort"),
        "{err}"
    );

    let files = h
        .invoke(
            "hub_files",
            json!({ "repo": "bartowski/Qwen2.5-7B-Instruct-GGUF" }),
        )
        .unwrap();
    let files = files.as_array().unwrap();
    let quants: Vec<&str> = files
        .iter()
        .map(|f| f["quantization"].as_str().unwrap())
        .collect();
    assert_eq!(quants, ["IQ4_XS", "Q4_K_M", "Q8_0", "F16"]);
    let q4 = &files[1];
    assert_eq!(q4["fileName"], "Qwen2.5-7B-Instruct-Q4_K_M.gguf");
    assert_eq!(q4["sizeBytes"], 4_683_073_888_u64);
    assert_eq!(q4["downloadable"], true);
    assert!(
        ["fits", "tight", "too_big"].contains(&q4["fit"]["verdict"].as_str().unwrap()),
        "{q4}"
    );
    assert!(q4["fit"]["requiredBytes"].as_u64().unwrap() > 4_683_073_888);
    let split = &files[2];
    assert_eq!(split["split"], json!({ "parts": 2, "present": 2 }));
    assert_eq!(split["downloadable"], false);
    assert!(
        split["note"]
            .as_str()
            .unwrap()
            .contains("Split into 2 files"),
        "{split}"
    );

    // A split model is refused even when asked for directly.
    let (_, ch) = h.channel();
    let err = h
        .invoke(
            "download_model",
            json!({ "source": { "kind": "hub", "repo": "bartowski/Qwen2.5-7B-Instruct-GGUF",
                    "file": split["path"] }, "onProgress": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("single-file"),
        "{err}"
    );

    // Errors reach the UI as codes with a message.
    for (repo, code) in [
        ("org/gated", "unauthorized"),
        ("org/missing", "not_found"),
        ("org/broken", "unreachable"),
        ("org/garbage", "bad_response"),
        ("../etc", "invalid_argument"),
    ] {
        let err = h.invoke("hub_files", json!({ "repo": repo })).unwrap_err();
        assert_eq!(err["code"], code, "{repo}: {err}");
        assert!(!err["message"].as_str().unwrap().is_empty());
    }

    // A listed file: downloaded, verified with the listing's SHA-256, installed.
    let files = h
        .invoke("hub_files", json!({ "repo": "org/smol-GGUF" }))
        .unwrap();
    assert_eq!(files[0]["sha256"], sha.as_str());
    assert_eq!(files[0]["installedId"], Value::Null);
    let (id, ch) = h.channel();
    let info = h
        .invoke(
            "download_model",
            json!({ "source": { "kind": "hub", "repo": "org/smol-GGUF",
                    "file": "smol-Q4_1.gguf" }, "onProgress": ch }),
        )
        .unwrap();
    assert_eq!(info["totalBytes"], model.len());
    assert!(
        h.wait_for(id, Duration::from_secs(120), |e| e
            .iter()
            .any(|e| e["event"] == "finished" || e["event"] == "error")),
        "no end: {:?}",
        kinds(&h.events(id))
    );
    let events = h.events(id);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished", "{last}");
    assert_eq!(last["data"]["model"]["sha256"], sha.as_str());
    let files = h
        .invoke("hub_files", json!({ "repo": "org/smol-GGUF" }))
        .unwrap();
    assert_eq!(files[0]["installedId"], "smol-Q4_1.gguf");
}
