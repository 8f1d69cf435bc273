//! Hugging Face search and repository file lists against a loopback stand-in of the Hub API
//! serving recorded response shapes (`tests/fixtures/hf/`), then a listed file downloaded
//! and verified with the SHA-256 the listing gave.

mod support;

use support::*;
use woolly_hub::hf::{quantization_from_name, split_part, SplitInfo};
use woolly_hub::{
    DownloadControl, DownloadOptions, Downloader, HfApi, HubError, HubFailure, ModelStore,
    SearchSort,
};

const SEARCH: &str = include_str!("fixtures/hf/search-gguf.json");
const TREE: &str = include_str!("fixtures/hf/tree-qwen2.5-7b-instruct.json");
const REPO: &str = "bartowski/Qwen2.5-7B-Instruct-GGUF";

fn hub(server: &TestServer) -> HfApi {
    HfApi::new(&server.url("")).unwrap()
}

/// A downloader whose token may go to this stand-in (as the app builds it).
fn downloader(hub: &HfApi, token: Option<&str>) -> Downloader {
    Downloader::new(DownloadOptions {
        token_scope: hub.token_scope(),
        ..fast_options()
    })
    .unwrap()
    .with_token(token.map(str::to_string))
}

fn query_pairs(q: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn failure(e: &HubError) -> HubFailure {
    match e {
        HubError::HubRequest { kind, .. } => *kind,
        other => panic!("expected a Hub request error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_reads_the_recorded_shape_and_passes_the_sort_through() {
    let server = TestServer::start().await;
    server.serve("/api/models", SEARCH.as_bytes().to_vec(), Faults::default());
    let hub = hub(&server);
    let dl = downloader(&hub, None);

    let repos = hub
        .search(&dl, "  qwen 7b ", SearchSort::Downloads, 20)
        .await
        .unwrap();
    let ids: Vec<&str> = repos.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            REPO,
            "Qwen/Qwen2.5-7B-Instruct-GGUF",
            "google/gemma-2-2b-it-GGUF",
            "someone/qwen-merge-GGUF"
        ]
    );
    assert_eq!(repos[0].downloads, 184_213);
    assert_eq!(repos[0].likes, 112);
    assert_eq!(
        repos[0].last_modified.as_deref(),
        Some("2024-09-19T02:16:21.000Z")
    );
    assert!(!repos[0].gated && !repos[0].private);
    assert!(repos[2].gated, "gated: \"manual\" is gated");
    // The default shape (no expand): modelId, no lastModified.
    assert_eq!(repos[3].downloads, 12);
    assert_eq!(repos[3].last_modified, None);

    hub.search(&dl, "qwen", SearchSort::Recent, 500)
        .await
        .unwrap();
    let logged = server.requests("/api/models");
    assert_eq!(logged.len(), 2);
    let first = query_pairs(logged[0].query.as_deref().unwrap());
    let has = |q: &[(String, String)], k: &str, v: &str| q.iter().any(|(a, b)| a == k && b == v);
    for (k, v) in [
        ("search", "qwen 7b"),
        ("filter", "gguf"),
        ("sort", "downloads"),
        ("direction", "-1"),
        ("limit", "20"),
        ("expand[]", "lastModified"),
        ("expand[]", "gated"),
        ("expand[]", "downloads"),
    ] {
        assert!(has(&first, k, v), "{k}={v} missing from {first:?}");
    }
    let second = query_pairs(logged[1].query.as_deref().unwrap());
    assert!(has(&second, "sort", "lastModified"), "{second:?}");
    assert!(
        has(&second, "limit", "100"),
        "the limit is capped: {second:?}"
    );
    assert!(logged.iter().all(|l| l.authorization.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_sent_when_set() {
    let server = TestServer::start().await;
    server.serve("/api/models", SEARCH.as_bytes().to_vec(), Faults::default());
    server.serve(
        &format!("/api/models/{REPO}/tree/main"),
        TREE.as_bytes().to_vec(),
        Faults::default(),
    );
    let hub = hub(&server);
    let dl = downloader(&hub, Some("hf_test_token"));
    hub.search(&dl, "qwen", SearchSort::Downloads, 5)
        .await
        .unwrap();
    hub.gguf_files(&dl, REPO).await.unwrap();
    let logged = server.all_requests();
    assert_eq!(logged.len(), 2);
    for l in logged {
        assert_eq!(
            l.authorization.as_deref(),
            Some("Bearer hf_test_token"),
            "{}",
            l.path
        );
    }
    // The real Hub's scope never covers a look-alike or plain HTTP.
    let real = HfApi::default().token_scope();
    assert!(real.allows_str("https://huggingface.co/api/models"));
    assert!(!real.allows_str("http://huggingface.co/api/models"));
    assert!(!real.allows_str(&server.url("/api/models")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_files_come_with_quantization_size_hash_and_split_parts_grouped() {
    let server = TestServer::start().await;
    server.serve(
        &format!("/api/models/{REPO}/tree/main"),
        TREE.as_bytes().to_vec(),
        Faults::default(),
    );
    let hub = hub(&server);
    let files = hub.gguf_files(&downloader(&hub, None), REPO).await.unwrap();
    let q = server.requests(&format!("/api/models/{REPO}/tree/main"));
    assert_eq!(q[0].query.as_deref(), Some("recursive=true"));

    let summary: Vec<(&str, Option<&str>, u64, Option<SplitInfo>)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.quantization.as_deref(), f.size, f.split))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "Qwen2.5-7B-Instruct-IQ4_XS.gguf",
                Some("IQ4_XS"),
                4_218_832_160,
                None
            ),
            (
                "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
                Some("Q4_K_M"),
                4_683_073_888,
                None
            ),
            (
                "Qwen2.5-7B-Instruct-Q8_0/Qwen2.5-7B-Instruct-Q8_0-00001-of-00002.gguf",
                Some("Q8_0"),
                4_997_340_032 + 3_098_850_176,
                Some(SplitInfo {
                    parts: 2,
                    present: 2
                })
            ),
            (
                "Qwen2.5-7B-Instruct-f16.gguf",
                Some("F16"),
                15_237_853_600,
                None
            ),
        ]
    );
    // lfs.oid, never the git blob oid.
    assert_eq!(
        files[1].sha256.as_ref().unwrap().as_str(),
        "65b8fcd92af6b4fefa935c625d1ac27ea29dcb6ee14589c55a8f115ceaaa1423"
    );
    assert_eq!(
        files[2].sha256.as_ref().unwrap().as_str(),
        "1d8e6b2f5c4a39788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
    );
}

#[test]
fn quantization_and_split_names() {
    for (name, q) in [
        ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", Some("Q4_K_M")),
        ("llama-3.2-1b-instruct-q8_0.gguf", Some("Q8_0")),
        ("Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf", Some("IQ4_XS")),
        ("gemma-2-2b-it-IQ2_XXS.gguf", Some("IQ2_XXS")),
        ("model-bf16.gguf", Some("BF16")),
        ("model.F16.gguf", Some("F16")),
        ("Qwen3-8B-UD-Q4_K_XL.gguf", Some("Q4_K_XL")),
        ("phi-4-Q4_0_4_4.gguf", Some("Q4_0_4_4")),
        ("SmolLM2-135M-Instruct.Q4_1.gguf", Some("Q4_1")),
        ("sub/dir/x-Q6_K-00001-of-00003.gguf", Some("Q6_K")),
        ("ggml-model.gguf", None),
        ("nota-Q4_K_Mx.gguf", None),
        ("ÜBER-Q5_K_S.gguf", Some("Q5_K_S")),
    ] {
        assert_eq!(quantization_from_name(name).as_deref(), q, "{name}");
    }
    assert_eq!(split_part("a/x-Q8_0-00001-of-00003.gguf"), Some((1, 3)));
    assert_eq!(split_part("x-00003-of-00003.GGUF"), Some((3, 3)));
    for not_split in [
        "x.gguf",
        "x-00004-of-00003.gguf",
        "x-00000-of-00003.gguf",
        "x-00001-of-00001.gguf",
        "x-of-00003.gguf",
        "x-0001a-of-00003.gguf",
        "x-00001-of-00003.bin",
        "of-.gguf",
    ] {
        assert_eq!(split_part(not_split), None, "{not_split}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_typed_and_say_what_happened() {
    let server = TestServer::start().await;
    let status = |code| Faults {
        always_status: Some(code),
        ..Faults::default()
    };
    server.serve("/api/models/org/gated/tree/main", vec![], status(401));
    server.serve("/api/models/org/forbidden/tree/main", vec![], status(403));
    server.serve("/api/models/org/broken/tree/main", vec![], status(500));
    server.serve("/api/models/org/busy/tree/main", vec![], status(429));
    server.serve(
        "/api/models/org/garbage/tree/main",
        b"<html>not json</html>".to_vec(),
        Faults::default(),
    );
    server.serve(
        "/api/models/org/badhash/tree/main",
        br#"[{"type":"file","path":"x-Q4_0.gguf","size":1,"lfs":{"oid":"nothex","size":1}}]"#
            .to_vec(),
        Faults::default(),
    );
    server.serve(
        "/api/models",
        b"{\"error\":\"x\"}".to_vec(),
        Faults::default(),
    );
    let hub = hub(&server);
    let dl = downloader(&hub, None);

    for (repo, kind, words) in [
        ("org/gated", HubFailure::Unauthorized, "gated or private"),
        ("org/forbidden", HubFailure::Unauthorized, "token"),
        ("org/missing", HubFailure::NotFound, "no such repository"),
        ("org/broken", HubFailure::Unavailable, "try again later"),
        ("org/busy", HubFailure::Unavailable, "too many requests"),
        ("org/garbage", HubFailure::BadResponse, "unexpected JSON"),
        ("org/badhash", HubFailure::BadResponse, "bad lfs.oid"),
    ] {
        let e = hub.gguf_files(&dl, repo).await.unwrap_err();
        assert_eq!(failure(&e), kind, "{repo}: {e}");
        assert!(e.to_string().contains(words), "{repo}: {e}");
    }
    let e = hub
        .search(&dl, "x", SearchSort::Downloads, 5)
        .await
        .unwrap_err();
    assert_eq!(failure(&e), HubFailure::BadResponse, "{e}");

    // Names that could reach another path are refused before any request.
    let before = server.all_requests().len();
    for bad in ["../etc", "org/../x", "org/x?y=1", "justone", "a/b/c"] {
        let e = hub.gguf_files(&dl, bad).await.unwrap_err();
        assert_eq!(failure(&e), HubFailure::Refused, "{bad}");
    }
    assert_eq!(server.all_requests().len(), before);

    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gone = HfApi::new(&format!("http://{closed}")).unwrap();
    let e = gone
        .search(&downloader(&gone, None), "x", SearchSort::Downloads, 5)
        .await
        .unwrap_err();
    assert_eq!(failure(&e), HubFailure::Unreachable, "{e}");
    assert!(e.to_string().contains("could not reach the Hub"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_file_downloads_verified_with_the_listed_hash() {
    let model = tiny_gguf(40);
    let sha = sha256(&model);
    let tree = serde_json::json!([
        {"type": "file", "oid": "0123456789abcdef0123456789abcdef01234567", "size": 135,
         "path": "tiny-Q8_0.gguf", "lfs": {"oid": sha.as_str(), "size": model.len(), "pointerSize": 135}}
    ]);
    let server = TestServer::start().await;
    server.serve(
        "/api/models/org/tiny-GGUF/tree/main",
        serde_json::to_vec(&tree).unwrap(),
        Faults::default(),
    );
    server.serve(
        "/org/tiny-GGUF/resolve/main/tiny-Q8_0.gguf",
        model.clone(),
        Faults::default(),
    );
    let hub = hub(&server);
    let dl = downloader(&hub, None);
    let files = hub.gguf_files(&dl, "org/tiny-GGUF").await.unwrap();
    assert_eq!(files.len(), 1);
    let f = &files[0];
    assert_eq!(f.size, model.len() as u64);
    let url = hub.resolve_url("org/tiny-GGUF", "main", &f.path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path()).unwrap();
    let m = store
        .download(
            &dl,
            &url,
            f.sha256.clone().unwrap(),
            Some(f.size),
            &DownloadControl::new(),
            &mut |_| {},
        )
        .await
        .unwrap();
    assert_eq!(m.sha256, sha);
    assert_eq!(std::fs::read(&m.path).unwrap(), model);
}
