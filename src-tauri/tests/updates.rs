//! Updates through the real command layer (Tauri IPC on the mock runtime) and the real
//! updater plugin, against an HTTP server on loopback. Packages and catalogs are signed at
//! test time with throwaway minisign keys (the `minisign` crate; never a release key), in the
//! formats the Tauri CLI writes: a signed update is offered with its notes and its package
//! verifies; a tampered package, a foreign key or a version the signature does not cover is
//! refused with a clear message and nothing is kept to install. A signed model catalog is
//! taken; a tampered one keeps the catalog in use.

mod support;

use base64::Engine;
use serde_json::{json, Value};
use std::io::Cursor;
use std::time::Duration;
use support::{kinds, Harness, StandIn};
use woolly_desktop::catalogs::CatalogSource;
use woolly_desktop::AppPaths;

fn b64(s: String) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A throwaway signing key.
struct Key(minisign::KeyPair);

impl Key {
    fn new() -> Key {
        Key(minisign::KeyPair::generate_unencrypted_keypair().unwrap())
    }

    /// As tauri.conf.json holds it: base64 of the minisign `.pub` file.
    fn tauri_pubkey(&self) -> String {
        b64(self.0.pk.to_box().unwrap().into_string())
    }

    /// As the Tauri bundler writes a package's `.sig`: base64 of the minisign signature,
    /// the version it was signed for in the trusted comment.
    fn sign_package(&self, data: &[u8], version: &str) -> String {
        let comment = format!("timestamp:1764000000\tfile:woolly.AppImage\tversion:{version}");
        b64(minisign::sign(
            Some(&self.0.pk),
            &self.0.sk,
            Cursor::new(data),
            Some(&comment),
            None,
        )
        .unwrap()
        .into_string())
    }
}

const NOTES: &str = "Faster downloads.\nNew models in the catalog.";

/// The update manifest (`latest.json`) for every desktop OS on this architecture.
fn manifest(version: &str, url: &str, signature: &str) -> Vec<u8> {
    let arch = std::env::consts::ARCH;
    let entry = json!({ "signature": signature, "url": url });
    let platforms: serde_json::Map<String, Value> = ["linux", "darwin", "windows"]
        .iter()
        .map(|os| (format!("{os}-{arch}"), entry.clone()))
        .collect();
    serde_json::to_vec(&json!({
        "version": version,
        "notes": NOTES,
        "pub_date": "2026-12-01T12:00:00Z",
        "platforms": platforms,
    }))
    .unwrap()
}

fn app(root: &std::path::Path, server: &StandIn, key: &Key) -> Harness {
    Harness::open_updater(
        AppPaths::under(root),
        std::sync::Arc::new(woolly_desktop::secrets::MemorySecrets::default()),
        json!({
            "endpoints": [server.url("/latest.json")],
            "pubkey": key.tauri_pubkey(),
            "requireSignedVersion": true,
            // Loopback has no TLS; release builds refuse plain http otherwise.
            "dangerousInsecureTransportProtocol": true,
        }),
    )
}

fn package() -> Vec<u8> {
    (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn a_signed_update_is_offered_with_its_notes_and_verifies() {
    let server = StandIn::start();
    let key = Key::new();
    let dir = tempfile::tempdir().unwrap();
    let h = app(dir.path(), &server, &key);

    let before = h.invoke("update_status", json!({})).unwrap();
    assert_eq!(before["currentVersion"], "0.1.0");
    assert_eq!(before["available"], Value::Null);
    assert_eq!(before["lastCheckedAt"], Value::Null);
    assert_eq!(before["downloaded"], false);
    assert_eq!(before["catalog"]["origin"], "builtin");

    // Up to date: the server announces the running version.
    let pkg = package();
    server.put("/woolly.AppImage", 200, pkg.clone());
    let url = server.url("/woolly.AppImage");
    server.put(
        "/latest.json",
        200,
        manifest("0.1.0", &url, &key.sign_package(&pkg, "0.1.0")),
    );
    let s = h.invoke("check_for_update", json!({})).unwrap();
    assert_eq!(s["available"], Value::Null);
    assert!(s["lastCheckedAt"].as_i64().unwrap() > 0);

    // A newer signed release: offered with its notes and date.
    server.put(
        "/latest.json",
        200,
        manifest("0.2.0", &url, &key.sign_package(&pkg, "0.2.0")),
    );
    let s = h.invoke("check_for_update", json!({})).unwrap();
    assert_eq!(s["available"]["version"], "0.2.0", "{s}");
    assert_eq!(s["available"]["notes"], NOTES);
    assert_eq!(s["available"]["date"], 1_796_126_400_000i64);
    assert_eq!(s["downloaded"], false);
    // Nothing to install before the package is downloaded and verified.
    let err = h.invoke("install_update", json!({})).unwrap_err();
    assert_eq!(err["code"], "not_found", "{err}");

    let (ch_id, ch) = h.channel();
    let s = h
        .invoke("download_update", json!({ "onProgress": ch }))
        .unwrap();
    assert_eq!(s["downloaded"], true, "{s}");
    assert!(h.wait_for(ch_id, Duration::from_secs(10), |e| {
        e.last().is_some_and(|l| l["event"] == "verified")
    }));
    let events = h.events(ch_id);
    let progress: Vec<&Value> = events.iter().filter(|e| e["event"] == "progress").collect();
    assert!(!progress.is_empty(), "{:?}", kinds(&events));
    assert_eq!(
        progress.last().unwrap()["data"]["downloaded"],
        pkg.len() as u64
    );
    // The status survives and still offers it (installing would replace this test binary).
    let s = h.invoke("update_status", json!({})).unwrap();
    assert_eq!(s["available"]["version"], "0.2.0");
    assert_eq!(s["downloaded"], true);
}

/// `download_update` must fail with a message that says the update was refused, and leave
/// nothing to install.
fn assert_refused(h: &Harness, why: &str) {
    let s = h.invoke("check_for_update", json!({})).unwrap();
    assert!(s["available"]["version"].is_string(), "{why}: {s}");
    let (_, ch) = h.channel();
    let err = h
        .invoke("download_update", json!({ "onProgress": ch }))
        .unwrap_err();
    assert_eq!(err["code"], "bad_response", "{why}: {err}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("was refused") && message.contains("signature"),
        "{why}: {message}"
    );
    assert!(
        message.contains("Nothing was installed"),
        "{why}: {message}"
    );
    let s = h.invoke("update_status", json!({})).unwrap();
    assert_eq!(s["downloaded"], false, "{why}");
    let err = h.invoke("install_update", json!({})).unwrap_err();
    assert_eq!(err["code"], "not_found", "{why}: {err}");
}

#[test]
fn a_tampered_update_is_refused_with_a_clear_message() {
    let server = StandIn::start();
    let key = Key::new();
    let dir = tempfile::tempdir().unwrap();
    let h = app(dir.path(), &server, &key);
    let pkg = package();
    let url = server.url("/woolly.AppImage");

    // The package changed after signing (one byte).
    let mut tampered = pkg.clone();
    tampered[1234] ^= 0x40;
    server.put("/woolly.AppImage", 200, tampered);
    server.put(
        "/latest.json",
        200,
        manifest("0.2.0", &url, &key.sign_package(&pkg, "0.2.0")),
    );
    assert_refused(&h, "tampered package");

    // Signed, but by a key that is not the app's.
    server.put("/woolly.AppImage", 200, pkg.clone());
    server.put(
        "/latest.json",
        200,
        manifest("0.2.0", &url, &Key::new().sign_package(&pkg, "0.2.0")),
    );
    assert_refused(&h, "foreign key");

    // The manifest announces a version the package was not signed for (an old, genuinely
    // signed release dressed up as new).
    server.put(
        "/latest.json",
        200,
        manifest("0.3.0", &url, &key.sign_package(&pkg, "0.2.0")),
    );
    assert_refused(&h, "version not covered by the signature");

    // A signature that is not one.
    server.put(
        "/latest.json",
        200,
        manifest("0.2.0", &url, &b64("not a signature".into())),
    );
    assert_refused(&h, "garbage signature");

    // The same package, properly signed, is then taken.
    server.put(
        "/latest.json",
        200,
        manifest("0.2.0", &url, &key.sign_package(&pkg, "0.2.0")),
    );
    h.invoke("check_for_update", json!({})).unwrap();
    let (_, ch) = h.channel();
    let s = h
        .invoke("download_update", json!({ "onProgress": ch }))
        .unwrap();
    assert_eq!(s["downloaded"], true);
}

#[test]
fn the_model_catalog_refreshes_from_a_signed_document() {
    let server = StandIn::start();
    let key = Key::new();
    let dir = tempfile::tempdir().unwrap();
    let h = app(dir.path(), &server, &key);
    h.state().catalogs.set_source(CatalogSource {
        url: server.url("/catalog.json"),
        keys: woolly_hub::CatalogKeys::parse(&[&key.0.pk.to_base64()]).unwrap(),
    });
    let builtin = woolly_hub::Catalog::builtin().unwrap();
    let mut newer = builtin.clone();
    let mut extra = newer.models[0].clone();
    extra.id = "refresh-test-model".into();
    extra.name = "Refresh Test Model".into();
    newer.models.push(extra);
    let body = serde_json::to_vec(&newer).unwrap();
    let sign = |data: &[u8]| {
        minisign::sign(Some(&key.0.pk), &key.0.sk, Cursor::new(data), None, None)
            .unwrap()
            .into_string()
    };
    let listed = |h: &Harness| -> Vec<String> {
        h.invoke("catalog", json!({ "contextLength": null }))
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(listed(&h).len(), builtin.models.len());

    server.put("/catalog.json", 200, body.clone());
    server.put("/catalog.json.sig", 200, sign(&body));
    let s = h.invoke("refresh_catalog", json!({})).unwrap();
    assert_eq!(s["catalog"]["origin"], "refreshed", "{s}");
    assert_eq!(s["catalog"]["models"], builtin.models.len() + 1);
    assert!(s["catalog"]["refreshedAt"].as_i64().unwrap() > 0);
    assert!(listed(&h).contains(&"refresh-test-model".to_string()));

    // Tampered: the new model's name changed after signing.
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("Refresh Test Model", "Refresh Test Modem");
    server.put("/catalog.json", 200, tampered);
    let err = h.invoke("refresh_catalog", json!({})).unwrap_err();
    assert_eq!(err["code"], "bad_response", "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("refused") && message.contains("the current catalog is kept"),
        "{message}"
    );
    let s = h.invoke("update_status", json!({})).unwrap();
    assert_eq!(s["catalog"]["origin"], "refreshed");
    assert_eq!(s["catalog"]["models"], builtin.models.len() + 1);
    let names: Vec<Value> = h
        .invoke("catalog", json!({ "contextLength": null }))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert!(names.contains(&json!("Refresh Test Model")));
    assert!(!names.contains(&json!("Refresh Test Modem")));

    // A catalog the server stops serving: unreachable, the refreshed one stays.
    server.clear();
    let err = h.invoke("refresh_catalog", json!({})).unwrap_err();
    assert_eq!(err["code"], "unreachable", "{err}");
    assert!(listed(&h).contains(&"refresh-test-model".to_string()));
}
