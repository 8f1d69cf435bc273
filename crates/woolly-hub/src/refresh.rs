//! Signed catalog refresh: new models without an app update.
//!
//! The catalog compiled into the build stays the default. A refreshed catalog is fetched
//! from `CATALOG_URL` with a detached minisign signature at the same URL plus `.sig`, and
//! replaces the cached one only when the signature verifies against a key in
//! [`CATALOG_KEYS`] and the catalog passes [`Catalog::from_json`]. Anything else (no
//! signature, another key, a changed byte, an unusable catalog) is refused and the catalog
//! in use is kept. The cache holds the signed bytes and their signature together in one
//! file, and is verified again each time it is read.

use crate::catalog::Catalog;
use crate::download::{Downloader, Failure};
use crate::error::{HubError, IoContext, Result};
use crate::fsutil::write_atomic;
use base64::Engine;
use minisign_verify::{PublicKey, Signature};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The published catalog (`catalog.json.sig` next to it), attached to the repository's
/// `catalog` release by `.github/workflows/catalog.yml`.
pub const CATALOG_URL: &str =
    "https://github.com/woolly-app/woolly/releases/download/catalog/catalog.json";

/// Public keys whose signature a refreshed catalog must carry: minisign keys, as the second
/// line of a minisign `.pub` file. During a key rotation both keys are listed (SECURITY.md).
pub const CATALOG_KEYS: &[&str] = &["RWTdWuagHjpUCp/J/W1d7dDPimakADq6XTQ5V4D5nzjxLdJcPrmP7ZXf"];

/// Bounds on what a server may make us read (the catalog is about 10 KB today).
const MAX_CATALOG_BYTES: usize = 4 << 20;
const MAX_SIGNATURE_BYTES: usize = 16 << 10;

/// The keys a catalog signature is checked against.
#[derive(Debug, Clone)]
pub struct CatalogKeys(Vec<PublicKey>);

impl CatalogKeys {
    /// The keys compiled into this build ([`CATALOG_KEYS`]).
    pub fn builtin() -> Result<Self> {
        Self::parse(CATALOG_KEYS)
    }

    /// Keys as the minisign key line (`RW…`), a whole minisign `.pub` file, or the Tauri
    /// CLI's base64 of that file.
    pub fn parse(keys: &[&str]) -> Result<Self> {
        let parsed = keys
            .iter()
            .map(|k| parse_key(k.trim()))
            .collect::<Option<Vec<_>>>()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| HubError::Catalog("invalid catalog public key".into()))?;
        Ok(CatalogKeys(parsed))
    }

    /// Checks a detached signature (minisign text, or the Tauri CLI's base64 of it) over
    /// `data`; the error says why in words.
    pub fn verify(&self, data: &[u8], signature: &str) -> std::result::Result<(), String> {
        let signature = decode_signature(signature)
            .ok_or_else(|| "its signature file is not a minisign signature".to_string())?;
        for key in &self.0 {
            match key.verify(data, &signature, false) {
                Ok(()) => return Ok(()),
                Err(minisign_verify::Error::UnexpectedKeyId) => {}
                Err(minisign_verify::Error::UnexpectedAlgorithm) => {
                    return Err("it carries a legacy (not pre-hashed) signature".into())
                }
                Err(_) => {
                    return Err(
                        "its signature does not match its content (it was changed after signing)"
                            .into(),
                    )
                }
            }
        }
        Err("it is signed with a key this build does not trust".into())
    }
}

fn parse_key(text: &str) -> Option<PublicKey> {
    if let Ok(k) = PublicKey::from_base64(text) {
        return Some(k);
    }
    if let Ok(k) = PublicKey::decode(text) {
        return Some(k);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    PublicKey::decode(std::str::from_utf8(&decoded).ok()?).ok()
}

fn decode_signature(text: &str) -> Option<Signature> {
    let text = text.trim();
    if text.starts_with("untrusted comment:") {
        return Signature::decode(text).ok();
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    Signature::decode(std::str::from_utf8(&decoded).ok()?).ok()
}

/// A catalog that came signed, and when it was fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Refreshed {
    pub catalog: Catalog,
    /// Unix epoch milliseconds.
    pub fetched_at_ms: u64,
}

/// What the cache file holds: the bytes exactly as signed, and the signature.
#[derive(Serialize, Deserialize)]
struct CacheFile {
    catalog: String,
    signature: String,
    fetched_at_ms: u64,
}

/// The last refreshed catalog, in one file (replaced atomically, so the catalog and its
/// signature never come from two different refreshes).
#[derive(Debug, Clone)]
pub struct CatalogCache {
    path: PathBuf,
}

impl CatalogCache {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        CatalogCache { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached catalog if there is one and it still verifies.
    pub fn load(&self, keys: &CatalogKeys) -> Option<Refreshed> {
        let bytes = std::fs::read(&self.path).ok()?;
        let file: CacheFile = serde_json::from_slice(&bytes).ok()?;
        keys.verify(file.catalog.as_bytes(), &file.signature).ok()?;
        Some(Refreshed {
            catalog: Catalog::from_json(&file.catalog).ok()?,
            fetched_at_ms: file.fetched_at_ms,
        })
    }

    /// The catalog to use: the verified refreshed one, else the one compiled in.
    pub fn current(&self, keys: &CatalogKeys) -> Result<Catalog> {
        match self.load(keys) {
            Some(r) => Ok(r.catalog),
            None => Catalog::builtin(),
        }
    }

    /// Fetches `url` and `url.sig`, verifies and checks them, then replaces the cache. On
    /// any error the cache is untouched.
    pub async fn refresh(
        &self,
        downloader: &Downloader,
        url: &str,
        keys: &CatalogKeys,
    ) -> Result<Refreshed> {
        let url = Url::parse(url).map_err(|e| HubError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() {
            return Err(HubError::InvalidUrl {
                url: url.to_string(),
                reason: "an http(s) URL without a query is needed".into(),
            });
        }
        let mut sig_url = url.clone();
        sig_url.set_path(&format!("{}.sig", url.path()));
        let refused = |reason: String| HubError::CatalogRefused {
            url: url.to_string(),
            reason,
        };

        let body = fetch(downloader, &url, MAX_CATALOG_BYTES).await?;
        let signature = match fetch(downloader, &sig_url, MAX_SIGNATURE_BYTES).await {
            Err(HubError::CatalogFetch { reason, .. }) if reason.starts_with("HTTP 404") => {
                return Err(refused(format!("it is not signed ({sig_url}: {reason})")))
            }
            other => other?,
        };
        let signature = String::from_utf8(signature)
            .map_err(|_| refused("its signature file is not text".into()))?;
        keys.verify(&body, &signature).map_err(refused)?;
        let text =
            String::from_utf8(body).map_err(|_| refused("the catalog is not UTF-8".into()))?;
        let catalog = Catalog::from_json(&text).map_err(|e| refused(e.to_string()))?;

        let fetched_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let file = CacheFile {
            catalog: text,
            signature,
            fetched_at_ms,
        };
        let json = serde_json::to_vec(&file).map_err(|e| HubError::Catalog(e.to_string()))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).at(dir)?;
        }
        write_atomic(&self.path, &json)?;
        Ok(Refreshed {
            catalog,
            fetched_at_ms,
        })
    }
}

/// One bounded GET (redirects followed).
async fn fetch(downloader: &Downloader, url: &Url, limit: usize) -> Result<Vec<u8>> {
    let err = |reason: String| HubError::CatalogFetch {
        url: url.to_string(),
        reason,
    };
    let mut response = match downloader.get(url, 0).await {
        Ok(r) => r,
        Err(Failure::Retry(reason)) => return Err(err(reason)),
        Err(Failure::Fatal(e)) => return Err(e),
    };
    let status = response.status();
    if !status.is_success() {
        return Err(err(format!("HTTP {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| err(e.to_string()))? {
        if body.len() + chunk.len() > limit {
            return Err(err(format!("more than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
