//! The Hugging Face Hub API: model search (`/api/models`), a repository's GGUF files
//! (`/api/models/{repo}/tree/main`) and the file listing that is the source of a file's
//! SHA-256 when the catalog does not pin one. For LFS files (all GGUF weights) `lfs.oid`
//! is the SHA-256 of the content; the top-level `oid` is a git blob hash and must not be
//! used.

use crate::auth::TokenScope;
use crate::download::{Downloader, Failure};
use crate::error::{HubError, HubFailure, Result};
use crate::hash::Sha256Hex;
use reqwest::Url;
use serde::{Deserialize, Serialize};

pub const HUB_URL: &str = "https://huggingface.co";

/// Points the app at another Hub endpoint (a mirror, or a loopback stand-in in tests).
pub const ENDPOINT_ENV: &str = "WOOLLY_HF_ENDPOINT";

/// At most this many repositories per search (the Hub's own page limit is 1000).
pub const MAX_SEARCH_LIMIT: u32 = 100;

/// Pages of a repository listing followed at most (1000 entries each on the Hub).
const MAX_TREE_PAGES: usize = 20;

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

/// Search order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchSort {
    /// Most downloaded first (`sort=downloads`).
    Downloads,
    /// Most recently updated first (`sort=lastModified`).
    Recent,
}

impl SearchSort {
    /// The Hub's `sort` parameter.
    pub fn as_param(self) -> &'static str {
        match self {
            SearchSort::Downloads => "downloads",
            SearchSort::Recent => "lastModified",
        }
    }
}

/// A repository from a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRepo {
    /// `owner/name`.
    pub id: String,
    pub downloads: u64,
    pub likes: u64,
    /// ISO 8601, as the Hub sends it.
    pub last_modified: Option<String>,
    /// Downloads need accepted terms (the Hub's `gated`: `"auto"` or `"manual"`).
    pub gated: bool,
    pub private: bool,
}

/// One GGUF model in a repository: a single file, or the parts of a split one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GgufListing {
    /// The file (for a split model: its first part).
    pub path: String,
    /// Bytes (for a split model: all parts present).
    pub size: u64,
    /// The LFS SHA-256 (of the first part, for a split model); `None` for a file the Hub
    /// does not keep in LFS, which Woolly then refuses to download unverified.
    pub sha256: Option<Sha256Hex>,
    /// From the file name: `Q4_K_M`, `IQ4_XS`, `F16`...; `None` when the name says none.
    pub quantization: Option<String>,
    /// For a split model (`name-00001-of-00003.gguf`): the part count and the parts found.
    pub split: Option<SplitInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitInfo {
    pub parts: u32,
    pub present: u32,
}

#[derive(Deserialize)]
struct SearchItem {
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "modelId")]
    model_id: Option<String>,
    #[serde(default)]
    downloads: Option<u64>,
    #[serde(default)]
    likes: Option<u64>,
    #[serde(default, rename = "lastModified")]
    last_modified: Option<String>,
    /// `false`, `"auto"` or `"manual"`.
    #[serde(default)]
    gated: Option<serde_json::Value>,
    #[serde(default)]
    private: Option<bool>,
}

#[derive(Deserialize)]
struct TreeEntry {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    path: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    lfs: Option<Lfs>,
}

impl HfApi {
    /// `WOOLLY_HF_ENDPOINT` when set (a mirror, a test stand-in), else the real Hub.
    pub fn from_env() -> Result<Self> {
        match std::env::var(ENDPOINT_ENV) {
            Ok(v) if !v.trim().is_empty() => HfApi::new(v.trim()),
            _ => Ok(HfApi::default()),
        }
    }

    /// The endpoint, e.g. `https://huggingface.co/`.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Where the Hugging Face token may go for this endpoint: its host only, over HTTPS
    /// (plain HTTP only for a loopback stand-in).
    pub fn token_scope(&self) -> TokenScope {
        let host = self.base.host_str().unwrap_or_default().to_string();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = bare.eq_ignore_ascii_case("localhost")
            || bare
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        TokenScope::new([host], loopback)
    }

    /// Searches GGUF repositories: `GET /api/models?search=…&filter=gguf&sort=…&direction=-1`.
    pub async fn search(
        &self,
        downloader: &Downloader,
        text: &str,
        sort: SearchSort,
        limit: u32,
    ) -> Result<Vec<HubRepo>> {
        let mut url = self.join("api/models")?;
        url.query_pairs_mut()
            .append_pair("search", text.trim())
            .append_pair("filter", "gguf")
            .append_pair("sort", sort.as_param())
            .append_pair("direction", "-1")
            .append_pair("limit", &limit.clamp(1, MAX_SEARCH_LIMIT).to_string());
        // Without `expand` the Hub leaves out lastModified and gated; with it, it sends only
        // what is listed.
        for field in ["downloads", "likes", "lastModified", "gated", "private"] {
            url.query_pairs_mut().append_pair("expand[]", field);
        }
        let (items, _): (Vec<SearchItem>, _) = self.get_json(downloader, &url).await?;
        Ok(items
            .into_iter()
            .filter_map(|i| {
                let id = i.id.or(i.model_id)?;
                Some(HubRepo {
                    id,
                    downloads: i.downloads.unwrap_or(0),
                    likes: i.likes.unwrap_or(0),
                    last_modified: i.last_modified,
                    gated: match i.gated {
                        None
                        | Some(serde_json::Value::Null)
                        | Some(serde_json::Value::Bool(false)) => false,
                        Some(serde_json::Value::String(s)) => !s.is_empty() && s != "false",
                        Some(_) => true,
                    },
                    private: i.private.unwrap_or(false),
                })
            })
            .collect())
    }

    /// The GGUF models of `repo` (branch `main`, every folder), split files grouped, in
    /// file-name order.
    pub async fn gguf_files(
        &self,
        downloader: &Downloader,
        repo: &str,
    ) -> Result<Vec<GgufListing>> {
        check_repo(repo)?;
        let mut url = self.join(&format!("api/models/{repo}/tree/main"))?;
        url.query_pairs_mut().append_pair("recursive", "true");
        let mut entries: Vec<TreeEntry> = Vec::new();
        for _ in 0..MAX_TREE_PAGES {
            let (page, next): (Vec<TreeEntry>, _) = self.get_json(downloader, &url).await?;
            entries.extend(page);
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        let mut files = Vec::new();
        for e in entries {
            if e.kind.as_deref().is_some_and(|k| k != "file") || !is_gguf(&e.path) {
                continue;
            }
            let sha256 = match &e.lfs {
                Some(lfs) => Some(Sha256Hex::parse(&lfs.oid).map_err(|_| {
                    request_error(
                        &url,
                        HubFailure::BadResponse,
                        format!("bad lfs.oid {:?} for {}", lfs.oid, e.path),
                    )
                })?),
                None => None,
            };
            let size = e.lfs.as_ref().map(|l| l.size).or(e.size).unwrap_or(0);
            files.push((e.path, size, sha256));
        }
        Ok(group_gguf(files))
    }

    /// One GET of a JSON document: its value and the `Link: <…>; rel="next"` page, if any
    /// (same origin only).
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        downloader: &Downloader,
        url: &Url,
    ) -> Result<(T, Option<Url>)> {
        let response = match downloader.get(url, 0).await {
            Ok(r) => r,
            Err(Failure::Retry(reason)) => {
                return Err(request_error(
                    url,
                    HubFailure::Unreachable,
                    format!("could not reach the Hub: {reason}"),
                ))
            }
            Err(Failure::Fatal(e)) => return Err(e),
        };
        let status = response.status();
        if !status.is_success() {
            let (kind, what) = match status.as_u16() {
                401 | 403 => (
                    HubFailure::Unauthorized,
                    "access refused: the repository is gated or private (accept its terms on the Hub and store a Hugging Face token), or the stored token is not valid",
                ),
                404 => (HubFailure::NotFound, "no such repository (or it is private)"),
                429 => (HubFailure::Unavailable, "too many requests: try again in a minute"),
                s if s >= 500 => (HubFailure::Unavailable, "the Hub is failing: try again later"),
                _ => (HubFailure::BadResponse, "unexpected answer"),
            };
            return Err(request_error(url, kind, format!("HTTP {status}: {what}")));
        }
        let next = response
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link)
            .and_then(|n| url.join(&n).ok())
            .filter(|n| n.origin() == self.base.origin());
        let body = response.bytes().await.map_err(|e| {
            request_error(
                url,
                HubFailure::Unreachable,
                format!("the answer broke off: {e}"),
            )
        })?;
        let value = serde_json::from_slice(&body).map_err(|e| {
            request_error(
                url,
                HubFailure::BadResponse,
                format!("unexpected JSON: {e}"),
            )
        })?;
        Ok((value, next))
    }

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

fn request_error(url: &Url, kind: HubFailure, reason: String) -> HubError {
    HubError::HubRequest {
        url: url.to_string(),
        kind,
        reason,
    }
}

/// The `rel="next"` target of a `Link` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

fn is_gguf(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".gguf")
}

/// `name-00001-of-00003.gguf` → (1, 3): the way llama.cpp's `gguf-split` names parts.
pub fn split_part(path: &str) -> Option<(u32, u32)> {
    let file = path.rsplit('/').next()?;
    let stem = file.get(..file.len().checked_sub(5)?)?;
    if !file[stem.len()..].eq_ignore_ascii_case(".gguf") {
        return None;
    }
    let (head, total) = stem.rsplit_once("-of-")?;
    let (_, part) = head.rsplit_once('-')?;
    let num = |s: &str| {
        (!s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let (part, total) = (num(part)?, num(total)?);
    ((1..=total).contains(&part) && total >= 2).then_some((part, total))
}

/// The model a split part belongs to: the path without `-0000N-of-0000M.gguf`.
fn split_stem(path: &str) -> &str {
    let lower_end = path.len() - 5;
    let stem = &path[..lower_end];
    let (head, _) = stem.rsplit_once("-of-").unwrap_or((stem, ""));
    head.rsplit_once('-').map_or(head, |(h, _)| h)
}

/// Quantization names llama.cpp writes into file names, longest first where one is a
/// prefix of another.
const QUANTS: &[&str] = &[
    "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
    "IQ4_XS", "IQ4_NL", "Q2_K_XL", "Q2_K_L", "Q2_K_S", "Q2_K", "Q3_K_XL", "Q3_K_S", "Q3_K_M",
    "Q3_K_L", "Q3_K", "Q4_K_XL", "Q4_K_S", "Q4_K_M", "Q4_K_L", "Q4_K", "Q5_K_XL", "Q5_K_S",
    "Q5_K_M", "Q5_K_L", "Q5_K", "Q6_K_XL", "Q6_K_L", "Q6_K", "Q8_K_XL", "Q4_0_4_4", "Q4_0_4_8",
    "Q4_0_8_8", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "TQ1_0", "TQ2_0", "MXFP4", "BF16", "FP16",
    "FP32", "F16", "F32",
];

/// The quantization a GGUF file name states (`Qwen2.5-7B-Instruct-Q4_K_M.gguf` → `Q4_K_M`),
/// upper-case; the last one named wins (`…-f16-Q8_0.gguf` → `Q8_0`).
pub fn quantization_from_name(path: &str) -> Option<String> {
    let file = path.rsplit('/').next().unwrap_or(path).to_ascii_uppercase();
    let bytes = file.as_bytes();
    let edge = |i: usize| i >= bytes.len() || !bytes[i].is_ascii_alphanumeric();
    // After a name, `_` means a longer name (`Q4_K` in `Q4_K_Mx`), not an end.
    let end = |i: usize| edge(i) && bytes.get(i) != Some(&b'_');
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        if i == 0 || edge(i - 1) {
            if let Some(q) = QUANTS
                .iter()
                .find(|q| bytes[i..].starts_with(q.as_bytes()) && end(i + q.len()))
            {
                found = Some(q.to_string());
                i += q.len();
                continue;
            }
        }
        i += 1;
    }
    found
}

/// Sorts files and folds split parts into one listing per model.
fn group_gguf(mut files: Vec<(String, u64, Option<Sha256Hex>)>) -> Vec<GgufListing> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<GgufListing> = Vec::new();
    let mut split_of: Vec<Option<String>> = Vec::new();
    for (path, size, sha256) in files {
        let quantization = quantization_from_name(&path);
        let (split, stem) = match split_part(&path) {
            None => (None, None),
            Some((part, parts)) => {
                let stem = split_stem(&path).to_string();
                // A later part of a model already listed: fold it in.
                if let Some(i) = split_of.iter().position(|s| s.as_deref() == Some(&*stem)) {
                    let g = &mut out[i];
                    g.size = g.size.saturating_add(size);
                    if let Some(s) = &mut g.split {
                        s.present += 1;
                        s.parts = s.parts.max(parts);
                    }
                    if part == 1 {
                        g.path = path;
                        g.sha256 = sha256;
                    }
                    continue;
                }
                (Some(SplitInfo { parts, present: 1 }), Some(stem))
            }
        };
        out.push(GgufListing {
            path,
            size,
            sha256,
            quantization,
            split,
        });
        split_of.push(stem);
    }
    out
}

fn check_repo(repo: &str) -> Result<()> {
    check_names(repo, "main", "x.gguf").map_err(|_| HubError::HubRequest {
        url: repo.to_string(),
        kind: HubFailure::Refused,
        reason: format!("{repo:?} is not a repository name (owner/name)"),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next_page() {
        assert_eq!(
            next_link(r#"<https://huggingface.co/api/models/a/b/tree/main?recursive=true&cursor=xyz>; rel="next""#)
                .as_deref(),
            Some("https://huggingface.co/api/models/a/b/tree/main?recursive=true&cursor=xyz")
        );
        assert_eq!(
            next_link(r#"<https://x/1>; rel="prev", <https://x/3>; rel="next""#).as_deref(),
            Some("https://x/3")
        );
        assert_eq!(next_link(r#"<https://x/1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn loopback_endpoints_may_take_the_token_over_plain_http() {
        let local = HfApi::new("http://127.0.0.1:8123").unwrap().token_scope();
        assert!(local.allows_str("http://127.0.0.1:8123/api/models"));
        assert!(!local.allows_str("http://10.0.0.1:8123/api/models"));
        let mirror = HfApi::new("http://mirror.example").unwrap().token_scope();
        assert!(!mirror.allows_str("http://mirror.example/api/models"));
        assert!(mirror.allows_str("https://mirror.example/api/models"));
    }
}
