//! Launching the kernels: shapes in, cube grids out, and a count of every dispatch.

use super::device::Gpu;
use super::kernels::{self, ATTENTION_THREADS, ELEMENTWISE_THREADS, MATMUL_THREADS, NORM_THREADS};
use super::weights::DeviceMatrix;
use cubecl::prelude::*;
use cubecl::server::Handle;
use std::cell::Cell;

/// Tokens per cube in a batched matrix product (each weight row dequantized once per tile).
pub const MATMUL_TILE: u32 = 8;

/// A device buffer with its length in elements.
#[derive(Clone)]
pub struct Buf {
    pub handle: Handle,
    pub len: usize,
}

impl Buf {
    /// Values `start..start + len` of this buffer, as a buffer of their own (a binding at
    /// an offset: `start * 4` must be a multiple of the adapter's offset alignment, which
    /// a multiple of 64 values is everywhere).
    pub fn view(&self, start: usize, len: usize) -> Buf {
        assert!(start + len <= self.len);
        let end = self.len - start - len;
        Buf {
            handle: (self.handle.clone())
                .offset_start(start as u64 * 4)
                .offset_end(end as u64 * 4),
            len,
        }
    }

    fn arg(&self) -> BufferArg {
        // SAFETY: every Buf is created with the length of the buffer behind its handle.
        unsafe { BufferArg::from_raw_parts(self.handle.clone(), self.len) }
    }
}

/// The cube grid for `count` cubes indexed as `y * count_x + x`.
fn grid(count: usize, z: u32) -> CubeCount {
    let x = count.clamp(1, 32768);
    CubeCount::Static(x as u32, count.div_ceil(x).max(1) as u32, z)
}

fn elementwise(len: usize) -> CubeCount {
    grid(len.div_ceil(ELEMENTWISE_THREADS as usize), 1)
}

/// The kernels of one model on the shared GPU.
pub struct Kernels<'a> {
    pub gpu: &'a Gpu,
    pub dispatches: Cell<u64>,
    /// Threads per matrix row (the adapter's choice unless a test picks another).
    pub matmul_lanes: u32,
    /// One f16 `d · Σq` per 32-value block of the latest activations rounded to 8 bits
    /// (written by the rounding kernels, read by Q4_1's matrix product).
    pub sums: Buf,
}

impl<'a> Kernels<'a> {
    /// `sums` holds a value per 32 activations of the widest input rounded at once.
    pub fn new(gpu: &'a Gpu, sums: Buf) -> Self {
        Self {
            gpu,
            dispatches: Cell::new(0),
            matmul_lanes: gpu.matmul_lanes,
            sums,
        }
    }

    fn count(&self) -> &Client {
        self.dispatches.set(self.dispatches.get() + 1);
        &self.gpu.client
    }

    /// `out[t] (+)= W · x[t]` for the `n` rows of `x` (`[n, cols]` into `[n, rows]`).
    pub fn matmul(&self, w: &DeviceMatrix, x: &Buf, out: &Buf, n: usize, accumulate: bool) {
        self.matmul_into(w, x, out, n, 0, accumulate);
    }

    /// The products stacked in `w` (see [`DeviceMatrix::stack`]) of the `n` rows of `x`, in
    /// one launch: the k-th product's `[n, rows]` output starts at `stride` tokens times
    /// the rows of those before it (`stride >= n`: the capacity of each part of `out`).
    pub fn matmul_stacked(&self, w: &DeviceMatrix, x: &Buf, out: &Buf, n: usize, stride: usize) {
        self.matmul_into(w, x, out, n, stride, false);
    }

    fn matmul_into(
        &self,
        w: &DeviceMatrix,
        x: &Buf,
        out: &Buf,
        n: usize,
        stride: usize,
        accumulate: bool,
    ) {
        // A stacked matrix's parts each need `stride` tokens of room in `out`.
        debug_assert!(
            w.splits[0] == w.rows || (stride >= n && out.len >= stride * w.rows),
            "stacked products into {} values at a stride of {stride} tokens",
            out.len
        );
        let tile = if n == 1 { 1 } else { MATMUL_TILE };
        let tiles = n.div_ceil(tile as usize) as u32;
        let lanes = self.matmul_lanes;
        let rows_per_cube = (MATMUL_THREADS / lanes) as usize;
        for band in &w.bands {
            // SAFETY: `words` is the band buffer's length.
            let weights = unsafe { BufferArg::from_raw_parts(band.handle.clone(), band.words) };
            kernels::matmul::launch(
                self.count(),
                grid(band.rows.div_ceil(rows_per_cube), tiles),
                CubeDim::new_1d(MATMUL_THREADS),
                weights,
                x.arg(),
                self.sums.arg(),
                out.arg(),
                band.rows as u32,
                band.row0 as u32,
                w.rows as u32,
                w.cols as u32,
                w.row_bytes as u32,
                n as u32,
                w.splits[0] as u32,
                w.splits[1] as u32,
                stride as u32,
                w.format,
                tile,
                lanes,
                accumulate,
            );
        }
    }

    /// `out[i] = norm(x[row0 + i]) * w` for `rows` rows of `len`, rounded to 8-bit blocks
    /// with `q8`.
    #[allow(clippy::too_many_arguments)]
    pub fn rms_norm(
        &self,
        x: &Buf,
        w: &Buf,
        out: &Buf,
        len: usize,
        rows: usize,
        row0: usize,
        eps: f32,
        q8: bool,
    ) {
        kernels::rms_norm::launch(
            self.count(),
            CubeCount::Static(rows as u32, 1, 1),
            CubeDim::new_1d(NORM_THREADS),
            x.arg(),
            w.arg(),
            out.arg(),
            self.sums.arg(),
            len as u32,
            row0 as u32,
            eps,
            q8,
        );
    }

    /// The first `rows` rows of `len` of `x` normalised in place with the same weights.
    pub fn rms_norm_in_place(&self, x: &Buf, w: &Buf, len: usize, rows: usize, eps: f32) {
        kernels::rms_norm_in_place::launch(
            self.count(),
            CubeCount::Static(rows as u32, 1, 1),
            CubeDim::new_1d(NORM_THREADS),
            x.arg(),
            w.arg(),
            len as u32,
            eps,
        );
    }

    /// The first `len` values of `x` rounded to 8 bits per block of 32, into `out`.
    pub fn round_to_q8(&self, x: &Buf, out: &Buf, len: usize) {
        let blocks = len / 32;
        kernels::round_to_q8::launch(
            self.count(),
            elementwise(blocks),
            CubeDim::new_1d(ELEMENTWISE_THREADS),
            x.arg(),
            out.arg(),
            self.sums.arg(),
            blocks as u32,
        );
    }

    /// `gate = act(gate) * up` (SiLU, or GELU when `gelu`), rounded to 8 bits when `q8`.
    pub fn swiglu(&self, gate: &Buf, up: &Buf, len: usize, q8: bool, gelu: bool) {
        let threads = if q8 { len / 32 } else { len };
        kernels::swiglu::launch(
            self.count(),
            elementwise(threads),
            CubeDim::new_1d(ELEMENTWISE_THREADS),
            gate.arg(),
            up.arg(),
            self.sums.arg(),
            len as u32,
            q8,
            gelu,
        );
    }

    /// The first `len` values of `x` soft-capped: `cap * tanh(x / cap)`.
    pub fn softcap(&self, x: &Buf, cap: f32, len: usize) {
        kernels::softcap::launch(
            self.count(),
            elementwise(len),
            CubeDim::new_1d(ELEMENTWISE_THREADS),
            x.arg(),
            cap,
            len as u32,
        );
    }

    /// `x += y` over the first `len` values.
    pub fn add(&self, x: &Buf, y: &Buf, len: usize) {
        kernels::add::launch(
            self.count(),
            elementwise(len),
            CubeDim::new_1d(ELEMENTWISE_THREADS),
            x.arg(),
            y.arg(),
            len as u32,
        );
    }

    /// `x[t] += bias` for the first `n` rows of `x`.
    pub fn add_bias(&self, x: &Buf, bias: &Buf, n: usize) {
        let len = n * bias.len;
        kernels::add_bias::launch(
            self.count(),
            elementwise(len),
            CubeDim::new_1d(ELEMENTWISE_THREADS),
            x.arg(),
            bias.arg(),
            bias.len as u32,
            len as u32,
        );
    }

    /// RoPE on `q` and `k` of `n` tokens at `start..`, keys and values into the caches.
    pub fn rope_store(&self, a: &AttentionArgs, q: &Buf, k: &Buf, v: &Buf, n: usize, start: usize) {
        let threads = n * (a.heads + a.kv_heads) * a.head_dim / 2;
        macro_rules! launch {
            ($f:ty) => {
                kernels::rope_store::launch::<$f>(
                    self.count(),
                    elementwise(threads),
                    CubeDim::new_1d(ELEMENTWISE_THREADS),
                    q.arg(),
                    k.arg(),
                    v.arg(),
                    a.cos.arg(),
                    a.sin.arg(),
                    a.k_cache.arg(),
                    a.v_cache.arg(),
                    a.heads as u32,
                    a.kv_heads as u32,
                    a.head_dim as u32,
                    a.rope_half as u32,
                    start as u32,
                    n as u32,
                    a.ctx as u32,
                    a.neox,
                )
            };
        }
        match a.f16 {
            true => launch!(half::f16),
            false => launch!(f32),
        }
    }

    /// Attention of `n` queries at `start..` over the cache, into `out` (`[n, heads *
    /// head_dim]`), rounded to 8-bit blocks with `q8`. Returns whether it rounded: only a
    /// head of whole blocks can be.
    pub fn attention(
        &self,
        a: &AttentionArgs,
        q: &Buf,
        out: &Buf,
        n: usize,
        start: usize,
        q8: bool,
    ) -> bool {
        let dims = a.head_dim.div_ceil(ATTENTION_THREADS as usize) as u32;
        // A 32-value block per thread: up to 32 of them.
        let q8 =
            q8 && a.head_dim.is_multiple_of(32) && a.head_dim <= 32 * ATTENTION_THREADS as usize;
        let scale = a.scale;
        macro_rules! launch {
            ($f:ty) => {
                kernels::attention::launch::<$f>(
                    self.count(),
                    CubeCount::Static(a.heads as u32, n as u32, 1),
                    CubeDim::new_1d(ATTENTION_THREADS),
                    q.arg(),
                    a.k_cache.arg(),
                    a.v_cache.arg(),
                    out.arg(),
                    self.sums.arg(),
                    a.heads as u32,
                    a.kv_heads as u32,
                    a.head_dim as u32,
                    start as u32,
                    a.ctx as u32,
                    scale,
                    a.window as u32,
                    a.softcap,
                    dims,
                    q8,
                )
            };
        }
        match a.f16 {
            true => launch!(half::f16),
            false => launch!(f32),
        }
        q8
    }
}

/// What RoPE and attention need of one layer: shapes, tables and its KV cache.
pub struct AttentionArgs<'b> {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Scores are `scale * q.k`, soft-capped when `softcap > 0`.
    pub scale: f32,
    pub softcap: f32,
    /// Keys seen: the last `window` positions (0: all).
    pub window: usize,
    pub rope_half: usize,
    pub neox: bool,
    pub ctx: usize,
    /// `[ctx][rope_half]`
    pub cos: &'b Buf,
    pub sin: &'b Buf,
    /// `[kv_heads][ctx][head_dim]` of f16 (when `f16`) or f32.
    pub k_cache: &'b Buf,
    pub v_cache: &'b Buf,
    pub f16: bool,
}
