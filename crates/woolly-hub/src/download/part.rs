//! The `.part` file: bytes received so far, locked against a second writer, with the
//! SHA-256 state always matching its content (rebuilt by re-reading it on resume).

use crate::error::{HubError, IoContext, Result};
use crate::hash::{hash_reader, Sha256Hex};
use sha2::{Digest, Sha256};
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

pub(crate) struct PartFile {
    path: PathBuf,
    writer: BufWriter<tokio::fs::File>,
    hasher: Sha256,
    len: u64,
}

impl PartFile {
    /// Opens (or creates) `path` for appending. Fails with `AlreadyDownloading` when
    /// another process holds it: two writers would interleave bytes.
    pub async fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at(path)?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(HubError::AlreadyDownloading {
                    path: path.to_path_buf(),
                })
            }
            Err(fs4::TryLockError::Error(e)) => return Err(HubError::io(path, e)),
        }
        // A resume after a restart: hash what is already there (in memory we only trust
        // what we can re-read).
        let reader = file.try_clone().at(path)?;
        let (hasher, len) = tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            let mut hasher = Sha256::new();
            hash_reader(&mut reader, &mut hasher).map(|n| (hasher, n))
        })
        .await
        .map_err(|e| HubError::io(path, std::io::Error::other(e)))?
        .at(path)?;
        let mut file = tokio::fs::File::from_std(file);
        file.seek(SeekFrom::Start(len)).await.at(path)?;
        Ok(PartFile {
            path: path.to_path_buf(),
            writer: BufWriter::with_capacity(256 * 1024, file),
            hasher,
            len,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub async fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let written = self.writer.write_all(bytes).await;
        written.map_err(|e| HubError::write(&self.path, e))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        let flushed = self.writer.flush().await;
        flushed.map_err(|e| HubError::write(&self.path, e))
    }

    /// Empties the file and the hash state: the download starts over.
    pub async fn truncate(&mut self) -> Result<()> {
        self.writer.flush().await.at(&self.path)?;
        let file = self.writer.get_mut();
        file.set_len(0).await.at(&self.path)?;
        file.seek(SeekFrom::Start(0)).await.at(&self.path)?;
        self.hasher = Sha256::new();
        self.len = 0;
        Ok(())
    }

    /// Flushes and syncs; returns the digest, the length and the still-locked file.
    pub async fn finish(mut self) -> Result<(Sha256Hex, u64, tokio::fs::File)> {
        self.writer.flush().await.at(&self.path)?;
        let file = self.writer.into_inner();
        file.sync_all().await.at(&self.path)?;
        Ok((Sha256Hex::from_digest(self.hasher), self.len, file))
    }

    pub async fn remove(self) -> Result<()> {
        let path = self.path.clone();
        drop(self);
        match tokio::fs::remove_file(&path).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(HubError::io(path, e)),
            _ => Ok(()),
        }
    }
}
