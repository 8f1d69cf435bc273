//! The curated catalog (`catalog.json`, versioned with the code): instruct models known to
//! run well on desktops, with what the fit check needs before anything is downloaded.

use crate::download::Downloader;
use crate::error::{HubError, Result};
use crate::fit::{check, FitReport, MemoryEstimate, ModelShape, SystemMemory};
use crate::hash::Sha256Hex;
use crate::hf::HfApi;
use crate::names::validate_model_name;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

const BUILTIN: &str = include_str!("../catalog.json");

/// The catalog format this code reads.
pub const CATALOG_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    pub version: u32,
    #[serde(default)]
    pub notes: String,
    pub models: Vec<CatalogEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    pub family: String,
    pub description: String,
    /// Approximate parameter count.
    pub parameters: u64,
    pub architecture: String,
    pub repo: String,
    pub file: String,
    /// `https://huggingface.co/{repo}/resolve/main/{file}`
    pub url: String,
    pub size_bytes: u64,
    /// True when `size_bytes` is the Hub's rounded figure rather than the exact length.
    #[serde(default)]
    pub size_approximate: bool,
    /// Pinned digest; when absent the Hub's file listing supplies it at download time.
    pub sha256: Option<Sha256Hex>,
    pub quantization: String,
    pub license: String,
    pub context_length: u64,
    pub layers: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    /// Approximate memory needed at `memory.context` tokens (see [`crate::fit`]).
    pub memory: MemoryNeed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryNeed {
    pub context: u64,
    pub bytes: u64,
}

impl Catalog {
    /// The catalog shipped with this build.
    pub fn builtin() -> Result<Catalog> {
        Catalog::from_json(BUILTIN)
    }

    /// Parses and checks a catalog: unique ids, safe file names, URLs that match their
    /// repository and file.
    pub fn from_json(text: &str) -> Result<Catalog> {
        let catalog: Catalog =
            serde_json::from_str(text).map_err(|e| HubError::Catalog(e.to_string()))?;
        if catalog.version != CATALOG_VERSION {
            return Err(HubError::Catalog(format!(
                "version {} is not supported (this build reads {CATALOG_VERSION})",
                catalog.version
            )));
        }
        let mut ids = HashSet::new();
        for m in &catalog.models {
            let bad = |what: String| Err(HubError::Catalog(format!("{}: {what}", m.id)));
            if !ids.insert(m.id.as_str()) {
                return bad("duplicate id".into());
            }
            validate_model_name(&m.file)?;
            let expected = HfApi::default().resolve_url(&m.repo, "main", &m.file)?;
            if m.url != expected {
                return bad(format!("url should be {expected}"));
            }
            if m.size_bytes == 0
                || m.layers == 0
                || m.kv_heads == 0
                || m.head_dim == 0
                || m.context_length == 0
            {
                return bad("sizes and shape must be non-zero".into());
            }
        }
        Ok(catalog)
    }

    pub fn get(&self, id: &str) -> Option<&CatalogEntry> {
        self.models.iter().find(|m| m.id == id)
    }
}

impl CatalogEntry {
    /// The file size stands in for the tensor bytes (the header is a few MB at most).
    pub fn shape(&self) -> ModelShape {
        ModelShape {
            weights_bytes: self.size_bytes,
            layers: self.layers,
            kv_heads: self.kv_heads,
            head_dim: self.head_dim,
        }
    }

    pub fn estimate(&self, context: u64) -> MemoryEstimate {
        self.shape().estimate(context.min(self.context_length))
    }

    pub fn fit(&self, context: u64, memory: &SystemMemory) -> FitReport {
        check(&self.estimate(context), memory)
    }

    /// The digest the download must have: the pinned one, else the Hub's LFS SHA-256.
    pub async fn expected_sha256(&self, downloader: &Downloader, hub: &HfApi) -> Result<Sha256Hex> {
        match &self.sha256 {
            Some(h) => Ok(h.clone()),
            None => Ok(hub
                .lfs_file(downloader, &self.repo, "main", &self.file)
                .await?
                .sha256),
        }
    }
}
