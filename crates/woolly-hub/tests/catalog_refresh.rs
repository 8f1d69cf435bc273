//! The signed catalog refresh against a real HTTP server on loopback, with real minisign
//! signatures made at test time by throwaway keys (the `minisign` crate, independent of the
//! verifier): a signed catalog is taken; a tampered, unsigned, foreign-signed or unusable one
//! is refused with a clear error and the catalog in use stays as it was.

mod support;

use std::io::Cursor;
use support::*;
use woolly_hub::refresh::CATALOG_KEYS;
use woolly_hub::{Catalog, CatalogCache, CatalogKeys, DownloadOptions, Downloader, HubError};

struct Signer(minisign::KeyPair);

impl Signer {
    fn new() -> Self {
        Signer(minisign::KeyPair::generate_unencrypted_keypair().unwrap())
    }
    fn keys(&self) -> CatalogKeys {
        CatalogKeys::parse(&[&self.0.pk.to_base64()]).unwrap()
    }
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        minisign::sign(Some(&self.0.pk), &self.0.sk, Cursor::new(data), None, None)
            .unwrap()
            .into_string()
            .into_bytes()
    }
}

/// The shipped catalog plus one model it does not have.
fn newer_catalog() -> Vec<u8> {
    let mut c = Catalog::builtin().unwrap();
    let mut extra = c.models[0].clone();
    extra.id = "refresh-test-model".into();
    extra.name = "Refresh Test Model".into();
    c.models.push(extra);
    serde_json::to_vec_pretty(&c).unwrap()
}

fn downloader() -> Downloader {
    Downloader::new(DownloadOptions::default()).unwrap()
}

fn ids(c: &Catalog) -> Vec<String> {
    c.models.iter().map(|m| m.id.clone()).collect()
}

#[tokio::test]
async fn a_signed_catalog_is_taken_and_survives_a_restart() {
    let server = TestServer::start().await;
    let signer = Signer::new();
    let body = newer_catalog();
    server.serve("/c/catalog.json", body.clone(), Faults::default());
    server.serve("/c/catalog.json.sig", signer.sign(&body), Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let cache = CatalogCache::new(dir.path().join("sub/catalog.signed.json"));
    let keys = signer.keys();
    // Before any refresh: the catalog compiled in.
    assert_eq!(cache.current(&keys).unwrap(), Catalog::builtin().unwrap());
    assert!(cache.load(&keys).is_none());

    let refreshed = cache
        .refresh(&downloader(), &server.url("/c/catalog.json"), &keys)
        .await
        .unwrap();
    assert!(ids(&refreshed.catalog).contains(&"refresh-test-model".to_string()));
    assert!(refreshed.fetched_at_ms > 0);
    // A new cache object over the same file (the next start of the app) reads it back.
    let again = CatalogCache::new(cache.path());
    assert_eq!(again.load(&keys).unwrap(), refreshed);
    assert_eq!(again.current(&keys).unwrap(), refreshed.catalog);
    // A build that trusts other keys does not take the cached catalog.
    assert_eq!(
        again.current(&Signer::new().keys()).unwrap(),
        Catalog::builtin().unwrap()
    );
    assert_eq!(server.requests("/c/catalog.json.sig").len(), 1);
}

/// Runs a refresh that must fail: the error is `CatalogRefused` (or `CatalogFetch` when
/// `fetch` is set), its message contains `says`, and the cache file is byte for byte the same.
async fn refused(
    cache: &CatalogCache,
    url: &str,
    keys: &CatalogKeys,
    says: &str,
    fetch: bool,
) -> String {
    let before = std::fs::read(cache.path()).ok();
    let err = cache.refresh(&downloader(), url, keys).await.unwrap_err();
    let message = err.to_string();
    match (&err, fetch) {
        (HubError::CatalogRefused { .. }, false) | (HubError::CatalogFetch { .. }, true) => {}
        _ => panic!("unexpected error kind: {err:?}"),
    }
    assert!(message.contains(says), "{message}");
    assert!(message.contains("the current catalog is kept"), "{message}");
    assert_eq!(
        std::fs::read(cache.path()).ok(),
        before,
        "the cache changed"
    );
    message
}

#[tokio::test]
async fn a_tampered_unsigned_or_foreign_catalog_keeps_the_old_one() {
    let server = TestServer::start().await;
    let signer = Signer::new();
    let keys = signer.keys();
    let dir = tempfile::tempdir().unwrap();
    let cache = CatalogCache::new(dir.path().join("catalog.signed.json"));
    // A good refresh first: that is the catalog every failure below must keep.
    let good = newer_catalog();
    server.serve("/good.json", good.clone(), Faults::default());
    server.serve("/good.json.sig", signer.sign(&good), Faults::default());
    let kept = cache
        .refresh(&downloader(), &server.url("/good.json"), &keys)
        .await
        .unwrap();

    // Tampered: one byte of the signed catalog changed (a model's size), signature as is.
    let mut tampered = good.clone();
    let at = String::from_utf8_lossy(&tampered)
        .find("\"size_bytes\": ")
        .unwrap()
        + "\"size_bytes\": ".len();
    tampered[at] = if tampered[at] == b'9' { b'8' } else { b'9' };
    server.serve("/tampered.json", tampered, Faults::default());
    server.serve("/tampered.json.sig", signer.sign(&good), Faults::default());
    refused(
        &cache,
        &server.url("/tampered.json"),
        &keys,
        "changed after signing",
        false,
    )
    .await;

    // Unsigned: no .sig next to it.
    server.serve("/unsigned.json", good.clone(), Faults::default());
    refused(
        &cache,
        &server.url("/unsigned.json"),
        &keys,
        "not signed",
        false,
    )
    .await;

    // Signed, but by a key this build does not trust.
    server.serve("/foreign.json", good.clone(), Faults::default());
    server.serve(
        "/foreign.json.sig",
        Signer::new().sign(&good),
        Faults::default(),
    );
    refused(
        &cache,
        &server.url("/foreign.json"),
        &keys,
        "does not trust",
        false,
    )
    .await;

    // A signature that is not one.
    server.serve("/garbage.json", good.clone(), Faults::default());
    server.serve(
        "/garbage.json.sig",
        b"not a signature".to_vec(),
        Faults::default(),
    );
    refused(
        &cache,
        &server.url("/garbage.json"),
        &keys,
        "not a minisign signature",
        false,
    )
    .await;

    // Properly signed but not a catalog this build reads.
    let future = br#"{"version": 2, "models": []}"#.to_vec();
    server.serve("/v2.json", future.clone(), Faults::default());
    server.serve("/v2.json.sig", signer.sign(&future), Faults::default());
    refused(
        &cache,
        &server.url("/v2.json"),
        &keys,
        "not supported",
        false,
    )
    .await;

    // Server errors and an oversized body: fetch errors, same outcome.
    server.serve(
        "/down.json",
        good.clone(),
        Faults {
            always_status: Some(503),
            ..Faults::default()
        },
    );
    refused(&cache, &server.url("/down.json"), &keys, "HTTP 503", true).await;
    let huge = vec![b' '; 5 << 20];
    server.serve("/huge.json", huge, Faults::default());
    refused(&cache, &server.url("/huge.json"), &keys, "more than", true).await;

    assert_eq!(cache.load(&keys).unwrap(), kept);
}

#[test]
fn a_cache_changed_on_disk_is_not_used() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let signer = Signer::new();
    let keys = signer.keys();
    let dir = tempfile::tempdir().unwrap();
    let cache = CatalogCache::new(dir.path().join("catalog.signed.json"));
    rt.block_on(async {
        let server = TestServer::start().await;
        let good = newer_catalog();
        server.serve("/c.json", good.clone(), Faults::default());
        server.serve("/c.json.sig", signer.sign(&good), Faults::default());
        cache
            .refresh(&downloader(), &server.url("/c.json"), &keys)
            .await
            .unwrap();
    });
    let text = std::fs::read_to_string(cache.path()).unwrap();
    let edited = text.replace("Refresh Test Model", "Refresh Test Modem");
    assert_ne!(text, edited);
    std::fs::write(cache.path(), edited).unwrap();
    assert!(cache.load(&keys).is_none());
    assert_eq!(cache.current(&keys).unwrap(), Catalog::builtin().unwrap());
}

#[test]
fn keys_and_signatures_in_the_tauri_cli_formats() {
    // The release keys compiled in parse.
    assert!(!CATALOG_KEYS.is_empty());
    CatalogKeys::builtin().unwrap();
    assert!(CatalogKeys::parse(&["not a key"]).is_err());
    assert!(CatalogKeys::parse(&[]).is_err());

    // A catalog signed by `tauri signer sign` with a TEST-ONLY key (tests/fixtures/README.md):
    // the key as `tauri signer generate` writes it, the signature as the CLI writes it.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let key = std::fs::read_to_string(fixtures.join("TEST-ONLY-catalog-key.pub")).unwrap();
    let data = std::fs::read(fixtures.join("tauri-signed-catalog.json")).unwrap();
    let sig = std::fs::read_to_string(fixtures.join("tauri-signed-catalog.json.sig")).unwrap();
    let keys = CatalogKeys::parse(&[&key]).unwrap();
    keys.verify(&data, &sig).unwrap();
    Catalog::from_json(std::str::from_utf8(&data).unwrap()).unwrap();
    let mut changed = data.clone();
    let last = changed.len() - 2;
    changed[last] ^= 1;
    assert!(keys.verify(&changed, &sig).unwrap_err().contains("changed"));
    // The release keys do not accept the test key's signature.
    assert!(CatalogKeys::builtin()
        .unwrap()
        .verify(&data, &sig)
        .unwrap_err()
        .contains("does not trust"));
}
