//! The shipped catalog, its memory figures, and downloads that take their hash from the
//! Hub's file listing (served on loopback).

mod support;

use support::*;
use woolly_hub::catalog::CatalogEntry;
use woolly_hub::{
    Catalog, DownloadControl, Downloader, Fit, HfApi, HubError, ModelStore, SystemMemory,
};

#[test]
fn the_builtin_catalog_is_valid_and_complete() {
    let c = Catalog::builtin().unwrap();
    let ids: Vec<&str> = c.models.iter().map(|m| m.id.as_str()).collect();
    for family in [
        "smollm2-135m",
        "smollm2-360m",
        "smollm2-1.7b",
        "qwen2.5-0.5b",
        "qwen2.5-1.5b",
        "qwen2.5-3b",
        "qwen2.5-7b",
        "llama-3.2-1b",
        "llama-3.2-3b",
        "mistral-7b",
    ] {
        assert!(
            ids.iter().any(|id| id.starts_with(family)),
            "{family} missing"
        );
    }
    for m in &c.models {
        assert!(m.url.starts_with("https://huggingface.co/"), "{}", m.id);
        assert!(
            m.url.ends_with(&format!("/resolve/main/{}", m.file)),
            "{}",
            m.id
        );
        // The memory figure is the fit formula's, within rounding.
        let est = m.estimate(m.memory.context).total;
        assert!(
            est.abs_diff(m.memory.bytes) * 100 <= est,
            "{}: {} vs {est}",
            m.id,
            m.memory.bytes
        );
        assert!(m.memory.bytes > m.size_bytes);
    }
    let smol = c.get("smollm2-135m-instruct-q4_1").unwrap();
    assert_eq!(smol.size_bytes, 98_362_432);
    assert_eq!(
        smol.sha256.as_ref().unwrap().as_str(),
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    );
}

#[test]
fn catalog_fit_check_says_fits_tight_or_too_big() {
    let c = Catalog::builtin().unwrap();
    let small = c.get("smollm2-135m-instruct-q4_1").unwrap();
    let big = c.get("qwen2.5-7b-instruct-q4_k_m").unwrap();
    let laptop = SystemMemory {
        total_ram: 8 << 30,
        available_ram: 5 << 30,
        gpu_memory: None,
    };
    assert_eq!(small.fit(4096, &laptop).fit, Fit::Fits);
    assert_eq!(big.fit(4096, &laptop).fit, Fit::Tight);
    let tiny = SystemMemory {
        total_ram: 4 << 30,
        available_ram: 2 << 30,
        gpu_memory: None,
    };
    let r = big.fit(4096, &tiny);
    assert_eq!(r.fit, Fit::TooBig);
    assert!(r.needed > r.budget);
    // A longer context costs KV cache; the context is capped at the model's maximum.
    assert!(big.estimate(32768).kv_cache == 8 * big.estimate(4096).kv_cache);
    assert_eq!(big.estimate(1 << 30).context, 32768);
}

#[test]
fn invalid_catalogs_are_refused() {
    let good =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/catalog.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["models"][0]["url"] = serde_json::json!("https://evil.example/x.gguf");
    assert!(Catalog::from_json(&v.to_string()).is_err());
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["models"][0]["file"] = serde_json::json!("../x.gguf");
    assert!(Catalog::from_json(&v.to_string()).is_err());
    let mut v: serde_json::Value = serde_json::from_str(&good).unwrap();
    v["version"] = serde_json::json!(99);
    assert!(Catalog::from_json(&v.to_string()).is_err());
    assert!(Catalog::from_json("{").is_err());
}

fn entry(repo: &str, file: &str, size: u64) -> CatalogEntry {
    let mut e = Catalog::builtin()
        .unwrap()
        .get("smollm2-135m-instruct-q4_1")
        .unwrap()
        .clone();
    e.repo = repo.into();
    e.file = file.into();
    e.url = format!("https://huggingface.co/{repo}/resolve/main/{file}");
    e.size_bytes = size;
    e.sha256 = None;
    e
}

fn listing(file: &str, lfs_oid: Option<&str>, size: usize) -> Vec<u8> {
    let mut item = serde_json::json!({"type": "file", "oid": "0123456789abcdef0123456789abcdef01234567", "size": size, "path": file});
    if let Some(oid) = lfs_oid {
        item["lfs"] = serde_json::json!({"oid": oid, "size": size, "pointerSize": 135});
    }
    serde_json::to_vec(
        &serde_json::json!([{"type": "file", "oid": "x", "size": 10, "path": "README.md"}, item]),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_entry_without_a_pinned_hash_uses_the_hub_listing() {
    let model = tiny_gguf(50);
    let server = TestServer::start().await;
    let sha = sha256(&model);
    server.serve(
        "/api/models/org/repo/tree/main",
        listing("tiny.gguf", Some(sha.as_str()), model.len()),
        Faults::default(),
    );
    server.serve(
        "/org/repo/resolve/main/tiny.gguf",
        model.clone(),
        Faults::default(),
    );
    let hub = HfApi::new(&server.url("")).unwrap();
    let dl = Downloader::new(fast_options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();

    let m = store
        .download_catalog_entry(
            &dl,
            &hub,
            &entry("org/repo", "tiny.gguf", model.len() as u64),
            &DownloadControl::new(),
            &mut |_| {},
        )
        .await
        .unwrap();

    assert_eq!(m.sha256, sha);
    assert_eq!(std::fs::read(&m.path).unwrap(), model);
    let paths: Vec<String> = server.all_requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/api/models/org/repo/tree/main",
            "/org/repo/resolve/main/tiny.gguf"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_listing_hash_is_enforced() {
    let model = tiny_gguf(50);
    let server = TestServer::start().await;
    let wrong = sha256(b"something else");
    server.serve(
        "/api/models/org/repo/tree/main",
        listing("tiny.gguf", Some(wrong.as_str()), model.len()),
        Faults::default(),
    );
    server.serve(
        "/org/repo/resolve/main/tiny.gguf",
        model.clone(),
        Faults::default(),
    );
    let hub = HfApi::new(&server.url("")).unwrap();
    let dl = Downloader::new(fast_options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();

    let err = store
        .download_catalog_entry(
            &dl,
            &hub,
            &entry("org/repo", "tiny.gguf", 1),
            &DownloadControl::new(),
            &mut |_| {},
        )
        .await
        .unwrap_err();

    assert!(
        matches!(&err, HubError::HashMismatch { expected, .. } if expected == wrong.as_str()),
        "{err:?}"
    );
    assert!(store.list().unwrap().is_empty());
    assert!(!dir.path().join("tiny.gguf").exists() && no_part_files(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hash_in_the_listing_means_no_download() {
    let server = TestServer::start().await;
    server.serve(
        "/api/models/org/repo/tree/main",
        listing("tiny.gguf", None, 10),
        Faults::default(),
    );
    server.serve(
        "/api/models/org/gated/tree/main",
        vec![],
        Faults {
            always_status: Some(401),
            ..Faults::default()
        },
    );
    let hub = HfApi::new(&server.url("")).unwrap();
    let dl = Downloader::new(fast_options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();
    let control = DownloadControl::new();

    let err = store
        .download_catalog_entry(
            &dl,
            &hub,
            &entry("org/repo", "tiny.gguf", 1),
            &control,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::MissingHash { .. }), "{err:?}");
    let err = store
        .download_catalog_entry(
            &dl,
            &hub,
            &entry("org/repo", "absent.gguf", 1),
            &control,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, HubError::HubApi { .. }) && err.to_string().contains("absent.gguf"),
        "{err}"
    );
    let err = store
        .download_catalog_entry(
            &dl,
            &hub,
            &entry("org/gated", "x.gguf", 1),
            &control,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("401") && err.to_string().contains("token"),
        "{err}"
    );
    // Only listings were requested: nothing was downloaded unverified.
    assert!(server
        .all_requests()
        .iter()
        .all(|r| r.path.starts_with("/api/")));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
