//! Linear layers over quantized weights: burn tensors in and out, our fused
//! dequantize-and-dot kernels in between (weights never expand to f32).

use super::weights::QMatrix;
use super::ModelError;
use crate::quant::{self, Q8Block, Q8_BLOCK};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

/// Threads for the matrix kernels, created once (no per-op spawning).
pub struct MatmulPool {
    pool: rayon::ThreadPool,
    threads: usize,
}

/// Output rows handed to one task: enough work to amortise scheduling.
const ROWS_PER_TASK: usize = 64;

impl MatmulPool {
    pub fn new(threads: usize) -> Result<Self, ModelError> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("woolly-matmul-{i}"))
            .build()
            .map(|pool| Self { pool, threads })
            .map_err(|e| ModelError::Internal(format!("cannot start worker threads: {e}")))
    }
}

pub struct Linear {
    weight: QMatrix,
    bias: Option<Tensor<1>>,
}

impl Linear {
    pub fn new(weight: QMatrix, bias: Option<Tensor<1>>) -> Self {
        Self { weight, bias }
    }

    /// `x: [n, cols]` → `[n, rows]`.
    pub fn forward(&self, x: Tensor<2>, pool: &MatmulPool) -> Tensor<2> {
        let device = x.device();
        let n = x.dims()[0];
        let yt = self.forward_transposed(x, pool);
        let y = Tensor::<2>::from_data(TensorData::new(yt, [self.weight.rows, n]), &device);
        let y = if n == 1 {
            y.reshape([1, self.weight.rows])
        } else {
            y.swap_dims(0, 1)
        };
        match &self.bias {
            Some(b) => y + b.clone().unsqueeze_dim::<2>(0),
            None => y,
        }
    }

    /// Without the bias, into host memory, for a single row `x: [1, cols]`.
    pub fn forward_to_vec(&self, x: Tensor<2>, pool: &MatmulPool) -> Vec<f32> {
        debug_assert_eq!(x.dims()[0], 1);
        self.forward_transposed(x, pool)
    }

    /// `W · xᵀ` as `[rows, n]`: each task owns a band of output rows for every input
    /// row, so the band's weights are read once and reused across the batch.
    fn forward_transposed(&self, x: Tensor<2>, pool: &MatmulPool) -> Vec<f32> {
        let [n, cols] = x.dims();
        let data = x.into_data();
        let xs: Vec<f32> = match data.as_slice::<f32>() {
            Ok(s) => s.to_vec(),
            Err(_) => data
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap_or_default(),
        };
        let w = &self.weight;
        let blocks_per_row = cols / Q8_BLOCK;
        let mut xq = Vec::new();
        if quant::uses_q8(w.ty) {
            xq.resize(n * blocks_per_row, Q8Block::default());
            quant::quantize_q8(&xs, &mut xq);
        }
        let mut yt = vec![0.0f32; w.rows * n];
        let band = |(band, out): (usize, &mut [f32])| {
            for (k, o) in out.chunks_mut(n).enumerate() {
                let row = w.row(band * ROWS_PER_TASK + k);
                for (i, o) in o.iter_mut().enumerate() {
                    let xq = xq
                        .get(i * blocks_per_row..(i + 1) * blocks_per_row)
                        .unwrap_or(&[]);
                    *o = quant::vec_dot(w.ty, row, &xs[i * cols..(i + 1) * cols], xq);
                }
            }
        };
        if pool.threads == 1 {
            // One thread: stay on the caller's, no hand-off.
            yt.chunks_mut(ROWS_PER_TASK * n).enumerate().for_each(band);
        } else {
            pool.pool.install(|| {
                yt.par_chunks_mut(ROWS_PER_TASK * n)
                    .enumerate()
                    .for_each(band)
            });
        }
        yt
    }
}
