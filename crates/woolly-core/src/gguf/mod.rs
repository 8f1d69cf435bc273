//! GGUF model files: parsed and validated header, memory-mapped tensor data.
//!
//! ```no_run
//! let file = woolly_core::gguf::GgufFile::open("model.gguf")?;
//! println!("{} with {} tensors", file.arch()?, file.tensors().len());
//! # Ok::<(), woolly_core::gguf::GgufError>(())
//! ```

mod error;
mod reader;
mod value;
mod writer;

pub use error::{GgufError, GgufErrorKind};
pub use value::{Value, ValueType};
pub use writer::{GgufWriter, TensorProducer};

use crate::quant::GgmlType;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// One tensor's description. `dims[0]` is the innermost (row) length, as in ggml.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Absolute byte offset of the data in the file (after validation).
    pub offset: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Elements per row (`dims[0]`) and number of rows (the product of the other dims).
    pub fn rows_cols(&self) -> (usize, usize) {
        let cols = self.dims[0] as usize;
        (self.n_elements() as usize / cols, cols)
    }
}

enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A validated GGUF file. Tensor data stays in the file mapping (or buffer) until used.
pub struct GgufFile {
    path: PathBuf,
    bytes: Bytes,
    version: u32,
    metadata: Vec<(String, Value)>,
    key_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    alignment: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and validates `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        Self::open_with(path, true)
    }

    /// Like [`open`](Self::open); with `mmap == false` the file is read into memory instead.
    pub fn open_with(path: impl AsRef<Path>, mmap: bool) -> Result<Self, GgufError> {
        let path = path.as_ref().to_path_buf();
        let io = |e: std::io::Error| GgufError {
            path: path.clone(),
            kind: e.into(),
        };
        let bytes = if mmap {
            let file = std::fs::File::open(&path).map_err(io)?;
            // SAFETY: the mapping is read-only; a model file modified while mapped is
            // outside what any reader can guard against (llama.cpp maps the same way).
            Bytes::Mapped(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?)
        } else {
            Bytes::Owned(std::fs::read(&path).map_err(io)?)
        };
        Self::parse(path, bytes)
    }

    /// Validates an in-memory GGUF image; `name` is used in error messages.
    pub fn from_bytes(bytes: Vec<u8>, name: impl Into<PathBuf>) -> Result<Self, GgufError> {
        Self::parse(name.into(), Bytes::Owned(bytes))
    }

    fn parse(path: PathBuf, bytes: Bytes) -> Result<Self, GgufError> {
        match Self::parse_inner(&bytes) {
            Ok((version, metadata, tensors, alignment)) => {
                let key_index = metadata
                    .iter()
                    .enumerate()
                    .map(|(i, (k, _))| (k.clone(), i))
                    .collect();
                let tensor_index = tensors
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.name.clone(), i))
                    .collect();
                Ok(Self {
                    path,
                    bytes,
                    version,
                    metadata,
                    key_index,
                    tensors,
                    tensor_index,
                    alignment,
                })
            }
            Err(kind) => Err(GgufError { path, kind }),
        }
    }

    #[allow(clippy::type_complexity)]
    fn parse_inner(
        buf: &[u8],
    ) -> Result<(u32, Vec<(String, Value)>, Vec<TensorInfo>, u64), GgufErrorKind> {
        use GgufErrorKind as E;
        let mut h = reader::parse_header(buf)?;
        let alignment = match h.metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some((_, v)) => match v.as_u64() {
                Some(a) if a.is_power_of_two() => a,
                _ => return Err(E::BadAlignment(v.to_string())),
            },
        };
        let file_len = buf.len() as u64;
        // The data section starts at the next aligned offset after the header.
        let data_start = h.header_end.div_ceil(alignment) * alignment;
        for t in &mut h.tensors {
            if t.offset % alignment != 0 {
                return Err(E::Misaligned {
                    tensor: t.name.clone(),
                    offset: t.offset,
                    alignment,
                });
            }
            let start = data_start.checked_add(t.offset);
            let end = start.and_then(|s| s.checked_add(t.n_bytes));
            match (start, end) {
                (Some(start), Some(end)) if end <= file_len => t.offset = start,
                _ => {
                    return Err(E::OutOfBounds {
                        tensor: t.name.clone(),
                        start: start.unwrap_or(u64::MAX),
                        end: end.unwrap_or(u64::MAX),
                        file_len,
                    })
                }
            }
        }
        let mut by_offset: Vec<&TensorInfo> = h.tensors.iter().collect();
        by_offset.sort_by_key(|t| t.offset);
        for pair in by_offset.windows(2) {
            if pair[0].offset + pair[0].n_bytes > pair[1].offset {
                return Err(E::Overlap {
                    first: pair[0].name.clone(),
                    second: pair[1].name.clone(),
                });
            }
        }
        Ok((h.version, h.metadata, h.tensors, alignment))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Total size of the file image in bytes.
    pub fn file_size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Metadata in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key)?.as_u64()
    }

    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key)?.as_bool()
    }

    pub fn get_array(&self, key: &str) -> Option<&[Value]> {
        self.get(key)?.as_array()
    }

    /// `general.architecture`, e.g. `"llama"`.
    pub fn arch(&self) -> Result<&str, GgufError> {
        self.require("general.architecture", "a string", Value::as_str)
    }

    /// A required `{arch}.{name}` integer hyper-parameter, e.g. `hparam_u64("block_count")`.
    pub fn hparam_u64(&self, name: &str) -> Result<u64, GgufError> {
        let key = format!("{}.{name}", self.arch()?);
        self.require(&key, "an unsigned integer", Value::as_u64)
    }

    /// An optional `{arch}.{name}` float hyper-parameter; errors only if present with a
    /// non-numeric type.
    pub fn hparam_f64_opt(&self, name: &str) -> Result<Option<f64>, GgufError> {
        let key = format!("{}.{name}", self.arch()?);
        match self.get(&key) {
            None => Ok(None),
            Some(_) => self.require(&key, "a number", Value::as_f64).map(Some),
        }
    }

    /// An optional `{arch}.{name}` integer hyper-parameter.
    pub fn hparam_u64_opt(&self, name: &str) -> Result<Option<u64>, GgufError> {
        let key = format!("{}.{name}", self.arch()?);
        match self.get(&key) {
            None => Ok(None),
            Some(_) => self
                .require(&key, "an unsigned integer", Value::as_u64)
                .map(Some),
        }
    }

    fn require<'a, T>(
        &'a self,
        key: &str,
        expected: &'static str,
        get: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<T, GgufError> {
        let value = self
            .get(key)
            .ok_or_else(|| self.error(GgufErrorKind::MissingKey(key.into())))?;
        get(value).ok_or_else(|| {
            self.error(GgufErrorKind::WrongType {
                key: key.into(),
                expected,
                found: format!("{:?}", value.value_type()),
            })
        })
    }

    /// An error about this file.
    pub fn error(&self, kind: GgufErrorKind) -> GgufError {
        GgufError {
            path: self.path.clone(),
            kind,
        }
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The raw (block-format) bytes of a tensor of this file.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        // Offsets of this file's tensors were validated when it was opened; an info from
        // another file that does not fit yields no bytes rather than a panic.
        let start = info.offset as usize;
        self.bytes
            .get(start..start.saturating_add(info.n_bytes as usize))
            .unwrap_or(&[])
    }

    /// Empties the array values of metadata keys starting with `prefix` (keeping the keys
    /// and element types), e.g. the tokenizer's vocabulary once a tokenizer has been built
    /// from it: megabytes that nothing reads again.
    pub fn forget_metadata(&mut self, prefix: &str) {
        for (key, value) in &mut self.metadata {
            if let (true, Value::Array(_, items)) = (key.starts_with(prefix), value) {
                *items = Vec::new();
            }
        }
    }

    /// Lets the OS drop the pages of bytes `start..start + len` from this process's memory,
    /// for data already copied elsewhere (e.g. repacked weights). Only a mapped file gives
    /// anything back; its pages are read from disk again if they are touched later.
    pub fn release(&self, start: usize, len: usize) {
        #[cfg(unix)]
        if let Bytes::Mapped(m) = &self.bytes {
            let page = 4096;
            // Only whole pages inside the range, so neighbouring data keeps its pages.
            let first = start.div_ceil(page) * page;
            let end = (start + len).min(m.len()) / page * page;
            if end > first {
                // SAFETY: the mapping is read-only and file-backed: dropped pages are
                // re-read from the file, so no borrowed slice can observe a change.
                let _ = unsafe {
                    m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, end - first)
                };
            }
        }
        let _ = (start, len);
    }

    /// [`Self::release`]s the header (metadata and tensor index, parsed into owned values
    /// when the file was opened): the vocabulary alone is megabytes of pages.
    pub fn release_header(&self) {
        let data_start = self.tensors.iter().map(|t| t.offset).min().unwrap_or(0);
        self.release(0, data_start as usize);
    }

    /// Bytes of all tensor data (what the weights occupy in memory).
    pub fn tensor_bytes_total(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }
}
