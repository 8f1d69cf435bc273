//! The model catalog in use: the signed one refreshed last (woolly-hub's `CatalogCache`,
//! verified on every read from disk), else the one compiled in. Kept in memory once read.

use crate::error::{AppError, AppResult};
use crate::types::{CatalogInfo, CatalogOrigin};
use std::path::PathBuf;
use std::sync::RwLock;
use woolly_hub::refresh::CATALOG_URL;
use woolly_hub::{Catalog, CatalogCache, CatalogKeys, DownloadOptions, Downloader, Refreshed};

/// Where a refreshed catalog comes from and the keys it must be signed with.
#[derive(Clone)]
pub struct CatalogSource {
    pub url: String,
    pub keys: CatalogKeys,
}

pub struct CatalogHost {
    cache: CatalogCache,
    source: RwLock<Option<CatalogSource>>,
    /// The catalog in use and, when refreshed, its fetch time; None until first read.
    current: RwLock<Option<(Catalog, Option<u64>)>>,
}

impl CatalogHost {
    /// The release source: `CATALOG_URL`, signed by a key in `CATALOG_KEYS`.
    pub fn new(cache_path: PathBuf) -> Self {
        let source = CatalogKeys::builtin().ok().map(|keys| CatalogSource {
            url: CATALOG_URL.to_string(),
            keys,
        });
        Self {
            cache: CatalogCache::new(cache_path),
            source: RwLock::new(source),
            current: RwLock::new(None),
        }
    }

    /// Another source (tests on loopback; a fork's own catalog and key). Not reachable from
    /// the WebView.
    pub fn set_source(&self, source: CatalogSource) {
        *self.source.write().unwrap_or_else(|p| p.into_inner()) = Some(source);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn source(&self) -> Option<CatalogSource> {
        self.source
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn loaded(&self) -> AppResult<(Catalog, Option<u64>)> {
        if let Some(c) = &*self.current.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(c.clone());
        }
        let loaded = match self.source().and_then(|s| self.cache.load(&s.keys)) {
            Some(r) => (r.catalog, Some(r.fetched_at_ms)),
            None => (Catalog::builtin()?, None),
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded.clone());
        Ok(loaded)
    }

    /// The catalog the Models page, downloads and imports use.
    pub fn current(&self) -> AppResult<Catalog> {
        Ok(self.loaded()?.0)
    }

    pub fn info(&self) -> CatalogInfo {
        let (models, refreshed_at) = match self.loaded() {
            Ok((c, at)) => (c.models.len() as u32, at),
            Err(_) => (0, None),
        };
        CatalogInfo {
            origin: match refreshed_at {
                Some(_) => CatalogOrigin::Refreshed,
                None => CatalogOrigin::Builtin,
            },
            models,
            refreshed_at: refreshed_at.map(|t| t as i64),
        }
    }

    /// Fetches the signed catalog; the one in use changes only when it verifies.
    pub async fn refresh(&self) -> AppResult<Refreshed> {
        let source = self
            .source()
            .ok_or_else(|| AppError::internal("This build has no valid catalog key."))?;
        let downloader = Downloader::new(DownloadOptions::default())?;
        let refreshed = self
            .cache
            .refresh(&downloader, &source.url, &source.keys)
            .await?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Some((refreshed.catalog.clone(), Some(refreshed.fetched_at_ms)));
        Ok(refreshed)
    }
}
