//! The app's API keys (local server, remote providers) in a real Secret Service. Needs a
//! D-Bus session with an unlocked keyring, so it runs only when WOOLLY_KEYRING_TEST is set
//! (the Makefile's `test` target does this under dbus-run-session with gnome-keyring).

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
