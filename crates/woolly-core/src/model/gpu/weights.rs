//! Weight matrices on the device, uploaded once in their GGUF block layout and split into
//! row bands no larger than one binding may be.

use super::device::{Gpu, GpuError};
use super::quant::format;
use crate::quant::{self, GgmlType};
use cubecl::server::Handle;

/// One band of rows, in one buffer.
pub struct Band {
    pub handle: Handle,
    /// The band's first row in the whole matrix.
    pub row0: usize,
    pub rows: usize,
    /// Length of the buffer in `u32` words.
    pub words: usize,
}

/// A `rows x cols` weight matrix on the device.
pub struct DeviceMatrix {
    pub rows: usize,
    pub cols: usize,
    /// [`format`] tag of the blocks.
    pub format: u32,
    pub row_bytes: usize,
    pub bands: Vec<Band>,
    /// Where the rows of the second and third of the products stacked in it start (both
    /// `rows` for a matrix of one product; see [`Self::stack`]).
    pub splits: [usize; 2],
    q8: bool,
}

/// The kernel format of a GGUF type, when the kernels read it as it is.
fn native_format(ty: GgmlType) -> Option<u32> {
    Some(match ty {
        GgmlType::F32 => format::F32,
        GgmlType::F16 => format::F16,
        GgmlType::Q4_0 => format::Q4_0,
        GgmlType::Q4_1 => format::Q4_1,
        GgmlType::Q8_0 => format::Q8_0,
        GgmlType::Q4K => format::Q4_K,
        GgmlType::Q5K => format::Q5_K,
        GgmlType::Q6K => format::Q6_K,
        _ => return None,
    })
}

impl DeviceMatrix {
    /// Uploads `bytes` (`rows` rows of `cols` elements of `ty`). Types the kernels do not
    /// read are converted to F16 on the way, a band at a time.
    pub fn upload(
        gpu: &Gpu,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<Self, GpuError> {
        Self::upload_in_bands(gpu, ty, rows, cols, bytes, gpu.max_binding)
    }

    /// [`Self::upload`] in bands of at most `band_bytes`.
    pub fn upload_in_bands(
        gpu: &Gpu,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
        band_bytes: usize,
    ) -> Result<Self, GpuError> {
        if !cols.is_multiple_of(32) {
            return Err(GpuError::Device(format!(
                "rows of {cols} values are not whole 32-value units"
            )));
        }
        let src_row_bytes = cols / ty.block_size() * ty.type_size();
        if bytes.len() != rows * src_row_bytes {
            return Err(GpuError::Device(format!(
                "{} bytes for {rows} rows of {cols} {ty} values",
                bytes.len()
            )));
        }
        let (format, row_bytes) = match native_format(ty) {
            Some(f) => (f, src_row_bytes),
            None => (format::F16, cols * 2),
        };
        // A spare word after the last row: unaligned reads of the tail touch it.
        let rows_per_band = (band_bytes.saturating_sub(8) / row_bytes).max(1);
        let mut bands = Vec::new();
        let mut row_f32 = Vec::new();
        for row0 in (0..rows).step_by(rows_per_band) {
            let n = rows_per_band.min(rows - row0);
            let src = &bytes[row0 * src_row_bytes..(row0 + n) * src_row_bytes];
            let mut data = Vec::with_capacity(n * row_bytes + 8);
            if native_format(ty).is_some() {
                data.extend_from_slice(src);
            } else {
                row_f32.resize(cols, 0.0);
                for row in src.chunks_exact(src_row_bytes) {
                    quant::dequantize(ty, row, &mut row_f32)
                        .map_err(|e| GpuError::Device(e.to_string()))?;
                    data.extend(
                        row_f32
                            .iter()
                            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes()),
                    );
                }
            }
            data.resize(data.len().div_ceil(4) * 4 + 4, 0);
            bands.push(Band {
                handle: gpu.client.create_from_slice(&data),
                row0,
                rows: n,
                words: data.len() / 4,
            });
        }
        Ok(Self {
            q8: quant::uses_q8(ty),
            rows,
            cols,
            format,
            row_bytes,
            bands,
            splits: [rows, rows],
        })
    }

    /// Two or three products that read the same input, each `(rows, bytes)` of `cols`
    /// columns of `ty`, stacked into one matrix so one launch computes them all
    /// ([`super::ops::Kernels::matmul_stacked`]).
    pub fn stack(
        gpu: &Gpu,
        ty: GgmlType,
        cols: usize,
        parts: &[(usize, &[u8])],
    ) -> Result<Self, GpuError> {
        Self::stack_in_bands(gpu, ty, cols, parts, gpu.max_binding)
    }

    /// [`Self::stack`] in bands of at most `band_bytes` (a band may hold rows of two).
    pub fn stack_in_bands(
        gpu: &Gpu,
        ty: GgmlType,
        cols: usize,
        parts: &[(usize, &[u8])],
        band_bytes: usize,
    ) -> Result<Self, GpuError> {
        if !(2..=3).contains(&parts.len()) {
            return Err(GpuError::Device(format!(
                "{} products cannot be stacked",
                parts.len()
            )));
        }
        let rows: Vec<usize> = parts.iter().map(|p| p.0).collect();
        let mut bytes = Vec::with_capacity(parts.iter().map(|p| p.1.len()).sum());
        parts.iter().for_each(|p| bytes.extend_from_slice(p.1));
        let total = rows.iter().sum();
        let mut m = Self::upload_in_bands(gpu, ty, total, cols, &bytes, band_bytes)?;
        m.splits = [rows[0], rows[0] + rows[1]];
        Ok(m)
    }

    /// Whether the CPU path (and llama.cpp) dots these weights with 8-bit activations: the
    /// GPU rounds them the same way, so both paths agree at near-ties.
    pub fn wants_q8(&self) -> bool {
        self.q8
    }

    /// Bytes held on the device.
    pub fn device_bytes(&self) -> usize {
        self.bands.iter().map(|b| b.words * 4).sum()
    }
}

/// An f32 vector or matrix on the device (activations, norms, biases).
pub fn upload_f32(gpu: &Gpu, values: &[f32]) -> Handle {
    gpu.client.create_from_slice(f32_bytes(values))
}

pub fn f32_bytes(values: &[f32]) -> &[u8] {
    // SAFETY: f32 has no padding and any byte pattern is a valid u8.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
}
