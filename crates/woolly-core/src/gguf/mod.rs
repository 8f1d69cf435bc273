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
    /// The mapped file, kept for positioned reads: after load only those touch the file,
    /// so a file truncated under a loaded model yields an error, not a fault (SIGBUS).
    file: Option<std::fs::File>,
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
        if !mmap {
            let bytes = Bytes::Owned(std::fs::read(&path).map_err(io)?);
            return Self::parse(path, bytes, None);
        }
        let file = std::fs::File::open(&path).map_err(io)?;
        // SAFETY: the mapping is read-only. A file truncated while mapped faults on access:
        // the map is only read while loading; afterwards the model holds its own copies or
        // reads through `read_at`, which reports a short file as an error.
        let bytes = Bytes::Mapped(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?);
        Self::parse(path, bytes, Some(file))
    }

    /// Validates an in-memory GGUF image; `name` is used in error messages.
    pub fn from_bytes(bytes: Vec<u8>, name: impl Into<PathBuf>) -> Result<Self, GgufError> {
        Self::parse(name.into(), Bytes::Owned(bytes), None)
    }

    fn parse(path: PathBuf, bytes: Bytes, file: Option<std::fs::File>) -> Result<Self, GgufError> {
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
                    file,
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

    /// Whether tensor data is read from a memory map (else from a buffer of its own).
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Mapped(_))
    }

    /// Copies `buf.len()` bytes at `offset` of the file into `buf`: through a positioned
    /// read for a mapped file, so a file truncated since it was opened gives
    /// [`GgufErrorKind::Changed`] instead of a fault.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), GgufError> {
        if let Some(file) = &self.file {
            return read_exact_at(file, buf, offset).map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => self.changed(),
                _ => self.error(e.into()),
            });
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match self.bytes.get(start..start.saturating_add(buf.len())) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(self.changed()),
        }
    }

    /// Fails with [`GgufErrorKind::Changed`] when a mapped file is now shorter than when it
    /// was opened: reading its map again (a reload) would fault.
    pub fn check_unchanged(&self) -> Result<(), GgufError> {
        match &self.file {
            Some(file) => match file.metadata() {
                Ok(m) if m.len() >= self.bytes.len() as u64 => Ok(()),
                Ok(_) => Err(self.changed()),
                Err(e) => Err(self.error(e.into())),
            },
            None => Ok(()),
        }
    }

    fn changed(&self) -> GgufError {
        let now = self.file.as_ref().and_then(|f| f.metadata().ok());
        self.error(GgufErrorKind::Changed {
            was: self.bytes.len() as u64,
            now: now.map_or(0, |m| m.len()),
        })
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

#[cfg(unix)]
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &std::fs::File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
            Ok(0) => return Err(Error::from(ErrorKind::UnexpectedEof)),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
