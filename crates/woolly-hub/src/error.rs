//! Typed errors. Every message says what failed and, where it helps, what to do next.

use std::path::PathBuf;

pub type Result<T, E = HubError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("invalid SHA-256 {0:?}: expected 64 hexadecimal digits")]
    InvalidSha256(String),

    #[error("SHA-256 mismatch for {url}: expected {expected}, got {actual}; the partial file was deleted")]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },

    #[error("no SHA-256 is known for {what}; refusing to download without verification")]
    MissingHash { what: String },

    #[error("HTTP {status} {reason} from {url}{hint}")]
    Status {
        url: String,
        status: u16,
        reason: String,
        hint: &'static str,
    },

    #[error("download of {url} failed after {attempts} attempts: {reason}")]
    GaveUp {
        url: String,
        attempts: u32,
        reason: String,
    },

    #[error("{url}: {reason}")]
    Protocol { url: String, reason: String },

    #[error("too many redirects starting at {url}")]
    TooManyRedirects { url: String },

    #[error("not enough disk space in {}: need {needed} bytes, {available} available", path.display())]
    InsufficientDisk {
        path: PathBuf,
        needed: u64,
        available: u64,
    },

    #[error("the disk filled up while writing {}: free some space, then resume the download (what was downloaded is kept)", path.display())]
    DiskFull { path: PathBuf },

    #[error("{} is already being downloaded by another process", path.display())]
    AlreadyDownloading { path: PathBuf },

    #[error("download cancelled")]
    Cancelled,

    #[error("invalid model name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },

    #[error("a different model named {0:?} is already installed; delete it first")]
    AlreadyExists(String),

    #[error("no installed model named {0:?}")]
    NotInstalled(String),

    #[error("not a usable GGUF model: {0}")]
    Gguf(#[from] woolly_core::gguf::GgufError),

    #[error("model index {}: {source}", path.display())]
    Index {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error("catalog: {0}")]
    Catalog(String),

    #[error("could not fetch the model catalog from {url}: {reason}; the current catalog is kept")]
    CatalogFetch { url: String, reason: String },

    #[error("the model catalog from {url} was refused: {reason}; the current catalog is kept")]
    CatalogRefused { url: String, reason: String },

    #[error("Hugging Face file listing {url}: {reason}")]
    HubApi { url: String, reason: String },

    /// A Hub API call (model search, repository file list) that did not give an answer.
    #[error("Hugging Face Hub: {reason} ({url})")]
    HubRequest {
        url: String,
        kind: HubFailure,
        reason: String,
    },

    #[error("OS keychain: {0}")]
    Keyring(String),

    #[error("the OS has no per-user data directory; pass a store directory explicitly")]
    NoDataDir,

    #[error("HTTP client: {0}")]
    Client(String),
}

/// Why a Hub API call failed, for callers that map errors to their own kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubFailure {
    /// No answer: DNS, connection, TLS, timeout.
    Unreachable,
    /// 401 / 403: a gated or private repository, or a token the Hub refuses.
    Unauthorized,
    /// 404: no such repository (or one hidden from this token).
    NotFound,
    /// 429 or 5xx: the Hub is busy or failing; trying later may work.
    Unavailable,
    /// An answer that is not what the Hub API sends (not JSON, wrong shape, bad hash).
    BadResponse,
    /// A request this code refuses to make (bad repository name, split file).
    Refused,
}

impl HubError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HubError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Adds the path to an I/O result.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| HubError::io(path, e))
    }
}

impl HubError {
    /// A failed write to `path`: [`HubError::DiskFull`] when the file system is full.
    pub fn write(path: &std::path::Path, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::StorageFull => HubError::DiskFull { path: path.into() },
            _ => HubError::Io {
                path: path.into(),
                source,
            },
        }
    }
}
