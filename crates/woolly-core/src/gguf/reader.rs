//! Bounds-checked parsing of the GGUF header. Every count read from the file is checked
//! against the bytes that remain before anything is allocated for it.

use super::error::GgufErrorKind as E;
use super::value::{Value, ValueType};
use super::TensorInfo;
use crate::quant::GgmlType;

/// Nested metadata arrays deeper than this are rejected (real files use one level).
const MAX_ARRAY_DEPTH: usize = 4;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;
/// Smallest possible tensor-info record: name length, n_dims, type, offset.
const MIN_TENSOR_INFO: u64 = 8 + 4 + 4 + 8;
/// Smallest possible metadata entry: key length, value type, a one-byte value.
const MIN_KV: u64 = 8 + 4 + 1;

pub(super) struct Header {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    /// Byte offset of the end of the tensor-info table.
    pub header_end: u64,
}

pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], E> {
        if n > self.remaining() {
            return Err(E::Truncated {
                what,
                offset: self.pos as u64,
                needed: n,
                available: self.remaining(),
            });
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], E> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, E> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, E> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A count of records that each take at least `min_size` bytes.
    fn count(&mut self, what: &'static str, min_size: u64) -> Result<u64, E> {
        let count = self.u64(what)?;
        let max = self.remaining() / min_size;
        if count > max {
            return Err(E::ImpossibleCount { what, count, max });
        }
        Ok(count)
    }

    fn string(&mut self, what: &'static str) -> Result<String, E> {
        let len = self.u64(what)?;
        let offset = self.pos as u64;
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| E::InvalidUtf8 { offset })
    }

    fn value(&mut self, key: &str, ty: ValueType, depth: usize) -> Result<Value, E> {
        const W: &str = "metadata value";
        Ok(match ty {
            ValueType::U8 => Value::U8(self.array::<1>(W)?[0]),
            ValueType::I8 => Value::I8(self.array::<1>(W)?[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.array(W)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.array(W)?)),
            ValueType::U32 => Value::U32(self.u32(W)?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.array(W)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.array(W)?)),
            ValueType::Bool => Value::Bool(self.array::<1>(W)?[0] != 0),
            ValueType::String => Value::String(self.string(W)?),
            ValueType::U64 => Value::U64(self.u64(W)?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.array(W)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.array(W)?)),
            ValueType::Array => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(E::TooDeep {
                        key: key.to_owned(),
                        max: MAX_ARRAY_DEPTH,
                    });
                }
                let elem = self.value_type(key)?;
                let n = self.count("metadata array", elem.min_encoded_size())?;
                let mut items = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    items.push(self.value(key, elem, depth + 1)?);
                }
                Value::Array(elem, items)
            }
        })
    }

    fn value_type(&mut self, key: &str) -> Result<ValueType, E> {
        let id = self.u32("metadata value type")?;
        ValueType::from_id(id).ok_or_else(|| E::UnknownValueType {
            key: key.to_owned(),
            id,
        })
    }

    fn tensor_info(&mut self) -> Result<TensorInfo, E> {
        let name = self.string("tensor name")?;
        let n_dims = self.u32("tensor dimension count")?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(E::BadShape {
                tensor: name,
                reason: format!("{n_dims} dimensions (expected 1 to {MAX_DIMS})"),
            });
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64("tensor dimension")?);
        }
        let type_id = self.u32("tensor type")?;
        let relative_offset = self.u64("tensor offset")?;
        let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| E::UnknownTensorType {
            tensor: name.clone(),
            id: type_id,
        })?;
        let n_elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n > 0)
            .ok_or_else(|| E::BadShape {
                tensor: name.clone(),
                reason: format!("dimensions {dims:?} are empty or overflow"),
            })?;
        if dims[0] % ggml_type.block_size() as u64 != 0 {
            return Err(E::BadShape {
                tensor: name,
                reason: format!(
                    "row length {} is not a multiple of the {ggml_type} block size {}",
                    dims[0],
                    ggml_type.block_size()
                ),
            });
        }
        let n_bytes = ggml_type.byte_size(n_elements).ok_or_else(|| E::BadShape {
            tensor: name.clone(),
            reason: "byte size overflows".into(),
        })?;
        Ok(TensorInfo {
            name,
            dims,
            ggml_type,
            offset: relative_offset,
            n_bytes,
        })
    }
}

/// Parses magic, version, metadata and tensor infos. Tensor offsets are left relative to
/// the data section; the caller places and validates them.
pub(super) fn parse_header(buf: &[u8]) -> Result<Header, E> {
    let mut c = Cursor::new(buf);
    let magic: [u8; 4] = c.array("magic")?;
    if &magic != b"GGUF" {
        return Err(E::BadMagic(magic));
    }
    let version = c.u32("version")?;
    if version != 2 && version != 3 {
        return Err(E::UnsupportedVersion(version));
    }
    // Counts are checked once their records can be bounded by the bytes left.
    let n_tensors = c.u64("tensor count")?;
    let n_kv = c.count("metadata count", MIN_KV)?;

    let mut metadata: Vec<(String, Value)> = Vec::with_capacity(n_kv as usize);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..n_kv {
        let key = c.string("metadata key")?;
        let ty = c.value_type(&key)?;
        let value = c.value(&key, ty, 0)?;
        if !seen.insert(key.clone()) {
            return Err(E::DuplicateKey(key));
        }
        metadata.push((key, value));
    }

    let max = c.remaining() / MIN_TENSOR_INFO;
    if n_tensors > max {
        return Err(E::ImpossibleCount {
            what: "tensor count",
            count: n_tensors,
            max,
        });
    }
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    let mut names = std::collections::HashSet::new();
    for _ in 0..n_tensors {
        let info = c.tensor_info()?;
        if !names.insert(info.name.clone()) {
            return Err(E::DuplicateTensor(info.name));
        }
        tensors.push(info);
    }
    Ok(Header {
        version,
        metadata,
        tensors,
        header_end: c.pos as u64,
    })
}
