//! The Hugging Face token in a real Secret Service. Needs a D-Bus session with an
//! unlocked keyring, so it runs only when WOOLLY_KEYRING_TEST is set:
//!
//! ```sh
//! dbus-run-session -- sh -c 'echo pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; \
//!   WOOLLY_KEYRING_TEST=1 cargo test --release -p woolly-hub --test keyring'
//! ```

use woolly_hub::auth::{delete_token, load_token, save_token, KEYRING_SERVICE, KEYRING_USER};

#[test]
fn token_round_trip_through_the_os_keychain() {
    if std::env::var_os("WOOLLY_KEYRING_TEST").is_none() {
        eprintln!("skipped: set WOOLLY_KEYRING_TEST=1 inside a D-Bus session with gnome-keyring");
        return;
    }
    delete_token().unwrap();
    assert_eq!(load_token().unwrap(), None);

    save_token("hf_FirstTokenForTest").unwrap();
    assert_eq!(
        load_token().unwrap().as_deref(),
        Some("hf_FirstTokenForTest")
    );
    save_token("  hf_SecondTokenForTest\n").unwrap();
    assert_eq!(
        load_token().unwrap().as_deref(),
        Some("hf_SecondTokenForTest")
    );
    assert!(save_token("has space").is_err());

    // Stored in the real Secret Service, where other tools can find it (when
    // libsecret-tools is installed).
    if let Ok(out) = std::process::Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            KEYRING_SERVICE,
            "username",
            KEYRING_USER,
        ])
        .output()
    {
        assert!(
            out.status.success(),
            "secret-tool found no item: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "hf_SecondTokenForTest"
        );
    }

    delete_token().unwrap();
    assert_eq!(load_token().unwrap(), None);
    delete_token().unwrap();
}
