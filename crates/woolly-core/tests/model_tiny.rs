//! Each architecture variant on tiny random models written as GGUF by the test, comparing
//! the CPU and GPU forward passes (with their KV caches) against a plain f32 reference
//! written here. The GPU path runs on whatever adapter wgpu finds (lavapipe in `make test`);
//! `WOOLLY_GPU_TESTS=skip` skips it where there is none.

use std::sync::Arc;
use woolly_core::engine::KvCacheType;
use woolly_core::gguf::{GgufFile, GgufWriter, Value};
use woolly_core::model::{ComputeDevice, Model, ModelConfig};
use woolly_core::quant::{self, GgmlType};

/// Variants that change the layer's wiring, beyond the options in [`Variant`].
#[derive(Clone, Copy, PartialEq, Debug)]
enum Family {
    Plain,
    /// Four layers alternating sliding-window and global, one RoPE base, post-norms, GeGLU,
    /// a scaled embedding, soft-capped attention scores and logits.
    Gemma2,
    /// Six layers (five sliding-window with RoPE base 10000, one global), post-norms,
    /// GeGLU, a scaled embedding.
    Gemma3,
    /// Fused `attn_qkv` and gate-up (`ffn_up` of twice the rows) tensors; LongRoPE's short
    /// and long factor tensors and `rope.scaling.attn_factor`.
    Phi3,
}

struct Variant {
    arch: &'static str,
    family: Family,
    qkv_bias: bool,
    qk_norm: bool,
    tied: bool,
    rope_dim: usize,
    scaling: Option<(&'static str, f32)>,
    /// Llama 3.x as llama.cpp writes it: per-pair divisors in `rope_freqs.weight`.
    rope_freqs: bool,
    /// `rope.scaling.original_context_length`: Phi-3 takes its long factors for a context
    /// above it.
    original_ctx: usize,
    weight_type: GgmlType,
}

/// The Gemmas' sliding window in the tiny model: the 13 positions of the test overrun it.
const WINDOW: usize = 4;
/// The context every model is loaded with.
const CTX: usize = 64;
/// Gemma 2's soft-capping, tight enough to bite on the tiny model's scores and logits.
const ATTN_CAP: f32 = 0.5;
const FINAL_CAP: f32 = 1.5;
/// Phi-3's `rope.scaling.attn_factor`.
const PHI3_ATTN_FACTOR: f32 = 1.19;

const DIM: usize = 64;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
/// Wider than `DIM / HEADS` (set by `attention.key_length`): 64 takes the SIMD attention.
const HEAD_DIM: usize = 64;
const FFN: usize = 96;
const VOCAB: usize = 128;
const LAYERS: usize = 2;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }
}

/// Random but valid blocks of `ty` for a `rows x cols` matrix.
fn random_blocks(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let n_blocks = rows * cols / ty.block_size();
    let mut out = Vec::with_capacity(n_blocks * ty.type_size());
    let f16 = |v: f32| half::f16::from_f32(v).to_le_bytes();
    for _ in 0..n_blocks {
        match ty {
            GgmlType::F32 => out.extend((rng.uniform() * 0.2).to_le_bytes()),
            GgmlType::Q8_0 => {
                out.extend(f16(0.2 / 127.0));
                out.extend((0..32).map(|_| rng.next() as u8));
            }
            GgmlType::Q4_1 => {
                out.extend(f16(0.4 / 15.0));
                out.extend(f16(-0.2));
                out.extend((0..16).map(|_| rng.next() as u8));
            }
            GgmlType::Q4_0 => {
                out.extend(f16(0.2 / 8.0));
                out.extend((0..16).map(|_| rng.next() as u8));
            }
            other => panic!("no generator for {other}"),
        }
    }
    out
}

fn layers(v: &Variant) -> usize {
    match v.family {
        Family::Gemma2 => 4,
        Family::Gemma3 => 6,
        _ => LAYERS,
    }
}

/// Whether layer `l` attends over the last [`WINDOW`] positions only.
fn local(v: &Variant, l: usize) -> bool {
    match v.family {
        Family::Gemma2 => l.is_multiple_of(2),
        Family::Gemma3 => l % 6 != 5,
        _ => false,
    }
}

/// The file's `rope.freq_base`.
fn file_rope_base(v: &Variant) -> f32 {
    if gemma(v) {
        1e6
    } else {
        10000.0
    }
}

/// The RoPE base of layer `l`: Gemma 3's local layers keep 10000.
fn rope_base(v: &Variant, l: usize) -> f32 {
    match v.family {
        Family::Gemma3 if local(v, l) => 10000.0,
        _ => file_rope_base(v),
    }
}

fn gemma(v: &Variant) -> bool {
    matches!(v.family, Family::Gemma2 | Family::Gemma3)
}

fn write_model(v: &Variant, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut w = GgufWriter::new();
    let a = v.arch;
    w.meta("general.architecture", Value::String(a.into()))
        .meta(format!("{a}.block_count"), Value::U32(layers(v) as u32))
        .meta(format!("{a}.context_length"), Value::U32(256))
        .meta(format!("{a}.embedding_length"), Value::U32(DIM as u32))
        .meta(format!("{a}.feed_forward_length"), Value::U32(FFN as u32))
        .meta(
            format!("{a}.attention.head_count"),
            Value::U32(HEADS as u32),
        )
        .meta(
            format!("{a}.attention.head_count_kv"),
            Value::U32(KV_HEADS as u32),
        )
        .meta(
            format!("{a}.attention.layer_norm_rms_epsilon"),
            Value::F32(1e-5),
        )
        .meta(
            format!("{a}.attention.key_length"),
            Value::U32(HEAD_DIM as u32),
        )
        .meta(
            format!("{a}.attention.value_length"),
            Value::U32(HEAD_DIM as u32),
        )
        .meta(format!("{a}.rope.freq_base"), Value::F32(file_rope_base(v)))
        .meta(
            format!("{a}.rope.dimension_count"),
            Value::U32(v.rope_dim as u32),
        )
        .meta(format!("{a}.vocab_size"), Value::U32(VOCAB as u32));
    if gemma(v) {
        w.meta(
            format!("{a}.attention.sliding_window"),
            Value::U32(WINDOW as u32),
        );
    }
    if v.family == Family::Gemma2 {
        w.meta(format!("{a}.attn_logit_softcapping"), Value::F32(ATTN_CAP))
            .meta(
                format!("{a}.final_logit_softcapping"),
                Value::F32(FINAL_CAP),
            );
    }
    if let Some((kind, factor)) = v.scaling {
        w.meta(format!("{a}.rope.scaling.type"), Value::String(kind.into()))
            .meta(format!("{a}.rope.scaling.factor"), Value::F32(factor));
    }
    w.meta(
        format!("{a}.rope.scaling.original_context_length"),
        Value::U32(v.original_ctx as u32),
    );
    // Frequency divisors between 1 and 8.
    let factors = |rng: &mut Rng| -> Vec<f32> {
        (0..v.rope_dim / 2)
            .map(|_| 4.5 + 3.5 * rng.uniform())
            .collect()
    };
    if v.rope_freqs {
        let f = factors(&mut rng);
        w.tensor_f32("rope_freqs.weight", &[f.len() as u64], &f);
    }
    if v.family == Family::Phi3 {
        w.meta(
            format!("{a}.rope.scaling.attn_factor"),
            Value::F32(PHI3_ATTN_FACTOR),
        );
        for name in ["rope_factors_short.weight", "rope_factors_long.weight"] {
            let f = factors(&mut rng);
            w.tensor_f32(name, &[f.len() as u64], &f);
        }
    }
    let matrix = |w: &mut GgufWriter, rng: &mut Rng, name: String, rows: usize, cols: usize| {
        let data = random_blocks(rng, v.weight_type, rows, cols);
        w.tensor(name, &[cols as u64, rows as u64], v.weight_type, data);
    };
    let norm = |rng: &mut Rng, n: usize| {
        rng.vec(n, 0.3)
            .into_iter()
            .map(|x| 1.0 + x)
            .collect::<Vec<_>>()
    };
    w.tensor(
        "token_embd.weight",
        &[DIM as u64, VOCAB as u64],
        GgmlType::Q8_0,
        random_blocks(&mut rng, GgmlType::Q8_0, VOCAB, DIM),
    );
    for l in 0..layers(v) {
        let p = format!("blk.{l}");
        if gemma(v) {
            for n in ["post_attention_norm", "post_ffw_norm"] {
                w.tensor_f32(
                    format!("{p}.{n}.weight"),
                    &[DIM as u64],
                    &norm(&mut rng, DIM),
                );
            }
        }
        w.tensor_f32(
            format!("{p}.attn_norm.weight"),
            &[DIM as u64],
            &norm(&mut rng, DIM),
        );
        let (q_dim, kv_dim) = (HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM);
        if v.family == Family::Phi3 {
            let name = format!("{p}.attn_qkv.weight");
            matrix(&mut w, &mut rng, name, q_dim + 2 * kv_dim, DIM);
        } else {
            matrix(&mut w, &mut rng, format!("{p}.attn_q.weight"), q_dim, DIM);
            matrix(&mut w, &mut rng, format!("{p}.attn_k.weight"), kv_dim, DIM);
            matrix(&mut w, &mut rng, format!("{p}.attn_v.weight"), kv_dim, DIM);
        }
        matrix(
            &mut w,
            &mut rng,
            format!("{p}.attn_output.weight"),
            DIM,
            HEADS * HEAD_DIM,
        );
        if v.qkv_bias {
            for (t, n) in [
                ("q", HEADS * HEAD_DIM),
                ("k", KV_HEADS * HEAD_DIM),
                ("v", KV_HEADS * HEAD_DIM),
            ] {
                w.tensor_f32(format!("{p}.attn_{t}.bias"), &[n as u64], &rng.vec(n, 0.5));
            }
        }
        if v.qk_norm {
            w.tensor_f32(
                format!("{p}.attn_q_norm.weight"),
                &[HEAD_DIM as u64],
                &norm(&mut rng, HEAD_DIM),
            );
            w.tensor_f32(
                format!("{p}.attn_k_norm.weight"),
                &[HEAD_DIM as u64],
                &norm(&mut rng, HEAD_DIM),
            );
        }
        w.tensor_f32(
            format!("{p}.ffn_norm.weight"),
            &[DIM as u64],
            &norm(&mut rng, DIM),
        );
        if v.family == Family::Phi3 {
            matrix(&mut w, &mut rng, format!("{p}.ffn_up.weight"), 2 * FFN, DIM);
        } else {
            matrix(&mut w, &mut rng, format!("{p}.ffn_gate.weight"), FFN, DIM);
            matrix(&mut w, &mut rng, format!("{p}.ffn_up.weight"), FFN, DIM);
        }
        matrix(&mut w, &mut rng, format!("{p}.ffn_down.weight"), DIM, FFN);
    }
    w.tensor_f32("output_norm.weight", &[DIM as u64], &norm(&mut rng, DIM));
    if !v.tied {
        matrix(&mut w, &mut rng, "output.weight".into(), VOCAB, DIM);
    }
    w.to_bytes()
}

// ---- the f32 reference: one token at a time, everything spelled out ----

fn deq(f: &GgufFile, name: &str) -> Vec<f32> {
    let info = f.tensor(name).unwrap_or_else(|| panic!("{name}"));
    let mut out = vec![0.0; info.n_elements() as usize];
    quant::dequantize(info.ggml_type, f.tensor_data(info), &mut out).unwrap();
    out
}

fn matvec(w: &[f32], x: &[f32]) -> Vec<f32> {
    w.chunks(x.len())
        .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
        .collect()
}

fn rmsnorm(x: &[f32], w: &[f32]) -> Vec<f32> {
    let ms = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let s = 1.0 / (ms + 1e-5).sqrt();
    x.iter().zip(w).map(|(v, g)| v * s * g).collect()
}

/// RoPE on one head at `pos`, worked out from the published formulas rather than the
/// engine's helpers, in f64: pair `i` turns by `pos * base^(-2i/d)`, changed by the
/// variant's scaling (linear: divided by the factor; Llama 3: Meta's wavelength bands;
/// YaRN: ggml's ramp between interpolation and extrapolation, and its magnitude factor)
/// and divided by the file's frequency factors (Llama 3 as a tensor, Phi-3's LongRoPE).
fn rope(x: &mut [f32], pos: usize, v: &Variant, f: &GgufFile, base: f32) {
    let (d, half) = (v.rope_dim as f64, v.rope_dim / 2);
    let (base, orig) = (base as f64, v.original_ctx as f64);
    let factors = if v.rope_freqs {
        Some(deq(f, "rope_freqs.weight"))
    } else if v.family == Family::Phi3 {
        // The long factors once the context outgrows the original one.
        Some(deq(
            f,
            if CTX > v.original_ctx {
                "rope_factors_long.weight"
            } else {
                "rope_factors_short.weight"
            },
        ))
    } else {
        None
    };
    let mut mscale = if v.family == Family::Phi3 {
        PHI3_ATTN_FACTOR as f64
    } else {
        1.0
    };
    let two_pi = 2.0 * std::f64::consts::PI;
    for i in 0..half {
        let freq = base.powf(-2.0 * i as f64 / d);
        let extrapolated = pos as f64 * freq;
        let mut theta = match v.scaling {
            None => extrapolated,
            Some(("linear", k)) => extrapolated / k as f64,
            Some(("llama3", k)) => {
                // low_freq_factor 1, high_freq_factor 4 (the defaults).
                let (low, high) = (1.0, 4.0);
                let wavelen = two_pi / freq;
                let scaled = if wavelen < orig / high {
                    freq
                } else if wavelen > orig / low {
                    freq / k as f64
                } else {
                    let smooth = (orig / wavelen - low) / (high - low);
                    (1.0 - smooth) * freq / k as f64 + smooth * freq
                };
                pos as f64 * scaled
            }
            Some(("yarn", k)) => {
                // beta_fast 32, beta_slow 1 (the defaults).
                let corr = |rot: f64| d * (orig / (rot * two_pi)).ln() / (2.0 * base.ln());
                let low = corr(32.0).floor().max(0.0);
                let high = corr(1.0).ceil().min(d - 1.0);
                let keep = 1.0 - ((i as f64 - low) / (high - low).max(0.001)).clamp(0.0, 1.0);
                if i == 0 {
                    mscale *= 1.0 + 0.1 * (k as f64).ln();
                }
                extrapolated / k as f64 * (1.0 - keep) + extrapolated * keep
            }
            Some((other, _)) => panic!("no reference for {other}"),
        };
        if let Some(fs) = &factors {
            theta /= fs[i] as f64;
        }
        let (s, c) = theta.sin_cos();
        let (a, b) = match v.arch {
            "llama" | "mistral" => (2 * i, 2 * i + 1),
            _ => (i, i + half),
        };
        let (x0, x1) = (x[a] as f64, x[b] as f64);
        x[a] = ((x0 * c - x1 * s) * mscale) as f32;
        x[b] = ((x0 * s + x1 * c) * mscale) as f32;
    }
}

struct Reference<'v> {
    f: GgufFile,
    v: &'v Variant,
    keys: Vec<Vec<Vec<f32>>>, // [layer][pos] -> kv_dim
    values: Vec<Vec<Vec<f32>>>,
}

impl Reference<'_> {
    fn step(&mut self, token: u32) -> Vec<f32> {
        let (f, variant) = (&self.f, self.v);
        let pos = self.keys[0].len();
        let embd = deq(f, "token_embd.weight");
        let mut x = embd[token as usize * DIM..(token as usize + 1) * DIM].to_vec();
        if gemma(variant) {
            x.iter_mut().for_each(|v| *v *= (DIM as f32).sqrt());
        }
        let (q_dim, kv_dim) = (HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM);
        let cap = |x: f32, c: f32| {
            if variant.family == Family::Gemma2 {
                c * (x / c).tanh()
            } else {
                x
            }
        };
        for l in 0..self.keys.len() {
            let first = if local(variant, l) {
                (pos + 1).saturating_sub(WINDOW)
            } else {
                0
            };
            let p = format!("blk.{l}");
            let g = |n: &str| deq(f, &format!("{p}.{n}"));
            let opt = |n: &str| f.tensor(&format!("{p}.{n}")).map(|_| g(n));
            let xn = rmsnorm(&x, &g("attn_norm.weight"));
            let (mut q, mut k, v) = if variant.family == Family::Phi3 {
                // One product, cut into queries, keys and values.
                let qkv = matvec(&g("attn_qkv.weight"), &xn);
                let (q, kv) = qkv.split_at(q_dim);
                (q.to_vec(), kv[..kv_dim].to_vec(), kv[kv_dim..].to_vec())
            } else {
                (
                    matvec(&g("attn_q.weight"), &xn),
                    matvec(&g("attn_k.weight"), &xn),
                    matvec(&g("attn_v.weight"), &xn),
                )
            };
            let mut v = v;
            for (t, b) in [
                (&mut q, opt("attn_q.bias")),
                (&mut k, opt("attn_k.bias")),
                (&mut v, opt("attn_v.bias")),
            ] {
                if let Some(b) = b {
                    t.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                }
            }
            for (t, norm) in [
                (&mut q, opt("attn_q_norm.weight")),
                (&mut k, opt("attn_k_norm.weight")),
            ] {
                for head in t.chunks_mut(HEAD_DIM) {
                    if let Some(n) = &norm {
                        let r = rmsnorm(head, n);
                        head.copy_from_slice(&r);
                    }
                    rope(head, pos, variant, f, rope_base(variant, l));
                }
            }
            self.keys[l].push(k);
            self.values[l].push(v);
            let mut attn = vec![0.0; HEADS * HEAD_DIM];
            for h in 0..HEADS {
                let kvh = h / (HEADS / KV_HEADS);
                let qh = &q[h * HEAD_DIM..(h + 1) * HEAD_DIM];
                let scores: Vec<f32> = self.keys[l][first..]
                    .iter()
                    .map(|k| {
                        qh.iter()
                            .zip(&k[kvh * HEAD_DIM..])
                            .map(|(a, b)| a * b)
                            .sum::<f32>()
                            / (HEAD_DIM as f32).sqrt()
                    })
                    .map(|s| cap(s, ATTN_CAP))
                    .collect();
                let max = scores.iter().cloned().fold(f32::MIN, f32::max);
                let e: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f32 = e.iter().sum();
                for (t, w) in (first..).zip(&e) {
                    for d in 0..HEAD_DIM {
                        attn[h * HEAD_DIM + d] += w / sum * self.values[l][t][kvh * HEAD_DIM + d];
                    }
                }
            }
            let mut o = matvec(&g("attn_output.weight"), &attn);
            if let Some(n) = opt("post_attention_norm.weight") {
                o = rmsnorm(&o, &n);
            }
            x.iter_mut().zip(o).for_each(|(a, b)| *a += b);
            let xn = rmsnorm(&x, &g("ffn_norm.weight"));
            let (gate, up) = if variant.family == Family::Phi3 {
                // The gate's rows first, then the up rows.
                let both = matvec(&g("ffn_up.weight"), &xn);
                (both[..FFN].to_vec(), both[FFN..].to_vec())
            } else {
                (
                    matvec(&g("ffn_gate.weight"), &xn),
                    matvec(&g("ffn_up.weight"), &xn),
                )
            };
            let hidden: Vec<f32> = gate
                .iter()
                .zip(&up)
                .map(|(&g, u)| {
                    let act = if gemma(variant) {
                        // GELU, tanh approximation.
                        let c = (2.0 / std::f32::consts::PI).sqrt();
                        0.5 * g * (1.0 + (c * (g + 0.044715 * g * g * g)).tanh())
                    } else {
                        g / (1.0 + (-g).exp())
                    };
                    act * u
                })
                .collect();
            let mut d = matvec(&g("ffn_down.weight"), &hidden);
            if let Some(n) = opt("post_ffw_norm.weight") {
                d = rmsnorm(&d, &n);
            }
            x.iter_mut().zip(d).for_each(|(a, b)| *a += b);
        }
        let xn = rmsnorm(&x, &deq(f, "output_norm.weight"));
        let head = if f.tensor("output.weight").is_some() {
            "output.weight"
        } else {
            "token_embd.weight"
        };
        let logits = matvec(&deq(f, head), &xn);
        logits.into_iter().map(|x| cap(x, FINAL_CAP)).collect()
    }
}

/// Every forward pass: the CPU one on 1 and 2 threads with both cache types, and the GPU's.
fn check(v: Variant) {
    check_path(&v, Some((1, KvCacheType::F32)));
    check_path(&v, Some((2, KvCacheType::F16)));
    check_path(&v, None);
}

fn check_path(v: &Variant, cpu: Option<(usize, KvCacheType)>) {
    let bytes = write_model(v, 0x9e37_79b9 ^ v.arch.len() as u64);
    let file = Arc::new(GgufFile::from_bytes(bytes.clone(), format!("{}.gguf", v.arch)).unwrap());
    let cfg = ModelConfig::from_gguf(&file).unwrap();
    let mut model = match cpu {
        Some((threads, kv)) => {
            Model::load(file, cfg.clone(), ComputeDevice::cpu(), CTX, kv, threads)
        }
        None => match ComputeDevice::gpu() {
            Ok(gpu) => Model::load(file, cfg, gpu, CTX, KvCacheType::F16, 1),
            Err(e) if std::env::var("WOOLLY_GPU_TESTS").as_deref() == Ok("skip") => {
                eprintln!("skipping the GPU path: {e}");
                return;
            }
            Err(e) => panic!("{e} (install mesa-vulkan-drivers, or set WOOLLY_GPU_TESTS=skip)"),
        },
    }
    .unwrap();
    let what = format!("{} {}", v.arch, if cpu.is_some() { "cpu" } else { "gpu" });
    let mut reference = Reference {
        f: GgufFile::from_bytes(bytes, "ref.gguf").unwrap(),
        v,
        keys: vec![vec![]; layers(v)],
        values: vec![vec![]; layers(v)],
    };
    // Long enough for a prefill on AMX tiles where the CPU has them.
    let prompt = [3u32, 17, 99, 42, 7, 120, 64, 11, 90, 33];
    let mut expected = Vec::new();
    for &t in &prompt {
        expected = reference.step(t);
    }
    let mut logits = vec![0.0; VOCAB];
    model.forward(&prompt, 0, &mut logits).unwrap();
    assert_close(&logits, &expected, &format!("{what} prefill"));
    if cpu.is_some() {
        // The same prompt fed in pieces (as a prompt cache does) gives the same bits: the
        // batched kernels and attention compute each token exactly as a decode step does.
        let mut pieces = vec![0.0; VOCAB];
        model.forward(&prompt[..3], 0, &mut pieces).unwrap();
        for (i, &t) in prompt[3..].iter().enumerate() {
            model.forward(&[t], 3 + i, &mut pieces).unwrap();
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&pieces),
            bits(&logits),
            "{what}: prefill vs token by token"
        );
    }
    // Decode steps through the KV cache.
    for (i, &t) in [5u32, 77, 1].iter().enumerate() {
        let expected = reference.step(t);
        model.forward(&[t], prompt.len() + i, &mut logits).unwrap();
        assert_close(&logits, &expected, &format!("{what} decode step {i}"));
    }
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-3);
    let worst = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    // Kernels quantize activations to 8 bits, as llama.cpp does: allow that much error
    // (YaRN's attention scaling sharpens the softmax and amplifies it a little).
    assert!(
        worst <= 0.05 * scale,
        "{what}: max |diff| {worst} vs logit scale {scale}"
    );
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0
    };
    assert_eq!(argmax(got), argmax(want), "{what}: different top token");
}

fn base(arch: &'static str) -> Variant {
    Variant {
        arch,
        family: Family::Plain,
        qkv_bias: false,
        qk_norm: false,
        tied: false,
        rope_dim: HEAD_DIM,
        scaling: None,
        rope_freqs: false,
        original_ctx: CTX,
        weight_type: GgmlType::Q4_1,
    }
}

#[test]
fn llama_separate_head() {
    check(base("llama"));
}

#[test]
fn llama_tied_head_q8_0_partial_rope() {
    check(Variant {
        tied: true,
        weight_type: GgmlType::Q8_0,
        rope_dim: 8,
        ..base("llama")
    });
}

#[test]
fn llama3_rope_scaling() {
    check(Variant {
        scaling: Some(("llama3", 8.0)),
        weight_type: GgmlType::Q4_0,
        ..base("llama")
    });
}

#[test]
fn llama3_scaling_as_a_frequency_tensor() {
    check(Variant {
        rope_freqs: true,
        ..base("llama")
    });
}

#[test]
fn linear_and_yarn_rope_scaling() {
    check(Variant {
        scaling: Some(("linear", 2.0)),
        ..base("mistral")
    });
    check(Variant {
        scaling: Some(("yarn", 4.0)),
        ..base("qwen2")
    });
}

#[test]
fn mistral() {
    check(base("mistral"));
}

#[test]
fn qwen2_qkv_bias_neox() {
    check(Variant {
        qkv_bias: true,
        tied: true,
        ..base("qwen2")
    });
}

#[test]
fn qwen3_qk_norm() {
    check(Variant {
        qk_norm: true,
        weight_type: GgmlType::F32,
        ..base("qwen3")
    });
}

#[test]
fn gemma3_sliding_window_post_norms_geglu() {
    check(Variant {
        qk_norm: true,
        tied: true,
        family: Family::Gemma3,
        ..base("gemma3")
    });
}

#[test]
fn gemma2_soft_capping_alternating_windows() {
    check(Variant {
        tied: true,
        family: Family::Gemma2,
        ..base("gemma2")
    });
}

#[test]
fn phi3_fused_tensors_long_rope() {
    // A context above the original one takes the long factors; partial rotary as Phi-4
    // mini's.
    check(Variant {
        family: Family::Phi3,
        original_ctx: CTX / 2,
        ..base("phi3")
    });
    check(Variant {
        family: Family::Phi3,
        original_ctx: 4096,
        rope_dim: 48,
        weight_type: GgmlType::Q8_0,
        ..base("phi3")
    });
}

#[test]
fn unknown_architecture_lists_supported() {
    let mut w = GgufWriter::new();
    w.meta("general.architecture", Value::String("mamba".into()));
    let f = GgufFile::from_bytes(w.to_bytes(), "m.gguf").unwrap();
    let err = ModelConfig::from_gguf(&f).unwrap_err().to_string();
    assert!(
        err.contains("mamba") && err.contains("llama, mistral, qwen2, qwen3, gemma2, gemma3, phi3"),
        "{err}"
    );
}
