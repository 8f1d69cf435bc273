//! The forward pass's kernels, in CubeCL (compiled to WGSL and run through burn's wgpu
//! runtime). Activations are f32; weights stay in their GGUF blocks ([`super::quant`]);
//! the KV cache is `F` (f16 where the adapter has it). Every kernel takes ragged shapes:
//! out-of-range rows and tokens are clamped for reading and skipped for writing, so no
//! thread leaves a barrier early.

use super::quant::{dequantize_unit, has_offset, recorded_offset_sum};
use cubecl::prelude::*;

/// Threads per cube of [`matmul`] (split into `lanes` per row).
pub const MATMUL_THREADS: u32 = 64;
/// Threads per row in [`rms_norm`].
pub const NORM_THREADS: u32 = 64;
/// Threads per (head, token) in [`attention`], and keys per tile.
pub const ATTENTION_THREADS: u32 = 32;
/// Threads per workgroup of the element-wise kernels.
pub const ELEMENTWISE_THREADS: u32 = 256;

/// The linear index of this cube in a 2D grid.
#[cube]
fn cube_index() -> usize {
    (CUBE_POS_Y * CUBE_COUNT_X + CUBE_POS_X) as usize
}

/// `out[t][row0 + r] (+)= Σ_c W[r][c] · x[t][c]` for the rows of one weight band:
/// `lanes` threads per row (so `MATMUL_THREADS / lanes` rows per cube, in a grid as wide
/// as needed), a tile of `tile` tokens per cube along z (each weight unit is dequantized
/// once per tile). With `accumulate` the product is added to `out` (a residual). A matrix
/// stacking up to three products that read the same input (q, k and v; gate and up) has
/// its rows split at `split1` and `split2` (both `out_rows` for one product): each
/// product's output is a `[n, its rows]` matrix, the k-th starting at `seg_stride` tokens
/// times the rows before it. Q4_1's
/// offset multiplies `sums[t][unit]`, the f16 `d · Σq` that rounding `x` to 8 bits recorded
/// (as the CPU kernels and llama.cpp take it from the activation block).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    w: &[u32],
    x: &[f32],
    sums: &[f32],
    out: &mut [f32],
    part_rows: u32,
    row0: u32,
    out_rows: u32,
    cols: u32,
    row_bytes: u32,
    n: u32,
    split1: u32,
    split2: u32,
    seg_stride: u32,
    #[comptime] format: u32,
    #[comptime] tile: u32,
    #[comptime] lanes: u32,
    #[comptime] accumulate: bool,
) {
    let threads = comptime![MATMUL_THREADS as usize];
    let lanes = comptime![lanes as usize];
    let tile = comptime![tile as usize];
    let tid = UNIT_POS as usize;
    let lane = tid % lanes;
    let wanted = cube_index() * comptime![threads / lanes] + tid / lanes;
    let in_range = wanted < part_rows as usize;
    let r = min(wanted, part_rows as usize - 1);
    let t0 = CUBE_POS_Z as usize * tile;
    let (n, cols) = (n as usize, cols as usize);
    let row = r * row_bytes as usize;

    let mut acc = Array::<f32>::new(tile);
    #[unroll]
    for t in 0..tile {
        acc[t] = 0.0;
    }
    let mut values = Array::<f32>::new(35usize);
    let units = cols / 32;
    for step in 0..units.div_ceil(lanes) {
        let u = lane + step * lanes;
        if u < units {
            dequantize_unit(w, row, u, &mut values, format);
            #[unroll]
            for t in 0..tile {
                let token = min(t0 + t, n - 1);
                let xs = token * cols + u * 32;
                let mut lo = 0.0f32;
                let mut hi = 0.0f32;
                let mut sum_x = 0.0f32;
                #[unroll]
                for j in 0..16 {
                    let (a, b) = (x[xs + j], x[xs + 16 + j]);
                    lo += values[j] * a;
                    hi += values[16 + j] * b;
                    if comptime![has_offset(format) && !recorded_offset_sum(format)] {
                        sum_x += a + b;
                    }
                }
                let mut sum = values[32] * lo + values[33] * hi;
                if comptime![has_offset(format)] {
                    if comptime![recorded_offset_sum(format)] {
                        sum_x = sums[token * units + u];
                    }
                    sum += values[34] * sum_x;
                }
                acc[t] += sum;
            }
        }
    }

    // Where this row's product starts in `out`, and how many rows it has.
    let g = row0 as usize + r;
    let (split1, split2) = (split1 as usize, split2 as usize);
    let mut seg0 = 0usize;
    let mut seg_rows = split1;
    if g >= split2 {
        seg0 = split2;
        seg_rows = out_rows as usize - split2;
    } else if g >= split1 {
        seg0 = split1;
        seg_rows = split2 - split1;
    }
    let base = seg0 * seg_stride as usize + g - seg0;

    // The first lane of each row adds up the row's partial sums.
    let mut partial = Shared::<[f32]>::new_slice(comptime![tile * threads]);
    #[unroll]
    for t in 0..tile {
        partial[t * threads + tid] = acc[t];
    }
    sync_cube();
    if lane == 0 && in_range {
        #[unroll]
        for t in 0..tile {
            if t0 + t < n {
                let mut v = 0.0f32;
                for i in 0..lanes {
                    v += partial[t * threads + tid + i];
                }
                let at = base + (t0 + t) * seg_rows;
                if comptime![accumulate] {
                    v += out[at];
                }
                out[at] = v;
            }
        }
    }
}

/// Sum over a cube of one value per thread, into every thread.
#[cube]
fn cube_sum(v: f32, #[comptime] threads: u32) -> f32 {
    let threads = comptime![threads as usize];
    let mut partial = Shared::<[f32]>::new_slice(threads);
    partial[UNIT_POS as usize] = v;
    sync_cube();
    let mut sum = 0.0f32;
    for i in 0..threads {
        sum += partial[i];
    }
    sum
}

/// `out[i] = x[row0 + i] / rms(x[row0 + i]) * w` for rows of `len` (one cube per row),
/// rounded to 8-bit blocks with `q8` (each block's `d · Σq` into `sums`).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn rms_norm(
    x: &[f32],
    w: &[f32],
    out: &mut [f32],
    sums: &mut [f32],
    len: u32,
    row0: u32,
    eps: f32,
    #[comptime] q8: bool,
) {
    let threads = comptime![NORM_THREADS as usize];
    let len = len as usize;
    let tid = UNIT_POS as usize;
    let src = (row0 as usize + CUBE_POS_X as usize) * len;
    let dst = CUBE_POS_X as usize * len;
    let mut ss = 0.0f32;
    for step in 0..len.div_ceil(threads) {
        let i = tid + step * threads;
        if i < len {
            let v = x[src + i];
            ss += v * v;
        }
    }
    let total = cube_sum(ss, NORM_THREADS);
    let inv = 1.0 / f32::sqrt(total / f32::cast_from(len) + eps);
    if comptime![q8] {
        // Straight into 8-bit blocks for the matrix products that read it: a block per thread.
        let mut block = Array::<f32>::new(32usize);
        let blocks = len / 32;
        for step in 0..blocks.div_ceil(threads) {
            let b = tid + step * threads;
            if b < blocks {
                #[unroll]
                for j in 0..32 {
                    block[j] = x[src + b * 32 + j] * inv * w[b * 32 + j];
                }
                sums[CUBE_POS_X as usize * blocks + b] = round_block_to_q8(&mut block);
                #[unroll]
                for j in 0..32 {
                    out[dst + b * 32 + j] = block[j];
                }
            }
        }
    } else {
        for step in 0..len.div_ceil(threads) {
            let i = tid + step * threads;
            if i < len {
                out[dst + i] = x[src + i] * inv * w[i];
            }
        }
    }
}

/// [`rms_norm`] in place, with one weight vector of `len` for every row (per-head norms).
#[cube(launch)]
pub fn rms_norm_in_place(x: &mut [f32], w: &[f32], len: u32, eps: f32) {
    let len = len as usize;
    let tid = UNIT_POS as usize;
    let base = CUBE_POS_X as usize * len;
    let mut ss = 0.0f32;
    for step in 0..len.div_ceil(comptime![NORM_THREADS as usize]) {
        let i = tid + step * comptime![NORM_THREADS as usize];
        if i < len {
            let v = x[base + i];
            ss += v * v;
        }
    }
    let total = cube_sum(ss, NORM_THREADS);
    let inv = 1.0 / f32::sqrt(total / f32::cast_from(len) + eps);
    for step in 0..len.div_ceil(comptime![NORM_THREADS as usize]) {
        let i = tid + step * comptime![NORM_THREADS as usize];
        if i < len {
            x[base + i] = x[base + i] * inv * w[i];
        }
    }
}

/// RoPE on the queries (in place) and keys of `n` tokens at positions `start..`, with
/// the rotated keys and the values written into the caches (`[kv_heads][ctx][head_dim]`).
/// One thread per (token, head of q then k, pair of dimensions); pairs past `rope_half`
/// pass through unrotated.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn rope_store<F: Float>(
    q: &mut [f32],
    k: &[f32],
    v: &[f32],
    cos: &[f32],
    sin: &[f32],
    k_cache: &mut [F],
    v_cache: &mut [F],
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    rope_half: u32,
    start: u32,
    n: u32,
    ctx: u32,
    #[comptime] neox: bool,
) {
    let (heads, kv_heads, hd) = (heads as usize, kv_heads as usize, head_dim as usize);
    let rope_half = rope_half as usize;
    let pairs = hd / 2;
    let id = ABSOLUTE_POS;
    if id < n as usize * (heads + kv_heads) * pairs {
        let p = id % pairs;
        let head = (id / pairs) % (heads + kv_heads);
        let t = id / (pairs * (heads + kv_heads));
        let pos = start as usize + t;
        let mut d0 = 2 * p;
        let mut d1 = 2 * p + 1;
        if comptime![neox] && p < rope_half {
            d0 = p;
            d1 = p + rope_half;
        }
        let mut c = 1.0f32;
        let mut s = 0.0f32;
        if p < rope_half {
            c = cos[pos * rope_half + p];
            s = sin[pos * rope_half + p];
        }
        if head < heads {
            let at = (t * heads + head) * hd;
            let (x0, x1) = (q[at + d0], q[at + d1]);
            q[at + d0] = x0 * c - x1 * s;
            q[at + d1] = x0 * s + x1 * c;
        } else {
            let kvh = head - heads;
            let at = (t * kv_heads + kvh) * hd;
            let (x0, x1) = (k[at + d0], k[at + d1]);
            let cache = (kvh * ctx as usize + pos) * hd;
            k_cache[cache + d0] = F::cast_from(x0 * c - x1 * s);
            k_cache[cache + d1] = F::cast_from(x0 * s + x1 * c);
            v_cache[cache + d0] = F::cast_from(v[at + d0]);
            v_cache[cache + d1] = F::cast_from(v[at + d1]);
        }
    }
}

/// Causal grouped-query attention for `n` query tokens at positions `start..` over the
/// cache, one cube per (head, token): keys in tiles of [`ATTENTION_THREADS`] (one score per
/// thread), an online softmax, and each thread owning `dims` of the head's dimensions.
/// With `q8` (a head of whole 32-value blocks) the output is rounded to 8 bits for the
/// output projection, each block's `d · Σq` into `sums`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn attention<F: Float>(
    q: &[f32],
    k_cache: &[F],
    v_cache: &[F],
    out: &mut [f32],
    sums: &mut [f32],
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    start: u32,
    ctx: u32,
    scale: f32,
    window: u32,
    softcap: f32,
    #[comptime] dims: u32,
    #[comptime] q8: bool,
) {
    let threads = comptime![ATTENTION_THREADS as usize];
    let dims = comptime![dims as usize];
    let (heads, hd) = (heads as usize, head_dim as usize);
    let head = CUBE_POS_X as usize;
    let t = CUBE_POS_Y as usize;
    let kv = head / (heads / kv_heads as usize);
    let len = start as usize + t + 1;
    // A sliding window sees only the last `window` positions.
    let mut first = 0usize;
    if window > 0 && len > window as usize {
        first = len - window as usize;
    }
    let tid = UNIT_POS as usize;
    let cache = kv * ctx as usize * hd;

    let mut query = Shared::<[f32]>::new_slice(comptime![dims * threads]);
    let mut scores = Shared::<[f32]>::new_slice(threads);
    let q_at = (t * heads + head) * hd;
    #[unroll]
    for k in 0..dims {
        let d = tid + k * threads;
        let mut v = 0.0f32;
        if d < hd {
            // Rounded to the cache's precision, as the CPU path and llama.cpp do.
            v = f32::cast_from(F::cast_from(q[q_at + d]));
        }
        query[d] = v;
    }
    sync_cube();

    let mut acc = Array::<f32>::new(dims);
    #[unroll]
    for k in 0..dims {
        acc[k] = 0.0;
    }
    let mut running_max = f32::new(-1.0e30);
    let mut sum = 0.0f32;
    let tiles = len.div_ceil(threads);
    for tile in first / threads..tiles {
        let base = tile * threads;
        let pos = base + tid;
        let mut s = f32::new(-1.0e30);
        if pos >= first && pos < len {
            let key = cache + pos * hd;
            let mut dot = 0.0f32;
            for d in 0..hd {
                dot += query[d] * f32::cast_from(k_cache[key + d]);
            }
            s = dot * scale;
            if softcap > 0.0 {
                s = capped(s, softcap);
            }
        }
        scores[tid] = s;
        sync_cube();
        let mut tile_max = f32::new(-1.0e30);
        for j in 0..threads {
            tile_max = max(tile_max, scores[j]);
        }
        let new_max = max(running_max, tile_max);
        sync_cube();
        let mut p = 0.0f32;
        if pos >= first && pos < len {
            p = f32::exp(s - new_max);
        }
        scores[tid] = p;
        sync_cube();
        let correction = f32::exp(running_max - new_max);
        let mut tile_sum = 0.0f32;
        #[unroll]
        for k in 0..dims {
            acc[k] *= correction;
        }
        let valid = min(threads, len - base);
        for j in 0..valid {
            let pj = scores[j];
            tile_sum += pj;
            let value = cache + (base + j) * hd;
            #[unroll]
            for k in 0..dims {
                let d = tid + k * threads;
                if d < hd {
                    acc[k] += pj * f32::cast_from(v_cache[value + d]);
                }
            }
        }
        sum = sum * correction + tile_sum;
        running_max = new_max;
        sync_cube();
    }
    if comptime![q8] {
        // The head's values in shared memory, then a 32-value block per thread.
        let mut result = Shared::<[f32]>::new_slice(comptime![dims * threads]);
        #[unroll]
        for k in 0..dims {
            result[tid + k * threads] = acc[k] / sum;
        }
        sync_cube();
        if tid < hd / 32 {
            let mut block = Array::<f32>::new(32usize);
            #[unroll]
            for j in 0..32 {
                block[j] = result[tid * 32 + j];
            }
            sums[q_at / 32 + tid] = round_block_to_q8(&mut block);
            #[unroll]
            for j in 0..32 {
                out[q_at + tid * 32 + j] = block[j];
            }
        }
    } else {
        #[unroll]
        for k in 0..dims {
            let d = tid + k * threads;
            if d < hd {
                out[q_at + d] = acc[k] / sum;
            }
        }
    }
}

/// `gate[i] = silu(gate[i]) * up[i]`; with `q8`, a block of 32 per thread, rounded to 8 bits
/// (each block's `d · Σq` into `sums`).
#[cube(launch)]
pub fn swiglu(
    gate: &mut [f32],
    up: &[f32],
    sums: &mut [f32],
    len: u32,
    #[comptime] q8: bool,
    #[comptime] gelu: bool,
) {
    if comptime![q8] {
        let b = ABSOLUTE_POS;
        if b < len as usize / 32 {
            let mut block = Array::<f32>::new(32usize);
            #[unroll]
            for j in 0..32 {
                block[j] = activate(gate[b * 32 + j], gelu) * up[b * 32 + j];
            }
            sums[b] = round_block_to_q8(&mut block);
            #[unroll]
            for j in 0..32 {
                gate[b * 32 + j] = block[j];
            }
        }
    } else {
        let i = ABSOLUTE_POS;
        if i < len as usize {
            gate[i] = activate(gate[i], gelu) * up[i];
        }
    }
}

/// The gate's activation: SiLU, or GELU with the tanh approximation (Gemma).
#[cube]
fn activate(g: f32, #[comptime] gelu: bool) -> f32 {
    if comptime![gelu] {
        let inner = 0.797_884_6 * g * (1.0 + 0.044_715 * g * g);
        0.5 * g * (1.0 + tanh_exp(inner))
    } else {
        g / (1.0 + f32::exp(-g))
    }
}

/// `tanh` through `exp`, clamped: some drivers' `tanh` returns NaN for large inputs.
#[cube]
fn tanh_exp(x: f32) -> f32 {
    let x = clamp(x, -15.0, 15.0);
    1.0 - 2.0 / (f32::exp(2.0 * x) + 1.0)
}

/// `cap * tanh(x / cap)`: Gemma 2's soft-capping.
#[cube]
fn capped(x: f32, cap: f32) -> f32 {
    cap * tanh_exp(x / cap)
}

/// `x = cap * tanh(x / cap)` elementwise (the logits of Gemma 2).
#[cube(launch)]
pub fn softcap(x: &mut [f32], cap: f32, len: u32) {
    let i = ABSOLUTE_POS;
    if i < len as usize {
        x[i] = capped(x[i], cap);
    }
}

/// `x += y` elementwise.
#[cube(launch)]
pub fn add(x: &mut [f32], y: &[f32], len: u32) {
    let i = ABSOLUTE_POS;
    if i < len as usize {
        x[i] += y[i];
    }
}

/// `x[t][c] += bias[c]` for rows of `cols`.
#[cube(launch)]
pub fn add_bias(x: &mut [f32], bias: &[f32], cols: u32, len: u32) {
    let i = ABSOLUTE_POS;
    if i < len as usize {
        x[i] += bias[i % cols as usize];
    }
}

/// `v` (≥ 0) rounded to the nearest f16, ties to even, as f32.
#[cube]
#[allow(unused_assignments)]
fn round_to_f16(v: f32) -> f32 {
    let mut r = v;
    if v < 6.103_515_6e-5 {
        // Subnormal halves: multiples of 2^-24.
        r = f32::round(v * 16_777_216.0) / 16_777_216.0;
    } else {
        let bits = u32::reinterpret(v);
        let rounded = bits + 0xFFF + ((bits >> 13) & 1);
        r = f32::reinterpret(rounded & 0xFFFF_E000);
    }
    r
}

#[cube]
fn signed_round_to_f16(v: f32) -> f32 {
    let r = round_to_f16(f32::abs(v));
    let mut out = r;
    if v < 0.0 {
        out = -r;
    }
    out
}

/// Activations as the CPU kernels and llama.cpp see them next to quantized weights: each
/// block of 32 rounded to 8 bits with an f16 scale (`round` is to nearest even in WGSL,
/// as on the CPU), each block's f16 `d · Σq` into `sums`. One thread per block.
#[cube(launch)]
pub fn round_to_q8(x: &[f32], out: &mut [f32], sums: &mut [f32], blocks: u32) {
    let b = ABSOLUTE_POS;
    if b < blocks as usize {
        let mut block = Array::<f32>::new(32usize);
        #[unroll]
        for j in 0..32 {
            block[j] = x[b * 32 + j];
        }
        sums[b] = round_block_to_q8(&mut block);
        #[unroll]
        for j in 0..32 {
            out[b * 32 + j] = block[j];
        }
    }
}

/// 32 values rounded to 8 bits with an f16 scale, in place. Returns the block's sum as
/// the CPU's activation blocks (and llama.cpp's) carry it: `f16(d · Σq)` with the
/// unrounded `d`, which is not the sum of the rounded values (`f16(d) · Σq`).
#[cube]
fn round_block_to_q8(block: &mut Array<f32>) -> f32 {
    let mut amax = 0.0f32;
    #[unroll]
    for j in 0..32 {
        amax = max(amax, f32::abs(block[j]));
    }
    let mut id = 0.0f32;
    if amax != 0.0 {
        id = 127.0 / amax;
    }
    let exact = amax / 127.0;
    let d = round_to_f16(exact);
    let mut sum_q = 0.0f32;
    #[unroll]
    for j in 0..32 {
        let q = f32::round(block[j] * id);
        sum_q += q;
        block[j] = q * d;
    }
    signed_round_to_f16(exact * sum_q)
}
