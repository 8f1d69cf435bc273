//! Linear layers of the CPU path: packed 4-row groups where the format has a packed layout,
//! otherwise rows dotted one by one from a copy made at load.

use super::pool::Pool;
use crate::model::weights::QMatrix;
use crate::model::ModelError;
use crate::quant::packed::{Isa, PackedMatrix, TokenTiles, GROUP};
use crate::quant::{self, Q8Block, Q8_BLOCK};

pub enum Weight {
    Packed(PackedMatrix),
    Rows(QMatrix),
}

impl Weight {
    /// Repacks `m` when its format allows, handing the file pages it came from back as it
    /// goes, so the weights are never in memory twice.
    pub fn new(m: QMatrix) -> Self {
        let mut released = 0;
        let packed = PackedMatrix::pack_with(m.ty, m.bytes(), m.rows, m.cols, |done| {
            m.release(released, done - released);
            released = done;
        });
        match packed {
            Some(p) => Weight::Packed(p),
            None => Weight::Rows(m.into_owned()),
        }
    }

    pub fn rows(&self) -> usize {
        match self {
            Weight::Packed(p) => p.rows,
            Weight::Rows(m) => m.rows,
        }
    }

    /// Whether a batch with token tiles runs on the tiled kernels (the other formats take
    /// the vector kernels).
    fn on_tiles(&self, tiled: bool) -> bool {
        matches!(self, Weight::Packed(p) if tiled && p.kind.has_tiled())
    }

    /// Units of work for the pool: 16-row tiles for the tiled kernels, 4-row groups
    /// otherwise.
    fn units(&self, tiled: bool) -> usize {
        match self {
            Weight::Packed(p) if self.on_tiles(tiled) => p.row_tiles(),
            _ => self.rows().div_ceil(GROUP),
        }
    }

    /// Dequantizes row `r` into `out`.
    pub fn row(&self, r: usize, out: &mut [f32]) -> Result<(), ModelError> {
        match self {
            Weight::Packed(p) => {
                p.dequantize_row(r, out);
                Ok(())
            }
            Weight::Rows(m) => m.dequantize_row(r, out),
        }
    }

    /// Outputs of the rows in `units` (see [`Self::units`]) for `n` inputs.
    fn compute(&self, isa: Isa, units: std::ops::Range<usize>, input: &Input, out: &Output) {
        let rows = self.rows();
        let emit = |t: usize, r0: usize, values: [f32; GROUP]| {
            for (k, v) in values.into_iter().enumerate() {
                if r0 + k < rows {
                    out.write(t, r0 + k, v);
                }
            }
        };
        match self {
            Weight::Packed(p) => match input.tiles {
                Some(tiles) if self.on_tiles(true) => p.gemm_tiled(units, tiles, emit),
                _ => p.gemm(isa, units, input.xq, input.n, emit),
            },
            Weight::Rows(m) => {
                let (cols, nb) = (m.cols, m.cols / Q8_BLOCK);
                for g in units {
                    for t in 0..input.n {
                        let x = &input.x[t * cols..(t + 1) * cols];
                        let xq = input.xq.get(t * nb..(t + 1) * nb).unwrap_or(&[]);
                        let mut values = [0f32; GROUP];
                        for (k, v) in values.iter_mut().enumerate() {
                            if g * GROUP + k < rows {
                                *v = quant::vec_dot(m.ty, m.row(g * GROUP + k), x, xq);
                            }
                        }
                        emit(t, g * GROUP, values);
                    }
                }
            }
        }
    }
}

/// A weight with its optional bias.
pub type Linear = crate::model::weights::Linear<Weight, Vec<f32>>;

/// `n` input rows, as f32 and quantized to 8 bits (every format reads one of them), and
/// for a prefill on the tiled kernels (AMX, AVX-512 VNNI) the quantized rows as tiles.
pub struct Input<'a> {
    pub x: &'a [f32],
    pub xq: &'a [Q8Block],
    pub n: usize,
    pub tiles: Option<&'a TokenTiles>,
}

/// Below this many tokens the vector kernels beat a 16-token tile.
const TILED_MIN_TOKENS: usize = 8;

impl<'a> Input<'a> {
    /// `n` rows of `x` whose quantized blocks `xq` holds already; they are laid out as
    /// `tiles` too when `tiled` and the batch is large enough for the tiled kernels to pay.
    pub fn quantized(
        x: &'a [f32],
        xq: &'a [Q8Block],
        tiles: &'a mut TokenTiles,
        n: usize,
        cols: usize,
        tiled: bool,
    ) -> Self {
        let tiled = tiled && cols.is_multiple_of(Q8_BLOCK) && n >= TILED_MIN_TOKENS;
        if tiled {
            tiles.fill(xq, n, cols / Q8_BLOCK);
        }
        Self {
            x,
            xq,
            n,
            tiles: tiled.then_some(&*tiles),
        }
    }
}

/// An `[n][rows]` output written by several threads, each to its own rows.
pub struct Output {
    ptr: *mut f32,
    len: usize,
    rows: usize,
    /// Add to what is there (a bias) instead of overwriting.
    accumulate: bool,
}

// SAFETY: threads write disjoint elements (their own row groups) and the owner of the
// buffer waits for all of them (`Pool::run`) before reading it.
unsafe impl Sync for Output {}

impl Output {
    fn new(buf: &mut [f32], rows: usize, accumulate: bool) -> Self {
        Self {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            rows,
            accumulate,
        }
    }

    fn write(&self, t: usize, r: usize, v: f32) {
        let i = t * self.rows + r;
        assert!(i < self.len);
        // SAFETY: in bounds (checked); no other thread writes row `r`.
        unsafe {
            let p = self.ptr.add(i);
            *p = if self.accumulate { *p + v } else { v };
        }
    }
}

/// Runs several layers that read the same input in one pass of the pool, splitting their
/// row groups evenly between the threads, then adds the biases. Allocates nothing.
pub fn matmul<const N: usize>(
    pool: &Pool,
    isa: Isa,
    input: &Input,
    jobs: [(&Linear, &mut [f32]); N],
) {
    let outputs = jobs.map(|(l, out)| {
        if let Some(bias) = &l.bias {
            // Start from the bias so the kernels' sums land on top of it.
            for row in out.chunks_exact_mut(bias.len()).take(input.n) {
                row.copy_from_slice(bias);
            }
        }
        (l, Output::new(out, l.weight.rows(), l.bias.is_some()))
    });
    let tiled = input.tiles.is_some();
    let total: usize = outputs.iter().map(|(l, _)| l.weight.units(tiled)).sum();
    pool.run(total, &|mine| {
        let mut base = 0;
        for (linear, out) in &outputs {
            let g = linear.weight.units(tiled);
            let (lo, hi) = (mine.start.max(base), mine.end.min(base + g));
            if lo < hi {
                linear.weight.compute(isa, lo - base..hi - base, input, out);
            }
            base += g;
        }
    });
}
