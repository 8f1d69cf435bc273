//! The LLaMA-family decoder on the GPU: the same maths as `model/cpu`, each step a chain
//! of kernel launches on device buffers with a single readback, the logits, at the end.

use super::device::{Gpu, GpuError};
use super::ops::{AttentionArgs, Buf, Kernels};
use super::weights::{upload_f32, DeviceMatrix};
use crate::engine::KvCacheType;
use crate::gguf::GgufFile;
use crate::model::config::{Activation, ModelConfig, RopeLayout};
use crate::model::device::ComputeDevice;
use crate::model::weights::{load_vec, LayerWeights, QMatrix};
use crate::model::ModelError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Tokens per prompt chunk: bounds the activation buffers.
const CHUNK: usize = 64;

/// A layer on the device: its matrices, grouped by the input they read, and its norms,
/// biases and KV cache.
struct Layer {
    /// Norms and biases (the matrices are the fields below).
    w: LayerWeights<(), Buf>,
    qkv: Products<3>,
    wo: DeviceMatrix,
    gate_up: Products<2>,
    down: DeviceMatrix,
    k_cache: Buf,
    v_cache: Buf,
}

/// Matrix products that read one input (q, k and v; gate and up): stacked into one matrix
/// when their blocks share a type, so one launch computes them all; else one each.
enum Products<const N: usize> {
    Stacked(DeviceMatrix),
    Separate([DeviceMatrix; N]),
}

impl<const N: usize> Products<N> {
    fn upload(g: &Gpu, parts: [QMatrix; N]) -> Result<Self, ModelError> {
        let (ty, cols) = (parts[0].ty, parts[0].cols);
        if !parts.iter().all(|m| m.ty == ty && m.cols == cols) {
            let separate = parts
                .iter()
                .map(|m| upload(g, m))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Self::Separate(
                separate.try_into().unwrap_or_else(|_| unreachable!()),
            ));
        }
        let blocks = parts.each_ref().map(|m| (m.rows, m.bytes()));
        let stacked = DeviceMatrix::stack(g, ty, cols, &blocks).map_err(device_err)?;
        parts.iter().for_each(release);
        Ok(Self::Stacked(stacked))
    }

    fn readers(&self) -> Readers {
        match self {
            Self::Stacked(m) => Readers::of(&[m]),
            Self::Separate(ms) => Readers::of(&ms.each_ref()),
        }
    }

    /// `outs[i] = W_i · x` for the `n` rows of `x`, with their biases. The `outs` are
    /// consecutive parts of `whole`, each of `stride` tokens.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &self,
        k: &Kernels,
        x: &Buf,
        whole: &Buf,
        outs: [&Buf; N],
        biases: [&Option<Buf>; N],
        n: usize,
        stride: usize,
    ) {
        match self {
            Self::Stacked(m) => k.matmul_stacked(m, x, whole, n, stride),
            Self::Separate(ms) => {
                for (m, out) in ms.iter().zip(outs) {
                    k.matmul(m, x, out, n, false);
                }
            }
        }
        for (bias, out) in biases.into_iter().zip(outs) {
            if let Some(b) = bias {
                k.add_bias(out, b, n);
            }
        }
    }
}

/// Whether the matrices about to read an input dot it with 8-bit activations: all of
/// them, or some.
#[derive(Clone, Copy)]
struct Readers {
    all_q8: bool,
    any_q8: bool,
}

impl Readers {
    fn of(ms: &[&DeviceMatrix]) -> Self {
        Self {
            all_q8: ms.iter().all(|m| m.wants_q8()),
            any_q8: ms.iter().any(|m| m.wants_q8()),
        }
    }
}

/// Activations of one chunk, allocated once.
struct Scratch {
    xn: Buf,
    /// q, k and v, consecutive parts of `qkv` (one stacked product writes all three).
    qkv: Buf,
    q: Buf,
    k: Buf,
    v: Buf,
    att: Buf,
    /// gate and up, the two halves of `gate_up`.
    gate_up: Buf,
    gate: Buf,
    up: Buf,
    last: Buf,
    /// The input of the next matrix product rounded to 8 bits (see [`DeviceMatrix::wants_q8`]).
    xq: Buf,
    /// Its blocks' sums ([`Kernels::sums`]).
    sums: Buf,
    logits: Buf,
    /// Host staging for the embedding rows of a chunk.
    embed: Vec<f32>,
}

/// Counters for `woolly bench --device gpu` and the tests.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct GpuCounters {
    /// Kernel launches, readbacks and forward passes since the model loaded.
    pub dispatches: u64,
    pub readbacks: u64,
    pub forwards: u64,
    /// Kernel launches of the latest forward pass (a decode step, after generation).
    pub last_dispatches: u64,
    /// Command submissions of the latest forward pass: CubeCL submits a batch of
    /// `tasks_max` launches at a time and the rest at the readback.
    pub last_submits: u64,
}

pub struct GpuTransformer {
    cfg: ModelConfig,
    device: ComputeDevice,
    gpu: Arc<Gpu>,
    ctx: usize,
    /// Read a row at a time on the host; the output head (tied or not) is on the device.
    embeddings: QMatrix,
    output: DeviceMatrix,
    output_norm: Buf,
    layers: Vec<Layer>,
    cos: Buf,
    sin: Buf,
    /// The sliding-window layers' RoPE tables, where they differ (Gemma 3).
    rope_local: Option<(Buf, Buf)>,
    f16_cache: bool,
    s: Scratch,
    pub counters: GpuCounters,
}

fn device_err(e: GpuError) -> ModelError {
    ModelError::Device(e.to_string())
}

/// `m` on the device, its mapped pages handed back to the OS.
fn upload(g: &Gpu, m: &QMatrix) -> Result<DeviceMatrix, ModelError> {
    let on_device = DeviceMatrix::upload(g, m.ty, m.rows, m.cols, m.bytes()).map_err(device_err)?;
    release(m);
    Ok(on_device)
}

/// The device holds `m` now: let the OS have its mapped pages back.
fn release(m: &QMatrix) {
    m.release(0, m.bytes().len());
}

impl GpuTransformer {
    pub fn load(
        file: Arc<GgufFile>,
        cfg: ModelConfig,
        device: ComputeDevice,
        ctx: usize,
        kv: KvCacheType,
    ) -> Result<Self, ModelError> {
        let gpu = device
            .gpu
            .clone()
            .ok_or_else(|| ModelError::Device("no GPU was selected".into()))?;
        let g = &*gpu;
        let f32_buf = |v: &[f32]| Buf {
            handle: upload_f32(g, v),
            len: v.len(),
        };
        let vector = |name: &str| load_vec(&file, name).map(|v| f32_buf(&v));
        let hd = cfg.head_dim;
        let f16_cache = kv == KvCacheType::F16 && g.f16;
        let cache_len = cfg.n_kv_heads * ctx * hd;
        let cache = || Buf {
            handle: g.client.empty(cache_len * if f16_cache { 2 } else { 4 }),
            len: cache_len,
        };
        let layers = (0..cfg.n_layers)
            .map(|i| {
                let w = LayerWeights::load(&file, &cfg, i, &Ok, &|v| Ok(f32_buf(&v)))?;
                let (w, [q, k, v, o, gate, up, down]) = w.take_matrices();
                Ok(Layer {
                    w,
                    qkv: Products::upload(g, [q, k, v])?,
                    wo: upload(g, &o)?,
                    gate_up: Products::upload(g, [gate, up])?,
                    down: upload(g, &down)?,
                    k_cache: cache(),
                    v_cache: cache(),
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let (dim, q_dim, kv_dim) = (cfg.dim, cfg.n_heads * hd, cfg.n_kv_heads * hd);
        let embeddings = QMatrix::named(&file, "token_embd.weight", cfg.vocab_size, dim)?;
        let output = match file.tensor("output.weight") {
            Some(_) => upload(
                g,
                &QMatrix::named(&file, "output.weight", cfg.vocab_size, dim)?,
            )?,
            // Tied: the embedding table doubles as the output head.
            None => DeviceMatrix::upload(g, embeddings.ty, cfg.vocab_size, dim, embeddings.bytes())
                .map_err(device_err)?,
        };
        let (cos, sin) = crate::model::rope::cos_sin_tables(&cfg, ctx);
        let rope_local = (cfg.local_rope() != cfg && (0..cfg.n_layers).any(|l| cfg.is_local(l)))
            .then(|| {
                let (cos, sin) = crate::model::rope::cos_sin_tables(&cfg.local_rope(), ctx);
                (f32_buf(&cos), f32_buf(&sin))
            });
        let zeros = |n: usize| f32_buf(&vec![0.0; n]);
        // The widest input of a matrix product: it is rounded to 8 bits into `xq`.
        let widest = CHUNK * dim.max(q_dim).max(cfg.ffn_dim);
        let (qkv, gate_up) = (
            zeros(CHUNK * (q_dim + 2 * kv_dim)),
            zeros(CHUNK * 2 * cfg.ffn_dim),
        );
        let s = Scratch {
            xn: zeros(CHUNK * dim),
            q: qkv.view(0, CHUNK * q_dim),
            k: qkv.view(CHUNK * q_dim, CHUNK * kv_dim),
            v: qkv.view(CHUNK * (q_dim + kv_dim), CHUNK * kv_dim),
            qkv,
            att: zeros(CHUNK * q_dim),
            gate: gate_up.view(0, CHUNK * cfg.ffn_dim),
            up: gate_up.view(CHUNK * cfg.ffn_dim, CHUNK * cfg.ffn_dim),
            gate_up,
            last: zeros(dim),
            xq: zeros(widest),
            sums: zeros(widest / 32),
            logits: zeros(cfg.vocab_size),
            embed: Vec::with_capacity(CHUNK * dim),
        };
        let device = ComputeDevice {
            name: format!("gpu: {}", g.adapter.describe()),
            ..device
        };
        let mut model = Self {
            output_norm: vector("output_norm.weight")?,
            cos: f32_buf(&cos),
            sin: f32_buf(&sin),
            rope_local,
            cfg,
            device,
            gpu,
            ctx,
            embeddings,
            output,
            layers,
            f16_cache,
            s,
            counters: GpuCounters::default(),
        };
        // Compile every kernel now, so a driver that cannot is found while loading (and the
        // engine falls back to the CPU) rather than in the middle of a reply.
        let mut logits = vec![0.0; model.cfg.vocab_size];
        model.forward(&[0, 0], 0, &mut logits)?;
        model.forward(&[0], 0, &mut logits)?;
        model.counters = GpuCounters::default();
        Ok(model)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn context_length(&self) -> usize {
        self.ctx
    }

    pub fn device(&self) -> &ComputeDevice {
        &self.device
    }

    /// [`super::super::Model::forward`], whose arguments were checked there.
    pub fn forward(
        &mut self,
        tokens: &[u32],
        start: usize,
        logits: &mut [f32],
    ) -> Result<(), ModelError> {
        if injected_failure() {
            return Err(ModelError::Device("injected GPU failure".into()));
        }
        let gpu = self.gpu.clone();
        let k = Kernels::new(&gpu, self.s.sums.clone());
        let mut x = None;
        for (i, chunk) in tokens.chunks(CHUNK).enumerate() {
            x = Some(self.forward_chunk(&k, chunk, start + i * CHUNK)?);
        }
        let x = x.expect("at least one token");
        let (dim, n) = (
            self.cfg.dim,
            tokens.len() - (tokens.len() - 1) / CHUNK * CHUNK,
        );
        let s = &self.s;
        let eps = self.cfg.norm_eps;
        let input = norm(
            &k,
            Readers::of(&[&self.output]),
            &x,
            &self.output_norm,
            &s.last,
            &s.xq,
            (dim, 1, n - 1),
            eps,
        );
        k.matmul(&self.output, input, &s.logits, 1, false);
        if self.cfg.final_softcap > 0.0 {
            k.softcap(&s.logits, self.cfg.final_softcap, s.logits.len);
        }
        let dispatches = k.dispatches.get();
        self.counters.dispatches += dispatches;
        self.counters.last_dispatches = dispatches;
        self.counters.last_submits = dispatches.div_ceil(self.gpu.tasks_max as u64);
        self.counters.readbacks += 1;
        self.counters.forwards += 1;
        let bytes = gpu
            .client
            .read_one(self.s.logits.handle.clone())
            .map_err(|e| ModelError::Device(format!("the GPU failed: {e}")))?;
        for (l, b) in logits.iter_mut().zip(bytes.chunks_exact(4)) {
            *l = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }

    /// The layers over `tokens` at `start..`; returns the residual stream `[n, dim]`.
    /// [`super::super::Model::hidden_sum`], whose arguments were checked there: the hidden
    /// states read back and normed on the host (embeddings are not the hot path).
    pub fn hidden_sum(
        &mut self,
        tokens: &[u32],
        start: usize,
        sum: &mut [f32],
    ) -> Result<(), ModelError> {
        let gpu = self.gpu.clone();
        let read = |buf: &Buf| -> Result<Vec<f32>, ModelError> {
            let bytes = gpu
                .client
                .read_one(buf.handle.clone())
                .map_err(|e| ModelError::Device(format!("the GPU failed: {e}")))?;
            Ok(bytes
                .chunks_exact(4)
                .take(buf.len)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let norm = read(&self.output_norm)?;
        let k = Kernels::new(&gpu, self.s.sums.clone());
        let (dim, eps) = (self.cfg.dim, self.cfg.norm_eps);
        let mut row = vec![0.0; dim];
        for (i, chunk) in tokens.chunks(CHUNK).enumerate() {
            let x = read(&self.forward_chunk(&k, chunk, start + i * CHUNK)?)?;
            for x in x[..chunk.len() * dim].chunks_exact(dim) {
                crate::model::cpu::ops::rms_norm(x, &norm, eps, &mut row);
                sum.iter_mut().zip(&row).for_each(|(s, r)| *s += r);
            }
        }
        Ok(())
    }

    fn forward_chunk(
        &mut self,
        k: &Kernels,
        tokens: &[u32],
        start: usize,
    ) -> Result<Buf, ModelError> {
        let cfg = &self.cfg;
        let (n, dim) = (tokens.len(), cfg.dim);
        let s = &mut self.s;
        s.embed.resize(n * dim, 0.0);
        for (&t, row) in tokens.iter().zip(s.embed.chunks_exact_mut(dim)) {
            self.embeddings.dequantize_row(t as usize, row)?;
            if cfg.embed_scale != 1.0 {
                row.iter_mut().for_each(|v| *v *= cfg.embed_scale);
            }
        }
        let x = Buf {
            handle: upload_f32(&self.gpu, &s.embed),
            len: s.embed.len(),
        };
        let (heads, kv_heads, hd) = (cfg.n_heads, cfg.n_kv_heads, cfg.head_dim);
        let gelu = cfg.activation == Activation::GeluTanh;
        for (i, l) in self.layers.iter().enumerate() {
            let local = cfg.is_local(i);
            let (cos, sin) = match &self.rope_local {
                Some((cos, sin)) if local => (cos, sin),
                _ => (&self.cos, &self.sin),
            };
            let a = AttentionArgs {
                heads,
                kv_heads,
                head_dim: hd,
                scale: cfg.attn_scale,
                softcap: cfg.attn_softcap,
                window: if local { cfg.window } else { 0 },
                rope_half: cfg.rope_dim / 2,
                neox: cfg.rope_layout == RopeLayout::Neox,
                ctx: self.ctx,
                cos,
                sin,
                k_cache: &l.k_cache,
                v_cache: &l.v_cache,
                f16: self.f16_cache,
            };
            let input = norm(
                k,
                l.qkv.readers(),
                &x,
                &l.w.attn_norm,
                &s.xn,
                &s.xq,
                (dim, n, 0),
                cfg.norm_eps,
            );
            let biases = [&l.w.wq.bias, &l.w.wk.bias, &l.w.wv.bias];
            let qkv = [&s.q, &s.k, &s.v];
            l.qkv.launch(k, input, &s.qkv, qkv, biases, n, CHUNK);
            if let (Some(qn), Some(kn)) = (&l.w.q_norm, &l.w.k_norm) {
                k.rms_norm_in_place(&s.q, qn, hd, n * heads, cfg.norm_eps);
                k.rms_norm_in_place(&s.k, kn, hd, n * kv_heads, cfg.norm_eps);
            }
            k.rope_store(&a, &s.q, &s.k, &s.v, n, start);
            // Rounded to 8 bits as it is written when `wo` wants that and the heads allow.
            let input = match k.attention(&a, &s.q, &s.att, n, start, l.wo.wants_q8()) {
                true => &s.att,
                false => rounded(k, Readers::of(&[&l.wo]), &s.att, &s.xq, n * heads * hd),
            };
            let post = l.w.post_attn_norm.as_ref();
            residual(k, &l.wo, input, post, &x, &s.xn, (dim, n), cfg.norm_eps);
            let input = norm(
                k,
                l.gate_up.readers(),
                &x,
                &l.w.ffn_norm,
                &s.xn,
                &s.xq,
                (dim, n, 0),
                cfg.norm_eps,
            );
            let biases = [&l.w.gate.bias, &l.w.up.bias];
            let gate_up = [&s.gate, &s.up];
            l.gate_up
                .launch(k, input, &s.gate_up, gate_up, biases, n, CHUNK);
            // Rounded to 8 bits on the way when `down` wants it.
            k.swiglu(&s.gate, &s.up, n * cfg.ffn_dim, l.down.wants_q8(), gelu);
            let post = l.w.post_ffn_norm.as_ref();
            residual(k, &l.down, &s.gate, post, &x, &s.xn, (dim, n), cfg.norm_eps);
        }
        Ok(x)
    }
}

/// Forward passes left before an injected failure (tests of the CPU fallback).
static FAIL_AFTER: AtomicU64 = AtomicU64::new(u64::MAX);

/// Makes every GPU model in the process fail after `forwards` more forward passes, as a
/// lost device would (a test hook: `u64::MAX` turns it off).
#[doc(hidden)]
pub fn inject_failure_after(forwards: u64) {
    FAIL_AFTER.store(forwards, Ordering::SeqCst);
}

fn injected_failure() -> bool {
    match FAIL_AFTER.load(Ordering::SeqCst) {
        u64::MAX => false,
        0 => true,
        n => {
            FAIL_AFTER.store(n - 1, Ordering::SeqCst);
            false
        }
    }
}

/// RMSNorm of `rows` rows of `x` from `row0` (`shape` = (len, rows, row0)) as the input of
/// `readers`: rounded to 8 bits in the same kernel when they all want that, after it when
/// some do, not at all when none does.
#[allow(clippy::too_many_arguments)]
fn norm<'b>(
    k: &Kernels,
    readers: Readers,
    x: &Buf,
    w: &Buf,
    out: &'b Buf,
    xq: &'b Buf,
    (len, rows, row0): (usize, usize, usize),
    eps: f32,
) -> &'b Buf {
    k.rms_norm(x, w, out, len, rows, row0, eps, readers.all_q8);
    match readers.all_q8 {
        true => out,
        false => rounded(k, readers, out, xq, rows * len),
    }
}

/// `x += W · input` for `n` rows of `dim`; with a post-norm (Gemma) the product goes
/// through `tmp` and is normed before the add.
#[allow(clippy::too_many_arguments)]
fn residual(
    k: &Kernels,
    w: &DeviceMatrix,
    input: &Buf,
    post_norm: Option<&Buf>,
    x: &Buf,
    tmp: &Buf,
    (dim, n): (usize, usize),
    eps: f32,
) {
    match post_norm {
        None => k.matmul(w, input, x, n, true),
        Some(norm) => {
            k.matmul(w, input, tmp, n, false);
            k.rms_norm_in_place(tmp, norm, dim, n, eps);
            k.add(x, tmp, n * dim);
        }
    }
}

/// `x`, or its first `len` values rounded to 8 bits into `xq` when the matrices about to
/// read it want that.
fn rounded<'b>(k: &Kernels, readers: Readers, x: &'b Buf, xq: &'b Buf, len: usize) -> &'b Buf {
    if readers.any_q8 {
        k.round_to_q8(x, xq, len);
        return xq;
    }
    x
}
