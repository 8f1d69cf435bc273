//! The app's API keys (local server, remote providers) in a real Secret Service. Needs a
//! D-Bus session with an unlocked keyring, so it runs only when WOOLLY_KEYRING_TEST is set
//! (the Makefile's `test` target does this under dbus-run-session with gnome-keyring).

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use woolly_desktop::providers::secret_name;
use woolly_desktop::secrets::{Keychain, SecretStore, KEYRING_SERVICE};
use woolly_desktop::server_host::API_KEY_SECRET;

#[test]
fn app_keys_round_trip_through_the_os_keychain() {
    if std::env::var_os("WOOLLY_KEYRING_TEST").is_none() {
        eprintln!("skipped: set WOOLLY_KEYRING_TEST=1 inside a D-Bus session with gnome-keyring");
        return;
    }
    let keychain = Keychain;
    let provider = secret_name("0123456789abcdef");
    for name in [API_KEY_SECRET, provider.as_str()] {
        keychain.delete(name).unwrap();
        assert_eq!(keychain.get(name).unwrap(), None);
    }
    keychain.set(API_KEY_SECRET, " wk-server-key\n").unwrap();
    keychain.set(&provider, "sk-provider-key").unwrap();
    assert_eq!(
        keychain.get(API_KEY_SECRET).unwrap().as_deref(),
        Some("wk-server-key")
    );
    assert_eq!(
        keychain.get(&provider).unwrap().as_deref(),
        Some("sk-provider-key")
    );
    assert!(keychain.set(&provider, "two words").is_err());

    // Stored in the real Secret Service, where other tools find it (with libsecret-tools).
    if let Ok(out) = std::process::Command::new("secret-tool")
        .args(["lookup", "service", KEYRING_SERVICE, "username", &provider])
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "sk-provider-key"
        );
    }

    for name in [API_KEY_SECRET, provider.as_str()] {
        keychain.delete(name).unwrap();
        assert_eq!(keychain.get(name).unwrap(), None);
        keychain.delete(name).unwrap();
    }
}

/// A command that must answer within 10 s (a keychain that cannot answer must not hang it).
fn timed(
    h: &support::Harness,
    cmd: &str,
    args: serde_json::Value,
) -> Result<serde_json::Value, serde_json::Value> {
    let start = Instant::now();
    let r = h.invoke(cmd, args);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{cmd} took {:?}",
        start.elapsed()
    );
    r
}

/// `cmd`, which ends by running this test binary, re-runs test `name` alone in it, and it
/// passes.
fn assert_child_passes(cmd: &mut std::process::Command, name: &str) {
    let out = cmd
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Saving a secret fails with the `keychain` code, fast, and no Hub token is reported.
fn secrets_say_keychain(h: &support::Harness, api_key: &str) {
    let err = timed(h, "set_server_api_key", json!({"apiKey": api_key})).unwrap_err();
    assert_eq!(err["code"], "keychain", "{err}");
    let err = timed(h, "set_hf_token", json!({"token": "hf_abc"})).unwrap_err();
    assert_eq!(err["code"], "keychain", "{err}");
    assert_eq!(timed(h, "has_hf_token", json!({})).unwrap(), false);
}

/// Everything that needs no secret works: history, settings, a chat turn.
fn the_rest_works(h: &support::Harness) {
    let c = timed(h, "create_conversation", json!({"title": null})).unwrap();
    let settings = timed(h, "get_settings", json!({})).unwrap();
    timed(h, "save_settings", json!({"settings": settings})).unwrap();
    chat_turn(h, c["id"].as_str().unwrap());
}

/// A chat turn in conversation `id` streams tokens.
fn chat_turn(h: &support::Harness, id: &str) {
    support::greedy(h, id, 4);
    let (ch_id, ch) = h.channel();
    timed(
        h,
        "send_message",
        json!({"conversationId": id, "content": "Hi", "onEvent": ch}),
    )
    .expect("a chat turn");
    assert!(support::token_count(&h.events(ch_id)) > 0);
}

const NO_BUS_ENV: &str = "WOOLLY_NO_SECRET_SERVICE_CHILD";

/// The real keychain where there is no Secret Service (a session bus address that leads
/// nowhere): the secret features fail with the `keychain` code, fast, and nothing else does.
/// Run in a child process (this test re-run) so the bus address stays out of other tests.
#[test]
fn without_a_secret_service_secret_features_say_so_and_the_rest_works() {
    if std::env::var_os(NO_BUS_ENV).is_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .env(NO_BUS_ENV, "1")
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", dir.path().join("no-bus").display()),
            )
            .env_remove("DBUS_SYSTEM_BUS_ADDRESS");
        let name = "without_a_secret_service_secret_features_say_so_and_the_rest_works";
        assert_child_passes(&mut child, name);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = support::Harness::open_with(dir.path(), Arc::new(Keychain));
    let timed = |cmd: &str, args: serde_json::Value| timed(&h, cmd, args);
    // The secret features: a clear `keychain` error, or "no key" where only reading.
    secrets_say_keychain(&h, "wk-key");
    assert_eq!(
        timed("server_status", json!({})).unwrap()["hasApiKey"],
        false
    );
    // Everything else works: the local server without a key, history, settings, a chat.
    let port = support::free_port();
    let s = timed("start_server", json!({"port": port})).unwrap();
    assert_eq!(s["running"], true, "{s}");
    timed("stop_server", json!({})).unwrap();
    the_rest_works(&h);
}

const LOCKED_ENV: &str = "WOOLLY_LOCKED_KEYCHAIN_CHILD";

/// The real keychain, present but locked (a gnome-keyring on a private session bus, locked
/// through the Secret Service API after a key was saved; no display, so its unlock prompt
/// cannot show): the secret features fail with the `keychain` code, fast; the server, whose
/// key is in the locked keychain, refuses to start rather than run without it; everything else
/// works. Run in a child process under its own `dbus-run-session` so locking the collection
/// does not touch the other keychain test.
#[test]
fn with_a_locked_keychain_secret_features_say_so_and_the_rest_works() {
    if std::env::var_os("WOOLLY_KEYRING_TEST").is_none() {
        eprintln!("skipped: set WOOLLY_KEYRING_TEST=1 inside a D-Bus session with gnome-keyring");
        return;
    }
    if std::env::var_os(LOCKED_ENV).is_none() {
        let data = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("dbus-run-session");
        child
            .args([
                "--",
                "sh",
                "-c",
                "echo pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec \"$0\" \"$@\"",
            ])
            .arg(std::env::current_exe().unwrap())
            .env(LOCKED_ENV, "1")
            .env("XDG_DATA_HOME", data.path())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        let name = "with_a_locked_keychain_secret_features_say_so_and_the_rest_works";
        assert_child_passes(&mut child, name);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h = support::Harness::open_with(dir.path(), Arc::new(Keychain));
    h.invoke("set_server_api_key", json!({"apiKey": "wk-locked-key"}))
        .expect("save the key while the keychain is unlocked");
    assert_eq!(
        Keychain.get(API_KEY_SECRET).unwrap().as_deref(),
        Some("wk-locked-key")
    );
    let lock = std::process::Command::new("gdbus")
        .args([
            "call",
            "--session",
            "--dest",
            "org.freedesktop.secrets",
            "--object-path",
            "/org/freedesktop/secrets",
            "--method",
            "org.freedesktop.Secret.Service.Lock",
            "['/org/freedesktop/secrets/collection/login']",
        ])
        .output()
        .unwrap();
    assert!(
        lock.status.success(),
        "lock the collection: {}",
        String::from_utf8_lossy(&lock.stderr)
    );
    // Locked indeed: the Secret Service itself refuses to read the key now.
    let lookup = std::process::Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            KEYRING_SERVICE,
            "username",
            API_KEY_SECRET,
        ])
        .output()
        .unwrap();
    assert!(!lookup.status.success(), "still readable after locking");

    secrets_say_keychain(&h, "wk-other");
    // The server's key is locked away: starting it without the key would open it to anyone.
    let port = support::free_port();
    let err = timed(&h, "start_server", json!({"port": port})).unwrap_err();
    assert_eq!(err["code"], "keychain", "{err}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server listens without its key"
    );
    the_rest_works(&h);
}
