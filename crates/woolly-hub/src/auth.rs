//! The optional Hugging Face token: kept in the OS keychain, sent only to allowed hosts.

use crate::error::{HubError, Result};
use reqwest::Url;

/// Keychain service and user under which the token is stored.
pub const KEYRING_SERVICE: &str = "woolly";
pub const KEYRING_USER: &str = "huggingface";

/// Where a token may be sent: exact host names (no subdomains, no look-alikes), over
/// HTTPS only unless plain HTTP is explicitly allowed (loopback tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenScope {
    hosts: Vec<String>,
    allow_plain_http: bool,
}

impl Default for TokenScope {
    fn default() -> Self {
        TokenScope {
            hosts: vec!["huggingface.co".to_string()],
            allow_plain_http: false,
        }
    }
}

impl TokenScope {
    pub fn new(hosts: impl IntoIterator<Item = impl Into<String>>, allow_plain_http: bool) -> Self {
        let hosts = hosts
            .into_iter()
            .map(|h| h.into().to_ascii_lowercase())
            .collect();
        TokenScope {
            hosts,
            allow_plain_http,
        }
    }

    /// Like [`allows`](Self::allows) for a URL string; false when it does not parse.
    pub fn allows_str(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|u| self.allows(&u))
    }

    /// True when a request to `url` may carry the token.
    pub fn allows(&self, url: &Url) -> bool {
        let scheme_ok =
            url.scheme() == "https" || (self.allow_plain_http && url.scheme() == "http");
        // A URL with credentials in it is never what we built; don't add ours.
        let no_userinfo = url.username().is_empty() && url.password().is_none();
        let host_ok = url
            .host_str()
            .is_some_and(|host| self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)));
        scheme_ok && no_userinfo && host_ok
    }
}

/// Reads the token; `Ok(None)` when none is stored.
pub fn load_token() -> Result<Option<String>> {
    match entry()?.get_password() {
        Ok(t) if t.trim().is_empty() => Ok(None),
        Ok(t) => Ok(Some(t.trim().to_string())),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(HubError::Keyring(e.to_string())),
    }
}

pub fn save_token(token: &str) -> Result<()> {
    let token = token.trim();
    if token.is_empty() || token.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(HubError::Keyring(
            "a token must be non-empty and contain no spaces".into(),
        ));
    }
    entry()?
        .set_password(token)
        .map_err(|e| HubError::Keyring(e.to_string()))
}

/// Removes the token; removing one that is not there is not an error.
pub fn delete_token() -> Result<()> {
    match entry()?.delete_credential() {
        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
        Err(e) => Err(HubError::Keyring(e.to_string())),
    }
}

fn entry() -> Result<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, KEYRING_USER).map_err(|e| HubError::Keyring(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_hub_over_https() {
        let s = TokenScope::default();
        let ok = |u: &str| s.allows(&Url::parse(u).unwrap());
        assert!(ok("https://huggingface.co/api/models/x/y/tree/main"));
        assert!(ok("https://HuggingFace.co:443/x"));
        for u in [
            "http://huggingface.co/x",
            "https://cdn-lfs.huggingface.co/x",
            "https://huggingface.co.evil.example/x",
            "https://evilhuggingface.co/x",
            "https://user:pw@huggingface.co/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
        ] {
            assert!(!ok(u), "{u}");
        }
        let http = TokenScope::new(["huggingface.co"], true);
        assert!(http.allows(&Url::parse("http://huggingface.co:8080/x").unwrap()));
    }
}
