//! Writes GGUF v3 files: used by tests to build tiny models and by tools that convert or
//! synthesize models. Tensor data is either held in memory or streamed: produced while the
//! file is written, so a multi-gigabyte model never sits in memory.

use super::value::{Value, ValueType};
use super::DEFAULT_ALIGNMENT;
use crate::quant::GgmlType;
use std::io::{self, Write};

/// Writes a tensor's data, block format, exactly its byte size.
pub type TensorProducer = Box<dyn Fn(&mut dyn Write) -> io::Result<()> + Send + Sync>;

enum TensorData {
    Bytes(Vec<u8>),
    Stream {
        n_bytes: usize,
        write: TensorProducer,
    },
}

impl TensorData {
    fn len(&self) -> usize {
        match self {
            TensorData::Bytes(b) => b.len(),
            TensorData::Stream { n_bytes, .. } => *n_bytes,
        }
    }
}

/// Collects metadata and tensors, then writes a GGUF v3 image.
#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>, GgmlType, TensorData)>,
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn meta(&mut self, key: impl Into<String>, value: Value) -> &mut Self {
        self.metadata.push((key.into(), value));
        self
    }

    /// Adds a tensor; `dims[0]` is the row length. `data` must already be in `ty`'s block
    /// format (see `quant` for encoders).
    pub fn tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: GgmlType,
        data: Vec<u8>,
    ) -> &mut Self {
        self.tensors
            .push((name.into(), dims.to_vec(), ty, TensorData::Bytes(data)));
        self
    }

    /// Adds a tensor whose data `write` produces while the file is written (and again on
    /// every write). It must write exactly the byte size of `dims` in `ty`, which must be a
    /// whole number of blocks (checked here).
    pub fn tensor_stream(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        ty: GgmlType,
        write: impl Fn(&mut dyn Write) -> io::Result<()> + Send + Sync + 'static,
    ) -> &mut Self {
        let name = name.into();
        let n_bytes = ty
            .byte_size(dims.iter().product())
            .unwrap_or_else(|| panic!("{name}: {dims:?} is not a whole number of {ty} blocks"))
            as usize;
        let write = Box::new(write);
        self.tensors.push((
            name,
            dims.to_vec(),
            ty,
            TensorData::Stream { n_bytes, write },
        ));
        self
    }

    /// Number of tensors added so far.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// Adds an F32 tensor.
    pub fn tensor_f32(&mut self, name: impl Into<String>, dims: &[u64], data: &[f32]) -> &mut Self {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensor(name, dims, GgmlType::F32, bytes)
    }

    fn alignment(&self) -> u64 {
        self.metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .filter(|a| a.is_power_of_two())
            .unwrap_or(DEFAULT_ALIGNMENT)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out)
            .expect("writing to memory fails only if a tensor producer fails");
        out
    }

    /// Writes the GGUF image to `out`, streaming each tensor's data in turn.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let align = self.alignment() as usize;
        let mut head = Vec::new();
        head.extend_from_slice(b"GGUF");
        head.extend_from_slice(&3u32.to_le_bytes());
        head.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        head.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            write_str(&mut head, key);
            head.extend_from_slice(&(value.value_type() as u32).to_le_bytes());
            write_value(&mut head, value);
        }
        let mut offset = 0usize;
        for (name, dims, ty, data) in &self.tensors {
            write_str(&mut head, name);
            head.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                head.extend_from_slice(&d.to_le_bytes());
            }
            head.extend_from_slice(&(*ty as u32).to_le_bytes());
            head.extend_from_slice(&(offset as u64).to_le_bytes());
            offset += data.len().div_ceil(align) * align;
        }
        head.resize(head.len().div_ceil(align) * align, 0);
        out.write_all(&head)?;
        let zeros = vec![0u8; align];
        for (name, _, _, data) in &self.tensors {
            match data {
                TensorData::Bytes(bytes) => out.write_all(bytes)?,
                TensorData::Stream { n_bytes, write } => {
                    let mut counted = Counted { inner: out, n: 0 };
                    write(&mut counted)?;
                    if counted.n != *n_bytes {
                        return Err(io::Error::other(format!(
                            "tensor {name}: its producer wrote {} bytes, not {n_bytes}",
                            counted.n
                        )));
                    }
                }
            }
            let len = data.len();
            out.write_all(&zeros[..len.div_ceil(align) * align - len])?;
        }
        Ok(())
    }

    /// Writes the file, streaming tensor data through a buffer.
    pub fn write_to(&self, path: impl AsRef<std::path::Path>) -> io::Result<()> {
        let mut file = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        self.write(&mut file)?;
        file.flush()
    }
}

/// Counts the bytes passed through to `inner`.
struct Counted<'a> {
    inner: &'a mut dyn Write,
    n: usize,
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.push(*v as u8),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(*v as u8),
        Value::String(s) => write_str(out, s),
        Value::Array(ty, items) => {
            out.extend_from_slice(&(*ty as u32).to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                debug_assert_eq!(item.value_type(), *ty, "mixed-type GGUF array");
                write_value(out, item);
            }
        }
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
    }
}

impl Value {
    /// An array of strings.
    pub fn strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Value {
        Value::Array(
            ValueType::String,
            items.into_iter().map(|s| Value::String(s.into())).collect(),
        )
    }
}
