//! The on-disk model store: GGUF files in one directory plus `index.json` describing them.
//! The index is replaced atomically and updated under a lock file, so two processes (the
//! app and `woolly pull`) can share a store. Nothing outside the directory is ever written
//! or deleted: names are validated file names, and referenced imports are only read.

use crate::catalog::CatalogEntry;
use crate::download::{part_path, DownloadControl, DownloadEvent, DownloadRequest, Downloader};
use crate::error::{HubError, IoContext, Result};
use crate::fit::{check, FitReport, SystemMemory};
use crate::fsutil::{ensure_free_space, rename_durable, write_atomic};
use crate::hash::{sha256_file, Sha256Hex};
use crate::hf::HfApi;
use crate::meta::ModelMeta;
use crate::names::{name_from_url, validate_model_name};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};
use woolly_core::gguf::GgufFile;

pub const INDEX_FILE: &str = "index.json";
const LOCK_FILE: &str = ".index.lock";
const INDEX_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSource {
    Download {
        url: String,
    },
    /// Imported by copying into the store.
    Copied {
        from: PathBuf,
    },
    /// Imported by reference: the file stays where it is and is never deleted by us.
    Referenced,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledModel {
    pub name: String,
    /// Where the file is; recomputed on load (never trusted from the index for
    /// files inside the store).
    pub path: PathBuf,
    pub source: ModelSource,
    pub sha256: Sha256Hex,
    pub size_bytes: u64,
    pub added_unix: u64,
    pub meta: ModelMeta,
}

impl InstalledModel {
    pub fn is_referenced(&self) -> bool {
        self.source == ModelSource::Referenced
    }

    /// Memory fit at `context` tokens, when the header described the attention shape.
    pub fn fit(&self, context: u64, memory: &SystemMemory) -> Option<FitReport> {
        let ctx = self
            .meta
            .context_length
            .map_or(context, |max| context.min(max));
        Some(check(&self.meta.shape()?.estimate(ctx), memory))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    models: Vec<InstalledModel>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportMode {
    Copy,
    Reference,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Bytes returned to the file system (0 for a referenced import).
    pub freed_bytes: u64,
    pub file_removed: bool,
}

#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

impl ModelStore {
    /// `<OS data dir>/woolly/models`, e.g. `~/.local/share/woolly/models` on Linux.
    pub fn default_root() -> Result<PathBuf> {
        Ok(dirs::data_dir()
            .ok_or(HubError::NoDataDir)?
            .join("woolly")
            .join("models"))
    }

    pub fn open_default() -> Result<Self> {
        Self::open(Self::default_root()?)
    }

    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(&root).at(&root)?;
        // Canonical, so "is this inside the store" is a plain prefix question.
        let root = root.canonicalize().at(&root)?;
        Ok(ModelStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path a model called `name` has (or would have) in the store.
    pub fn model_path(&self, name: &str) -> Result<PathBuf> {
        validate_model_name(name)?;
        Ok(self.root.join(name))
    }

    pub fn list(&self) -> Result<Vec<InstalledModel>> {
        Ok(self.read_index()?.models)
    }

    pub fn get(&self, name: &str) -> Result<InstalledModel> {
        validate_model_name(name)?;
        self.list()?
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| HubError::NotInstalled(name.to_string()))
    }

    /// Downloads `url` into the store under the name its last path segment gives.
    pub async fn download(
        &self,
        downloader: &Downloader,
        url: &str,
        sha256: Sha256Hex,
        size_hint: Option<u64>,
        control: &DownloadControl,
        on_event: &mut (dyn FnMut(DownloadEvent) + Send),
    ) -> Result<InstalledModel> {
        let parsed = reqwest::Url::parse(url).map_err(|e| HubError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let name = name_from_url(&parsed)?;
        self.download_as(downloader, &name, url, sha256, size_hint, control, on_event)
            .await
    }

    /// Downloads a catalog entry; its digest is pinned or taken from the Hub listing.
    pub async fn download_catalog_entry(
        &self,
        downloader: &Downloader,
        hub: &HfApi,
        entry: &CatalogEntry,
        control: &DownloadControl,
        on_event: &mut (dyn FnMut(DownloadEvent) + Send),
    ) -> Result<InstalledModel> {
        let sha256 = entry.expected_sha256(downloader, hub).await?;
        let url = hub.resolve_url(&entry.repo, "main", &entry.file)?;
        self.download_as(
            downloader,
            &entry.file,
            &url,
            sha256,
            Some(entry.size_bytes),
            control,
            on_event,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn download_as(
        &self,
        downloader: &Downloader,
        name: &str,
        url: &str,
        sha256: Sha256Hex,
        size_hint: Option<u64>,
        control: &DownloadControl,
        on_event: &mut (dyn FnMut(DownloadEvent) + Send),
    ) -> Result<InstalledModel> {
        let dest = self.model_path(name)?;
        let installed = self
            .read_index()?
            .models
            .into_iter()
            .find(|m| m.name == name);
        if let Some(existing) = installed {
            if existing.sha256 != sha256 {
                return Err(HubError::AlreadyExists(name.to_string()));
            }
            // Already here: nothing to do. (An entry whose file has vanished is
            // downloaded again and its entry replaced.)
            if existing.path.is_file() {
                return Ok(existing);
            }
        }
        let request = DownloadRequest {
            url: url.to_string(),
            dest: dest.clone(),
            sha256,
            size_hint,
        };
        let done = downloader.download(&request, control, on_event).await?;
        let store = self.clone();
        let (name, url) = (name.to_string(), url.to_string());
        tokio::task::spawn_blocking(move || {
            store.register(
                &name,
                dest,
                ModelSource::Download { url },
                done.sha256,
                true,
            )
        })
        .await
        .map_err(|e| HubError::io(&self.root, std::io::Error::other(e)))?
    }

    /// Imports a local `.gguf`, validated by the GGUF reader first. Blocking: it reads
    /// the whole file to hash it (and copies it in `Copy` mode).
    pub fn import(
        &self,
        src: &Path,
        mode: ImportMode,
        name: Option<&str>,
    ) -> Result<InstalledModel> {
        GgufFile::open(src)?;
        let name = match name {
            Some(n) => n.to_string(),
            None => src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let dest = self.model_path(&name)?;
        if self.read_index()?.models.iter().any(|m| m.name == name) || dest.exists() {
            return Err(HubError::AlreadyExists(name));
        }
        let src = src.canonicalize().at(src)?;
        match mode {
            ImportMode::Reference => {
                let sha = sha256_file(&src)?;
                self.register(&name, src, ModelSource::Referenced, sha, false)
            }
            ImportMode::Copy => {
                let sha = self.copy_in(&src, &dest)?;
                self.register(&name, dest, ModelSource::Copied { from: src }, sha, true)
            }
        }
    }

    /// Removes a model: its file when it lives in the store, and its index entry.
    pub fn delete(&self, name: &str) -> Result<DeleteOutcome> {
        let path = self.model_path(name)?;
        let removed = self.update_index(|index| {
            let pos = index.models.iter().position(|m| m.name == name);
            Ok(pos.map(|p| index.models.remove(p)))
        })?;
        let _ = std::fs::remove_file(part_path(&path));
        match removed {
            Some(m) if m.is_referenced() => Ok(DeleteOutcome {
                freed_bytes: 0,
                file_removed: false,
            }),
            // In-store entries: the path is rebuilt from the validated name, never taken
            // from the index file.
            Some(_) => remove_in_store(&path),
            // A file left without an entry (a crash between rename and index update).
            None if path.is_file() => remove_in_store(&path),
            None => Err(HubError::NotInstalled(name.to_string())),
        }
    }

    /// Reads the GGUF header of `path` and records it. A file in the store that is not a
    /// usable GGUF is deleted: the store never holds a model that cannot load.
    fn register(
        &self,
        name: &str,
        path: PathBuf,
        source: ModelSource,
        sha256: Sha256Hex,
        in_store: bool,
    ) -> Result<InstalledModel> {
        let parsed = GgufFile::open(&path).map_err(HubError::from).and_then(|f| {
            let meta = ModelMeta::from_gguf(&f)?;
            Ok((meta, f.file_size()))
        });
        let (meta, size_bytes) = match parsed {
            Ok(v) => v,
            Err(e) => {
                if in_store {
                    let _ = std::fs::remove_file(&path);
                }
                return Err(e);
            }
        };
        let model = InstalledModel {
            name: name.to_string(),
            path,
            source,
            sha256,
            size_bytes,
            added_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            meta,
        };
        let entry = model.clone();
        self.update_index(move |index| {
            index.models.retain(|m| m.name != entry.name);
            index.models.push(entry);
            Ok(())
        })?;
        Ok(model)
    }

    /// Copies `src` to `dest` through a `.part` file, hashing on the way.
    fn copy_in(&self, src: &Path, dest: &Path) -> Result<Sha256Hex> {
        let len = std::fs::metadata(src).at(src)?.len();
        ensure_free_space(&self.root, len)?;
        let part = part_path(dest);
        let result = (|| {
            let mut reader = std::fs::File::open(src).at(src)?;
            let mut writer = HashingWriter {
                inner: std::fs::File::create(&part).at(&part)?,
                hasher: sha2::Sha256::new(),
            };
            std::io::copy(&mut reader, &mut writer).at(&part)?;
            writer.inner.sync_all().at(&part)?;
            rename_durable(&part, dest)?;
            Ok(Sha256Hex::from_digest(writer.hasher))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&part);
        }
        result
    }

    fn read_index(&self) -> Result<Index> {
        let path = self.root.join(INDEX_FILE);
        let mut index = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<Index>(&bytes).map_err(|source| HubError::Index {
                    path: path.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index {
                version: INDEX_VERSION,
                models: vec![],
            },
            Err(e) => return Err(HubError::io(path, e)),
        };
        // Entries whose names are not valid store names cannot have been written by us;
        // drop them rather than let them steer a path.
        index
            .models
            .retain(|m| validate_model_name(&m.name).is_ok());
        for m in &mut index.models {
            if !m.is_referenced() {
                m.path = self.root.join(&m.name);
            }
        }
        Ok(index)
    }

    /// Read-modify-write of the index under an exclusive lock, written atomically.
    fn update_index<T>(&self, change: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        let lock_path = self.root.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .at(&lock_path)?;
        fs4::FileExt::lock(&lock).at(&lock_path)?;
        let mut index = self.read_index()?;
        index.version = INDEX_VERSION;
        let out = change(&mut index)?;
        let json = serde_json::to_vec_pretty(&index).map_err(|source| HubError::Index {
            path: self.root.join(INDEX_FILE),
            source,
        })?;
        write_atomic(&self.root.join(INDEX_FILE), &json)?;
        drop(lock);
        Ok(out)
    }
}

fn remove_in_store(path: &Path) -> Result<DeleteOutcome> {
    let freed_bytes = std::fs::symlink_metadata(path)
        .map(|m| m.len())
        .unwrap_or(0);
    match std::fs::remove_file(path) {
        Ok(()) => Ok(DeleteOutcome {
            freed_bytes,
            file_removed: true,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DeleteOutcome {
            freed_bytes: 0,
            file_removed: false,
        }),
        Err(e) => Err(HubError::io(path, e)),
    }
}

struct HashingWriter {
    inner: std::fs::File,
    hasher: sha2::Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
