//! The Hugging Face token goes to huggingface.co only: checked per request and per
//! redirect hop. The test maps huggingface.co (and a look-alike) to 127.0.0.1 through the
//! client's resolver, so the real header path is exercised without leaving loopback.

mod support;

use support::*;
use woolly_hub::auth::TokenScope;
use woolly_hub::{DownloadControl, DownloadOptions, DownloadRequest, Downloader};

const TOKEN: &str = "hf_TestTokenNotReal";

async fn fetch(dl: &Downloader, url: String, data: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let req = DownloadRequest {
        url,
        dest: dir.path().join("m.gguf"),
        sha256: sha256(data),
        size_hint: None,
    };
    dl.download(&req, &DownloadControl::new(), &mut |_| {})
        .await
        .unwrap();
}

fn downloader(server: &TestServer, scope: TokenScope) -> Downloader {
    let options = DownloadOptions {
        token_scope: scope,
        resolve: [
            "huggingface.co",
            "cdn-lfs.huggingface.co",
            "huggingface.co.evil.test",
        ]
        .iter()
        .map(|h| (h.to_string(), server.addr))
        .collect(),
        ..fast_options()
    };
    Downloader::new(options)
        .unwrap()
        .with_token(Some(TOKEN.into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_reaches_the_hub_and_nothing_else() {
    let data = payload(1000, 1);
    let server = TestServer::start().await;
    server.serve("/file.gguf", data.clone(), Faults::default());
    let port = server.addr.port();
    // Plain HTTP is allowed here only because the test server cannot speak TLS.
    let dl = downloader(&server, TokenScope::new(["huggingface.co"], true));

    fetch(
        &dl,
        format!("http://huggingface.co:{port}/file.gguf"),
        &data,
    )
    .await;
    fetch(&dl, format!("http://127.0.0.1:{port}/file.gguf"), &data).await;
    fetch(
        &dl,
        format!("http://cdn-lfs.huggingface.co:{port}/file.gguf"),
        &data,
    )
    .await;
    fetch(
        &dl,
        format!("http://huggingface.co.evil.test:{port}/file.gguf"),
        &data,
    )
    .await;

    let seen: Vec<(String, Option<String>)> = server
        .requests("/file.gguf")
        .into_iter()
        .map(|r| {
            (
                r.host.unwrap().split(':').next().unwrap().to_string(),
                r.authorization,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (
                "huggingface.co".to_string(),
                Some(format!("Bearer {TOKEN}"))
            ),
            ("127.0.0.1".to_string(), None),
            ("cdn-lfs.huggingface.co".to_string(), None),
            ("huggingface.co.evil.test".to_string(), None),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_host_does_not_carry_the_token() {
    let data = payload(1000, 2);
    let server = TestServer::start().await;
    let port = server.addr.port();
    server.serve("/blob.gguf", data.clone(), Faults::default());
    server.redirect(
        "/org/repo/resolve/main/m.gguf",
        &format!("http://cdn-lfs.huggingface.co:{port}/blob.gguf"),
    );
    let dl = downloader(&server, TokenScope::new(["huggingface.co"], true));

    fetch(
        &dl,
        format!("http://huggingface.co:{port}/org/repo/resolve/main/m.gguf"),
        &data,
    )
    .await;

    let first = &server.requests("/org/repo/resolve/main/m.gguf")[0];
    assert_eq!(
        first.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let second = &server.requests("/blob.gguf")[0];
    assert!(second
        .host
        .as_deref()
        .unwrap()
        .starts_with("cdn-lfs.huggingface.co"));
    assert_eq!(
        second.authorization, None,
        "the token must not follow the redirect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_token_needs_https() {
    let data = payload(1000, 3);
    let server = TestServer::start().await;
    server.serve("/file.gguf", data.clone(), Faults::default());
    let dl = downloader(&server, TokenScope::default());

    fetch(
        &dl,
        format!("http://huggingface.co:{}/file.gguf", server.addr.port()),
        &data,
    )
    .await;

    assert_eq!(server.requests("/file.gguf")[0].authorization, None);
}
