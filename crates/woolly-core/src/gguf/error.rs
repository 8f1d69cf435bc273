//! Typed GGUF errors: every one names the file and the problem.

use std::path::PathBuf;

/// A GGUF file could not be read or failed validation.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct GgufError {
    pub path: PathBuf,
    pub kind: GgufErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum GgufErrorKind {
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a GGUF file (magic bytes {0:02x?})")]
    BadMagic([u8; 4]),
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),
    #[error("file truncated: {what} at byte {offset} needs {needed} bytes, {available} left")]
    Truncated {
        what: &'static str,
        offset: u64,
        needed: u64,
        available: u64,
    },
    #[error("{what} count {count} is impossible for the file size (at most {max})")]
    ImpossibleCount {
        what: &'static str,
        count: u64,
        max: u64,
    },
    #[error("string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { offset: u64 },
    #[error("unknown metadata value type {id} for key {key:?}")]
    UnknownValueType { key: String, id: u32 },
    #[error("metadata array for key {key:?} nests deeper than {max} levels")]
    TooDeep { key: String, max: usize },
    #[error("duplicate metadata key {0:?}")]
    DuplicateKey(String),
    #[error("duplicate tensor {0:?}")]
    DuplicateTensor(String),
    #[error("general.alignment must be a power of two, got {0}")]
    BadAlignment(String),
    #[error("tensor {tensor:?} has unknown or unsupported type id {id}")]
    UnknownTensorType { tensor: String, id: u32 },
    #[error("tensor {tensor:?} has an invalid shape: {reason}")]
    BadShape { tensor: String, reason: String },
    #[error("tensor {tensor:?} offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned {
        tensor: String,
        offset: u64,
        alignment: u64,
    },
    #[error(
        "tensor {tensor:?} data [{start}, {end}) lies past the end of the file ({file_len} bytes)"
    )]
    OutOfBounds {
        tensor: String,
        start: u64,
        end: u64,
        file_len: u64,
    },
    #[error("tensors {first:?} and {second:?} overlap")]
    Overlap { first: String, second: String },
    #[error(
        "the file changed on disk while the model was loaded ({was} bytes, now {now}): load the model again"
    )]
    Changed { was: u64, now: u64 },
    #[error("missing metadata key {0:?}")]
    MissingKey(String),
    #[error("metadata key {key:?} should be {expected}, found {found}")]
    WrongType {
        key: String,
        expected: &'static str,
        found: String,
    },
}
