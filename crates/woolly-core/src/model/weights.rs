//! Weight matrices kept in their GGUF block format, borrowed from the (mapped) file.

use super::ModelError;
use crate::gguf::{GgufFile, TensorInfo};
use crate::quant::{self, GgmlType};
use std::sync::Arc;

/// A `rows x cols` matrix in GGUF block format; row `r` is `cols` elements, contiguous.
#[derive(Clone)]
pub struct QMatrix {
    file: Arc<GgufFile>,
    info: TensorInfo,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
}

impl std::fmt::Debug for QMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QMatrix({} {}x{} {})",
            self.info.name, self.rows, self.cols, self.ty
        )
    }
}

impl QMatrix {
    /// The matrix `name` of `file`, which must be `rows x cols`.
    pub(crate) fn named(
        file: &Arc<GgufFile>,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Self, ModelError> {
        let info = file
            .tensor(name)
            .ok_or_else(|| ModelError::MissingTensor(name.into()))?;
        let m = Self::new(file.clone(), info.clone());
        if (m.rows, m.cols) != (rows, cols) {
            return Err(ModelError::BadTensor {
                name: name.into(),
                reason: format!(
                    "shape {}x{} where {rows}x{cols} was expected",
                    m.rows, m.cols
                ),
            });
        }
        Ok(m)
    }

    pub(crate) fn new(file: Arc<GgufFile>, info: TensorInfo) -> Self {
        let (rows, cols) = info.rows_cols();
        Self {
            ty: info.ggml_type,
            rows,
            cols,
            file,
            info,
        }
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// All blocks, row after row.
    pub fn bytes(&self) -> &[u8] {
        self.file.tensor_data(&self.info)
    }

    pub fn row_bytes(&self) -> usize {
        self.cols / self.ty.block_size() * self.ty.type_size()
    }

    /// Lets the OS drop the pages of bytes `start..start + len` of this matrix in a mapped
    /// file (after they were copied).
    pub fn release(&self, start: usize, len: usize) {
        self.file.release(self.info.offset as usize + start, len);
    }

    /// The blocks of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let n = self.row_bytes();
        &self.bytes()[r * n..(r + 1) * n]
    }
}

/// A (small) tensor dequantized to f32: norms and biases.
pub(super) fn load_vec(file: &GgufFile, name: &str) -> Result<Vec<f32>, ModelError> {
    let info = file
        .tensor(name)
        .ok_or_else(|| ModelError::MissingTensor(name.into()))?;
    let mut out = vec![0.0f32; info.n_elements() as usize];
    quant::dequantize(info.ggml_type, file.tensor_data(info), &mut out).map_err(|e| {
        ModelError::BadTensor {
            name: name.into(),
            reason: e.to_string(),
        }
    })?;
    Ok(out)
}
