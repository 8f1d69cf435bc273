//! The providers the user added: id, name and base URL in `providers.json` (never the key,
//! which is in the keychain under [`super::secret_name`]).

use super::ProviderError;
use crate::error::AppResult;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;

const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfig {
    pub id: String,
    pub name: String,
    /// Normalized: no trailing `/`; `{base_url}/models`, `{base_url}/chat/completions`.
    pub base_url: String,
    /// Whether its key was stored in the keychain (read only then; see server_host).
    #[serde(default)]
    pub has_api_key: bool,
}

/// Whether `url` names this machine's loopback interface: `localhost`, 127.0.0.0/8 or ::1
/// (plain `http://` is accepted only there: nothing it carries leaves the machine).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// Checks a user-typed base URL and normalizes it. A provider on another machine must use
/// `https://`: over `http://` its key and the chats would cross the network in clear text.
pub fn normalize_base_url(input: &str) -> Result<String, ProviderError> {
    let invalid = |why: &str| ProviderError::Invalid(why.to_string());
    let url = url::Url::parse(input.trim())
        .map_err(|_| invalid("Enter the API's base URL, like http://localhost:11434/v1."))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("The base URL must start with http:// or https://."));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(invalid(
            "Use https:// for a provider on another machine (http:// is only for this computer: localhost, 127.0.0.1, ::1).",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("Put the API key in the key field, not in the URL."));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("The base URL cannot have a ?query or #fragment."));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Same scheme, host and port (a stored URL that no longer parses is another origin).
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

fn clean_name(name: &str) -> Result<String, ProviderError> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > 64 {
        return Err(ProviderError::Invalid(
            "Give the provider a name of 1 to 64 characters.".into(),
        ));
    }
    Ok(name)
}

pub struct ProviderStore {
    path: PathBuf,
    /// Read-modify-write of the file, one at a time.
    lock: Mutex<()>,
}

impl ProviderStore {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            lock: Mutex::new(()),
        }
    }

    pub fn list(&self) -> Vec<ProviderConfig> {
        crate::jsonfile::load(&self.path)
    }

    pub fn get(&self, id: &str) -> Result<ProviderConfig, ProviderError> {
        self.list()
            .into_iter()
            .find(|p| p.id == id)
            .ok_or(ProviderError::NotFound)
    }

    fn modify<T>(
        &self,
        change: impl FnOnce(&mut Vec<ProviderConfig>) -> Result<T, ProviderError>,
    ) -> AppResult<T> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut list = self.list();
        let out = change(&mut list)?;
        crate::jsonfile::save(&self.path, VERSION, &list)?;
        Ok(out)
    }

    pub fn add(&self, name: &str, base_url: &str) -> AppResult<ProviderConfig> {
        let config = ProviderConfig {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: clean_name(name)?,
            base_url: normalize_base_url(base_url)?,
            has_api_key: false,
        };
        self.modify(|list| {
            list.push(config.clone());
            Ok(config)
        })
    }

    /// Renames and re-points a provider. A key belongs to the server it was given for: when
    /// the URL moves to another origin (scheme, host or port) the provider is saved without
    /// one, and the returned flag says a stored key must now be deleted.
    pub fn update(
        &self,
        id: &str,
        name: &str,
        base_url: &str,
    ) -> AppResult<(ProviderConfig, bool)> {
        let (name, base_url) = (clean_name(name)?, normalize_base_url(base_url)?);
        self.modify(|list| {
            let p = list
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or(ProviderError::NotFound)?;
            let drop_key = p.has_api_key && !same_origin(&p.base_url, &base_url);
            p.name = name;
            p.base_url = base_url;
            if drop_key {
                p.has_api_key = false;
            }
            Ok((p.clone(), drop_key))
        })
    }

    pub fn set_has_key(&self, id: &str, has_api_key: bool) -> AppResult<ProviderConfig> {
        self.modify(|list| {
            let p = list
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or(ProviderError::NotFound)?;
            p.has_api_key = has_api_key;
            Ok(p.clone())
        })
    }

    pub fn remove(&self, id: &str) -> AppResult<()> {
        self.modify(|list| {
            let before = list.len();
            list.retain(|p| p.id != id);
            if list.len() == before {
                return Err(ProviderError::NotFound);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            normalize_base_url(" http://127.0.0.1:8080/v1/ ").unwrap(),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(
            normalize_base_url("https://api.example.com/v1").unwrap(),
            "https://api.example.com/v1"
        );
        assert_eq!(
            normalize_base_url("http://localhost:11434").unwrap(),
            "http://localhost:11434"
        );
        for loopback in [
            "http://127.0.0.2:8080/v1",
            "http://[::1]:8080/v1",
            "http://LOCALHOST/v1",
            "http://[::ffff:127.0.0.1]/v1",
        ] {
            assert!(normalize_base_url(loopback).is_ok(), "{loopback}");
        }
        for bad in [
            "",
            "localhost:8080",
            "ftp://x/v1",
            "http://user:pw@x/v1",
            "http://x/v1?key=1",
            "file:///etc/passwd",
            // Plain http:// off this machine: the key would travel in clear text.
            "http://gpu-box:8000/v1",
            "http://api.example.com/v1",
            "http://10.0.0.5/v1",
            "http://128.0.0.1/v1",
            "http://localhost.evil.com/v1",
            "http://[::2]/v1",
        ] {
            assert!(normalize_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn add_update_remove_persist() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProviderStore::new(dir.path().join("providers.json"));
        let a = store
            .add("  My   vLLM ", "https://gpu-box:8000/v1/")
            .unwrap();
        assert_eq!(a.name, "My vLLM");
        assert_eq!(a.base_url, "https://gpu-box:8000/v1");
        assert!(store.add("", "http://x/v1").is_err());
        let again = ProviderStore::new(dir.path().join("providers.json"));
        assert_eq!(again.list(), vec![a.clone()]);
        let (b, drop_key) = store
            .update(&a.id, "Box", "https://gpu-box:9000/v1")
            .unwrap();
        assert_eq!(
            (b.id.as_str(), b.base_url.as_str(), drop_key),
            (a.id.as_str(), "https://gpu-box:9000/v1", false)
        );
        assert!(store.update("nope", "x", "https://x").is_err());
        store.remove(&a.id).unwrap();
        assert!(store.list().is_empty());
        assert!(store.remove(&a.id).is_err());
    }
}
