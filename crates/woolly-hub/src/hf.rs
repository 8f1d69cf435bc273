//! The Hugging Face file listing: the source of a file's SHA-256 when the catalog does
//! not pin one. For LFS files (all GGUF weights) `lfs.oid` is the SHA-256 of the content;
//! the top-level `oid` is a git blob hash and must not be used.

use crate::download::{Downloader, Failure};
use crate::error::{HubError, Result};
use crate::hash::Sha256Hex;
use reqwest::Url;
use serde::Deserialize;

pub const HUB_URL: &str = "https://huggingface.co";

/// A Hub endpoint (the real one, or a loopback stand-in in tests).
#[derive(Debug, Clone)]
pub struct HfApi {
    base: Url,
}

impl Default for HfApi {
    fn default() -> Self {
        HfApi {
            base: Url::parse(HUB_URL).expect("constant URL"),
        }
    }
}

/// A file as the Hub lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFile {
    pub sha256: Sha256Hex,
    pub size: u64,
}

#[derive(Deserialize)]
struct Entry {
    path: String,
    #[serde(default)]
    lfs: Option<Lfs>,
}

#[derive(Deserialize)]
struct Lfs {
    oid: String,
    size: u64,
}

impl HfApi {
    pub fn new(base: &str) -> Result<Self> {
        let base = Url::parse(base).map_err(|e| HubError::InvalidUrl {
            url: base.to_string(),
            reason: e.to_string(),
        })?;
        Ok(HfApi { base })
    }

    /// `https://huggingface.co/{repo}/resolve/{revision}/{file}`
    pub fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> Result<String> {
        check_names(repo, revision, file)?;
        Ok(self
            .join(&format!("{repo}/resolve/{revision}/{file}"))?
            .to_string())
    }

    /// Looks `file` up in the repository listing and returns its LFS SHA-256 and size.
    pub async fn lfs_file(
        &self,
        downloader: &Downloader,
        repo: &str,
        revision: &str,
        file: &str,
    ) -> Result<HubFile> {
        check_names(repo, revision, file)?;
        // Files in sub-folders are listed under their folder.
        let folder = file
            .rsplit_once('/')
            .map(|(d, _)| format!("/{d}"))
            .unwrap_or_default();
        let url = self.join(&format!("api/models/{repo}/tree/{revision}{folder}"))?;
        let api_err = |reason: String| HubError::HubApi {
            url: url.to_string(),
            reason,
        };
        let response = match downloader.get(&url, 0).await {
            Ok(r) => r,
            Err(Failure::Retry(reason)) => return Err(api_err(reason)),
            Err(Failure::Fatal(e)) => return Err(e),
        };
        let status = response.status();
        if !status.is_success() {
            let hint = if matches!(status.as_u16(), 401 | 403) {
                " (gated or private repository: store a Hugging Face token)"
            } else {
                ""
            };
            return Err(api_err(format!("HTTP {status}{hint}")));
        }
        let body = response.bytes().await.map_err(|e| api_err(e.to_string()))?;
        let entries: Vec<Entry> =
            serde_json::from_slice(&body).map_err(|e| api_err(format!("unexpected JSON: {e}")))?;
        let entry = entries
            .into_iter()
            .find(|e| e.path == file)
            .ok_or_else(|| api_err(format!("{file} is not in {repo}")))?;
        let lfs = entry.lfs.ok_or_else(|| HubError::MissingHash {
            what: format!("{repo}/{file} (not an LFS file, so the Hub lists no SHA-256)"),
        })?;
        Ok(HubFile {
            sha256: Sha256Hex::parse(&lfs.oid)
                .map_err(|_| api_err(format!("bad lfs.oid {:?}", lfs.oid)))?,
            size: lfs.size,
        })
    }

    fn join(&self, path: &str) -> Result<Url> {
        let base = self.base.as_str().trim_end_matches('/');
        let s = format!("{base}/{path}");
        Url::parse(&s).map_err(|e| HubError::InvalidUrl {
            url: s,
            reason: e.to_string(),
        })
    }
}

/// Repository `owner/name`, revision and file path, each segment made only of the
/// characters the Hub allows: nothing can smuggle `..` or a query into the URL.
fn check_names(repo: &str, revision: &str, file: &str) -> Result<()> {
    let segment = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
    };
    let repo_ok =
        matches!(repo.split_once('/'), Some((owner, name)) if segment(owner) && segment(name));
    if !repo_ok || !segment(revision) || !file.split('/').all(segment) {
        return Err(HubError::Catalog(format!(
            "invalid Hub file reference {repo:?} @ {revision:?} : {file:?}"
        )));
    }
    Ok(())
}
