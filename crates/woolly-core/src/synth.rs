//! Synthetic models: GGUF files of a real architecture's shape with random weights and a
//! real model's vocabulary, for measuring speed and memory on the shapes people run
//! (`woolly synth`). Both Woolly and llama.cpp load them.
//!
//! Tensor types follow llama.cpp's choice for the file type (`llama_tensor_get_type` in
//! `src/llama-quant.cpp`), so `q4_k_m` is the same per-tensor mix as a downloaded Q4_K_M.
//! Blocks are random bits with scale fields chosen so that every dequantized row has mean
//! ≈ 0 and standard deviation ≈ 1/sqrt(row length): activations stay finite through every
//! layer. Tensor data is produced while the file is written, never held whole in memory.

use crate::gguf::{GgufFile, GgufWriter, Value};
use crate::quant::GgmlType;
use half::f16;
use std::io::{self, Write};
use std::path::Path;

/// A model shape. Presets mirror real models' hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    /// `general.architecture`: `llama`, `qwen2`, `gemma2` (post-norms) or `phi3` (fused
    /// `attn_qkv` and gate-up tensors).
    pub arch: &'static str,
    pub dim: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub ffn_dim: usize,
    pub rope_base: f32,
    pub context_length: usize,
    /// No `output.weight`: the token embedding table is also the output head.
    pub tied: bool,
    /// Biases on the q, k and v projections (Qwen2).
    pub qkv_bias: bool,
    /// Llama 3's RoPE scaling (factor, original context), written as llama.cpp writes it:
    /// a `rope_freqs.weight` tensor of per-pair divisors.
    pub llama3_rope: Option<(f32, usize)>,
    /// Phi-3's LongRoPE: its original context (short and long factor tensors and
    /// `rope.scaling.attn_factor` are written when set).
    pub long_rope: Option<usize>,
    /// Gemma 2: the sliding window of its even layers and the soft-capping of attention
    /// scores and logits.
    pub window: usize,
    pub softcap: Option<(f32, f32)>,
}

/// The fields most presets leave unset.
const PLAIN: Preset = Preset {
    name: "",
    arch: "llama",
    dim: 0,
    n_layers: 0,
    n_heads: 0,
    n_kv_heads: 0,
    head_dim: 0,
    ffn_dim: 0,
    rope_base: 10_000.0,
    context_length: 4096,
    tied: false,
    qkv_bias: false,
    llama3_rope: None,
    long_rope: None,
    window: 0,
    softcap: None,
};

/// The shapes `woolly synth` knows.
pub const PRESETS: [Preset; 10] = [
    Preset {
        name: "llama-3.2-1b",
        llama3_rope: Some((32.0, 8192)),
        arch: "llama",
        dim: 2048,
        n_layers: 16,
        n_heads: 32,
        n_kv_heads: 8,
        head_dim: 64,
        ffn_dim: 8192,
        rope_base: 500_000.0,
        context_length: 131_072,
        tied: true,
        qkv_bias: false,
        ..PLAIN
    },
    Preset {
        name: "llama-3.2-3b",
        llama3_rope: Some((32.0, 8192)),
        arch: "llama",
        dim: 3072,
        n_layers: 28,
        n_heads: 24,
        n_kv_heads: 8,
        head_dim: 128,
        ffn_dim: 8192,
        rope_base: 500_000.0,
        context_length: 131_072,
        tied: true,
        qkv_bias: false,
        ..PLAIN
    },
    Preset {
        name: "llama-3.1-8b",
        llama3_rope: Some((8.0, 8192)),
        arch: "llama",
        dim: 4096,
        n_layers: 32,
        n_heads: 32,
        n_kv_heads: 8,
        head_dim: 128,
        ffn_dim: 14336,
        rope_base: 500_000.0,
        context_length: 131_072,
        tied: false,
        qkv_bias: false,
        ..PLAIN
    },
    Preset {
        name: "qwen2.5-7b",
        arch: "qwen2",
        dim: 3584,
        n_layers: 28,
        n_heads: 28,
        n_kv_heads: 4,
        head_dim: 128,
        ffn_dim: 18944,
        rope_base: 1_000_000.0,
        context_length: 32_768,
        tied: false,
        qkv_bias: true,
        ..PLAIN
    },
    Preset {
        name: "gemma-2-2b",
        arch: "gemma2",
        dim: 2304,
        n_layers: 26,
        n_heads: 8,
        n_kv_heads: 4,
        head_dim: 256,
        ffn_dim: 9216,
        context_length: 8192,
        tied: true,
        window: 4096,
        softcap: Some((50.0, 30.0)),
        ..PLAIN
    },
    Preset {
        name: "phi-3.5-mini",
        arch: "phi3",
        dim: 3072,
        n_layers: 32,
        n_heads: 32,
        n_kv_heads: 32,
        head_dim: 96,
        ffn_dim: 8192,
        context_length: 131_072,
        long_rope: Some(4096),
        ..PLAIN
    },
    // For tests: synthesized in milliseconds, every width a multiple of the K-quants' 256.
    Preset {
        name: "tiny",
        arch: "llama",
        dim: 256,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 64,
        ffn_dim: 512,
        rope_base: 10_000.0,
        context_length: 4096,
        tied: true,
        qkv_bias: false,
        ..PLAIN
    },
    // Gemma 2 and Phi-3 in small: a window and soft-capping that bite within a short
    // prompt, LongRoPE's long factors beyond 256 positions.
    Preset {
        name: "tiny-gemma2",
        arch: "gemma2",
        dim: 256,
        n_layers: 4,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 64,
        ffn_dim: 512,
        // Tied, as llama.cpp requires of Gemma 2.
        tied: true,
        window: 8,
        softcap: Some((1.0, 3.0)),
        ..PLAIN
    },
    Preset {
        name: "tiny-phi3",
        arch: "phi3",
        dim: 256,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 4,
        head_dim: 64,
        ffn_dim: 512,
        long_rope: Some(256),
        ..PLAIN
    },
    Preset {
        name: "tiny-llama3",
        arch: "llama",
        dim: 256,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 64,
        ffn_dim: 512,
        rope_base: 500_000.0,
        tied: true,
        llama3_rope: Some((32.0, 128)),
        ..PLAIN
    },
];

/// The preset named `name`.
pub fn preset(name: &str) -> Option<Preset> {
    PRESETS.iter().find(|p| p.name == name).cloned()
}

/// A llama.cpp file type (`LLAMA_FTYPE_MOSTLY_*`): which tensor gets which block format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    Q4_0,
    Q8_0,
    Q4KM,
    Q5KM,
    Q6K,
}

impl Quant {
    pub const ALL: [Quant; 5] = [
        Quant::Q4_0,
        Quant::Q8_0,
        Quant::Q4KM,
        Quant::Q5KM,
        Quant::Q6K,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Quant::Q4_0 => "q4_0",
            Quant::Q8_0 => "q8_0",
            Quant::Q4KM => "q4_k_m",
            Quant::Q5KM => "q5_k_m",
            Quant::Q6K => "q6_k",
        }
    }

    /// Case-insensitive, as llama-quantize spells them (`Q4_K_M`) or lower case.
    pub fn from_name(name: &str) -> Option<Quant> {
        Self::ALL
            .into_iter()
            .find(|q| q.name().eq_ignore_ascii_case(name))
    }

    /// `general.file_type`: llama.cpp's `llama_ftype` number.
    pub fn file_type(self) -> u32 {
        match self {
            Quant::Q4_0 => 2,
            Quant::Q8_0 => 7,
            Quant::Q4KM => 15,
            Quant::Q5KM => 17,
            Quant::Q6K => 18,
        }
    }

    /// `llama_ftype_get_default_type`.
    fn default_type(self) -> GgmlType {
        match self {
            Quant::Q4_0 => GgmlType::Q4_0,
            Quant::Q8_0 => GgmlType::Q8_0,
            Quant::Q4KM => GgmlType::Q4K,
            Quant::Q5KM => GgmlType::Q5K,
            Quant::Q6K => GgmlType::Q6K,
        }
    }
}

/// What a 2-D weight is, for choosing its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    TokenEmbd,
    Output,
    AttnV,
    FfnDown,
    Other,
}

/// llama.cpp's `llama_tensor_get_type` for a dense LLaMA-family model (no experts, not
/// Falcon, not 70B) and the file types of [`Quant`], including its fallback for rows that
/// are not a whole number of blocks. `output` overrides the type of the output head (or of
/// the tied embedding table), as llama-quantize's `--output-tensor-type` does.
fn tensor_type(
    quant: Quant,
    role: Role,
    layer: usize,
    n_layers: usize,
    cols: usize,
    tied: bool,
    output: Option<GgmlType>,
) -> GgmlType {
    let use_more_bits = |i: usize, n: usize| {
        let (i, n) = (i as i64, n as i64);
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    };
    let default = quant.default_type();
    let is_head = role == Role::Output || (tied && role == Role::TokenEmbd);
    if is_head {
        if let Some(ty) = output {
            return ty;
        }
        return if !cols.is_multiple_of(default.block_size()) || default == GgmlType::Q8_0 {
            GgmlType::Q8_0
        } else {
            GgmlType::Q6K
        };
    }
    let ty = match (quant, role) {
        (Quant::Q4KM | Quant::Q5KM, Role::AttnV | Role::FfnDown)
            if use_more_bits(layer, n_layers) =>
        {
            GgmlType::Q6K
        }
        _ => default,
    };
    if cols.is_multiple_of(ty.block_size()) {
        return ty;
    }
    // tensor_type_fallback
    match ty {
        GgmlType::Q4K => GgmlType::Q5_0,
        GgmlType::Q5K => GgmlType::Q5_1,
        GgmlType::Q6K => GgmlType::Q8_0,
        _ => GgmlType::F16,
    }
}

/// One tensor of a synthetic model. `dims[0]` is the row length.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: GgmlType,
}

impl TensorSpec {
    pub fn n_bytes(&self) -> u64 {
        self.ty
            .byte_size(self.dims.iter().product())
            .expect("whole blocks")
    }
}

/// What to synthesize.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub preset: Preset,
    pub quant: Quant,
    /// Overrides the output head's type (or the tied embedding table's).
    pub output_type: Option<GgmlType>,
    pub seed: u64,
}

impl SynthConfig {
    pub fn new(preset: Preset, quant: Quant) -> Self {
        Self {
            preset,
            quant,
            output_type: None,
            seed: 1,
        }
    }

    /// Every tensor, in file order, for a vocabulary of `vocab` tokens.
    pub fn tensors(&self, vocab: usize) -> Vec<TensorSpec> {
        let p = &self.preset;
        let (dim, n) = (p.dim as u64, p.n_layers);
        let (q_dim, kv_dim) = (
            (p.n_heads * p.head_dim) as u64,
            (p.n_kv_heads * p.head_dim) as u64,
        );
        let ty = |role, layer, cols: u64| {
            tensor_type(
                self.quant,
                role,
                layer,
                n,
                cols as usize,
                p.tied,
                self.output_type,
            )
        };
        let t = |name: String, dims: &[u64], ty| TensorSpec {
            name,
            dims: dims.to_vec(),
            ty,
        };
        let mut out = vec![t(
            "token_embd.weight".into(),
            &[dim, vocab as u64],
            ty(Role::TokenEmbd, 0, dim),
        )];
        out.push(t("output_norm.weight".into(), &[dim], GgmlType::F32));
        let pairs = p.head_dim as u64 / 2;
        if p.llama3_rope.is_some() {
            out.push(t("rope_freqs.weight".into(), &[pairs], GgmlType::F32));
        }
        if p.long_rope.is_some() {
            for name in ["rope_factors_long.weight", "rope_factors_short.weight"] {
                out.push(t(name.into(), &[pairs], GgmlType::F32));
            }
        }
        if !p.tied {
            out.push(t(
                "output.weight".into(),
                &[dim, vocab as u64],
                ty(Role::Output, 0, dim),
            ));
        }
        for i in 0..n {
            let b = |s: &str| format!("blk.{i}.{s}");
            out.push(t(b("attn_norm.weight"), &[dim], GgmlType::F32));
            let fused = p.arch == "phi3";
            if fused {
                // llama.cpp gives a fused QKV one more bit in the K-quant mixes.
                let ty = match self.quant {
                    Quant::Q4KM => GgmlType::Q5K,
                    Quant::Q5KM => GgmlType::Q6K,
                    _ => ty(Role::Other, i, dim),
                };
                out.push(t(b("attn_qkv.weight"), &[dim, q_dim + 2 * kv_dim], ty));
            }
            for (proj, rows, role) in [
                ("q", q_dim, Role::Other),
                ("k", kv_dim, Role::Other),
                ("v", kv_dim, Role::AttnV),
            ]
            .into_iter()
            .filter(|_| !fused)
            {
                out.push(t(
                    b(&format!("attn_{proj}.weight")),
                    &[dim, rows],
                    ty(role, i, dim),
                ));
                if p.qkv_bias {
                    out.push(t(b(&format!("attn_{proj}.bias")), &[rows], GgmlType::F32));
                }
            }
            out.push(t(
                b("attn_output.weight"),
                &[q_dim, dim],
                ty(Role::Other, i, q_dim),
            ));
            let post_norms = p.arch == "gemma2";
            if post_norms {
                out.push(t(b("post_attention_norm.weight"), &[dim], GgmlType::F32));
            }
            out.push(t(b("ffn_norm.weight"), &[dim], GgmlType::F32));
            let ffn = p.ffn_dim as u64;
            if fused {
                // The gate's rows, then the up rows.
                out.push(t(
                    b("ffn_up.weight"),
                    &[dim, 2 * ffn],
                    ty(Role::Other, i, dim),
                ));
            } else {
                out.push(t(
                    b("ffn_gate.weight"),
                    &[dim, ffn],
                    ty(Role::Other, i, dim),
                ));
                out.push(t(b("ffn_up.weight"), &[dim, ffn], ty(Role::Other, i, dim)));
            }
            out.push(t(
                b("ffn_down.weight"),
                &[ffn, dim],
                ty(Role::FfnDown, i, ffn),
            ));
            if post_norms {
                out.push(t(b("post_ffw_norm.weight"), &[dim], GgmlType::F32));
            }
        }
        out
    }

    /// The values of the RoPE factor tensors: Llama 3's divisors as llama.cpp's converter
    /// computes them (Meta's wavelength bands, low/high frequency factors 1 and 4), and
    /// made-up LongRoPE factors growing with the pair index as Phi-3's do.
    fn rope_factor_values(&self, name: &str) -> Option<Vec<f32>> {
        let p = &self.preset;
        let half = p.head_dim / 2;
        let position = |i: usize| i as f32 / half as f32;
        match name {
            "rope_freqs.weight" => {
                let (factor, original) = p.llama3_rope?;
                let (low, high, original) = (1.0f32, 4.0f32, original as f32);
                let values = (0..half).map(|i| {
                    let freq = p.rope_base.powf(-((2 * i) as f32) / p.head_dim as f32);
                    let wavelen = 2.0 * std::f32::consts::PI / freq;
                    if wavelen < original / high {
                        1.0
                    } else if wavelen > original / low {
                        factor
                    } else {
                        let smooth = (original / wavelen - low) / (high - low);
                        1.0 / ((1.0 - smooth) / factor + smooth)
                    }
                });
                Some(values.collect())
            }
            "rope_factors_short.weight" => {
                Some((0..half).map(|i| 1.0 + 0.1 * position(i)).collect())
            }
            "rope_factors_long.weight" => Some(
                (0..half)
                    .map(|i| 1.0 + 40.0 * position(i) * position(i))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The metadata: the shape's hyper-parameters and every `tokenizer.*` key of `vocab`.
    fn metadata(&self, vocab: &GgufFile, n_vocab: usize) -> Vec<(String, Value)> {
        let p = &self.preset;
        let a = |k: &str| format!("{}.{k}", p.arch);
        let u = |v: usize| Value::U32(v as u32);
        let mut m = vec![
            ("general.architecture".into(), Value::String(p.arch.into())),
            (
                "general.name".into(),
                Value::String(format!("synthetic {} {}", p.name, self.quant.name())),
            ),
            (
                "general.file_type".into(),
                Value::U32(self.quant.file_type()),
            ),
            ("general.quantization_version".into(), Value::U32(2)),
            (a("context_length"), u(p.context_length)),
            (a("embedding_length"), u(p.dim)),
            (a("block_count"), u(p.n_layers)),
            (a("feed_forward_length"), u(p.ffn_dim)),
            (a("attention.head_count"), u(p.n_heads)),
            (a("attention.head_count_kv"), u(p.n_kv_heads)),
            (a("attention.key_length"), u(p.head_dim)),
            (a("attention.value_length"), u(p.head_dim)),
            (a("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
            (a("rope.freq_base"), Value::F32(p.rope_base)),
            (a("rope.dimension_count"), u(p.head_dim)),
            (a("vocab_size"), u(n_vocab)),
        ];
        if let Some(original) = p.long_rope {
            // As llama.cpp's converter: sqrt(1 + ln(scale) / ln(original)).
            let scale = p.context_length as f32 / original as f32;
            let attn_factor = (1.0 + scale.ln() / (original as f32).ln()).sqrt();
            m.push((a("rope.scaling.original_context_length"), u(original)));
            m.push((a("rope.scaling.attn_factor"), Value::F32(attn_factor)));
        }
        if p.window > 0 {
            m.push((a("attention.sliding_window"), u(p.window)));
        }
        if let Some((attn, last)) = p.softcap {
            m.push((a("attn_logit_softcapping"), Value::F32(attn)));
            m.push((a("final_logit_softcapping"), Value::F32(last)));
        }
        m.extend(
            vocab
                .metadata()
                .iter()
                .filter(|(k, _)| k.starts_with("tokenizer."))
                .cloned(),
        );
        m
    }

    /// A writer for the whole model, its tensors produced while it writes. The vocabulary
    /// (every `tokenizer.*` metadata key) comes from `vocab`.
    pub fn writer(&self, vocab: &GgufFile) -> Result<GgufWriter, SynthError> {
        let n_vocab = vocab
            .get_array("tokenizer.ggml.tokens")
            .map_or(0, |t| t.len());
        if n_vocab == 0 {
            return Err(SynthError::NoVocabulary(vocab.path().display().to_string()));
        }
        let mut w = GgufWriter::new();
        for (k, v) in self.metadata(vocab, n_vocab) {
            w.meta(k, v);
        }
        for (i, t) in self.tensors(n_vocab).into_iter().enumerate() {
            let seed = splitmix(self.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let is_bias = t.name.ends_with(".bias");
            let (ty, dims) = (t.ty, t.dims.clone());
            let fixed = self.rope_factor_values(&t.name);
            w.tensor_stream(t.name, &t.dims, t.ty, move |out| {
                let (cols, rows) = (dims[0] as usize, dims[1..].iter().product::<u64>() as usize);
                if let Some(values) = &fixed {
                    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    return out.write_all(&bytes);
                }
                if dims.len() == 1 {
                    // Norm weights are ones; biases small.
                    let mut rng = Rng(seed | 1);
                    let v: Vec<u8> = (0..cols)
                        .flat_map(|_| {
                            let x = if is_bias { rng.unit() * 0.1 } else { 1.0 };
                            x.to_le_bytes()
                        })
                        .collect();
                    return out.write_all(&v);
                }
                write_random_rows(ty, rows, cols, seed, out)
            });
        }
        Ok(w)
    }

    /// Writes the model to `path`, streaming: memory stays a few megabytes.
    pub fn write(&self, vocab: &GgufFile, path: impl AsRef<Path>) -> Result<(), SynthError> {
        self.writer(vocab)?.write_to(path)?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("{0} has no tokenizer.ggml.tokens to take the vocabulary from")]
    NoVocabulary(String),
    #[error("no random blocks for {0}")]
    UnsupportedType(GgmlType),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The block types [`write_random_rows`] can produce.
pub fn supports(ty: GgmlType) -> bool {
    use GgmlType::*;
    matches!(
        ty,
        F32 | F16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4K | Q5K | Q6K
    )
}

/// Writes `rows` random rows of `cols` values in `ty`'s block format: each dequantized row
/// has mean ≈ 0 and standard deviation ≈ 1/sqrt(cols).
pub fn write_random_rows(
    ty: GgmlType,
    rows: usize,
    cols: usize,
    seed: u64,
    out: &mut dyn Write,
) -> io::Result<()> {
    if !supports(ty) {
        return Err(io::Error::other(SynthError::UnsupportedType(ty)));
    }
    let row_bytes = ty.byte_size(cols as u64).expect("whole blocks") as usize;
    let batch = (4 << 20) / row_bytes.max(1) + 1;
    let mut buf = vec![0u8; row_bytes * batch.min(rows)];
    let mut rng = Rng(seed | 1);
    let std = 1.0 / (cols as f32).sqrt();
    let mut done = 0;
    while done < rows {
        let n = batch.min(rows - done);
        let chunk = &mut buf[..n * row_bytes];
        for row in chunk.chunks_exact_mut(row_bytes) {
            random_row(ty, row, std, &mut rng);
        }
        out.write_all(chunk)?;
        done += n;
    }
    Ok(())
}

/// One row: random bits, then each block's scale fields set.
fn random_row(ty: GgmlType, row: &mut [u8], std: f32, rng: &mut Rng) {
    use GgmlType::*;
    let f = |v: f32| f16::from_f32(v).to_le_bytes();
    match ty {
        F32 | F16 => {
            // Uniform in ±sqrt(3)·std.
            let a = std * 3f32.sqrt();
            let size = ty.type_size();
            for v in row.chunks_exact_mut(size) {
                let x = rng.unit() * a;
                match ty {
                    F32 => v.copy_from_slice(&x.to_le_bytes()),
                    _ => v.copy_from_slice(&f(x)),
                }
            }
            return;
        }
        _ => rng.fill(row),
    }
    let ts = ty.type_size();
    // Each scale is the row's target standard deviation over that of the block's integers.
    match ty {
        // (q - 8)·d with q uniform in 0..16: E[(q-8)²] = 21.5. Its mean, -d/2, cancels
        // between neighbouring blocks, whose d alternates in sign.
        Q4_0 | Q5_0 | Q8_0 => {
            let second_moment: f32 = match ty {
                Q4_0 => 21.5,
                Q5_0 => 85.5,
                _ => 5461.5,
            };
            let d = f16::from_f32(std / second_moment.sqrt());
            let (pos, neg) = (d.to_le_bytes(), (-d).to_le_bytes());
            for (i, b) in row.chunks_exact_mut(ts).enumerate() {
                b[..2].copy_from_slice(if i % 2 == 0 { &pos } else { &neg });
            }
        }
        // q·d + m with q uniform: m = -mean(q)·d (its f16 rounding leaves a bias of
        // ~0.1% of the standard deviation).
        Q4_1 | Q5_1 => {
            let (var, mean): (f32, f32) = if ty == Q4_1 {
                (21.25, 7.5)
            } else {
                (85.25, 15.5)
            };
            let d = f16::from_f32(std / var.sqrt()).to_f32();
            let (dd, m) = (f(d), f(-mean * d));
            for b in row.chunks_exact_mut(ts) {
                b[..2].copy_from_slice(&dd);
                b[2..4].copy_from_slice(&m);
            }
        }
        // d·sc·q - dmin·m with one sub-block scale and min throughout, the min equal to the
        // mean of d·sc·q. Q4_K: q uniform in 0..16, sc = 8, m = 15, dmin = 4·d (60·d = 8·d·7.5),
        // variance 64·21.25·d². Q5_K: q in 0..32, sc = 4, m = 31, dmin = 2·d, variance
        // 16·85.25·d².
        Q4K | Q5K => {
            let (sc, m, dmin_per_d, var) = if ty == Q4K {
                (8u8, 15u8, 4.0, 21.25f32)
            } else {
                (4, 31, 2.0, 85.25)
            };
            let d = f16::from_f32(std / (sc as f32 * var.sqrt()));
            let dmin = f16::from_f32(d.to_f32() * dmin_per_d);
            let scales = pack_k4_scales(&[sc; 8], &[m; 8]);
            for b in row.chunks_exact_mut(ts) {
                b[..2].copy_from_slice(&d.to_le_bytes());
                b[2..4].copy_from_slice(&dmin.to_le_bytes());
                b[4..16].copy_from_slice(&scales);
            }
        }
        // d·sc·(q - 32), q uniform in 0..64: E[(q-32)²] = 341.5; the sixteen scales alternate
        // ±4 so the mean, -d·sc/2, cancels within the block.
        Q6K => {
            let d = f16::from_f32(std / (4.0 * 341.5f32.sqrt()));
            for b in row.chunks_exact_mut(ts) {
                for (j, s) in b[192..208].iter_mut().enumerate() {
                    *s = if j % 2 == 0 { 4 } else { (-4i8) as u8 };
                }
                b[208..210].copy_from_slice(&d.to_le_bytes());
            }
        }
        _ => unreachable!("checked by supports"),
    }
}

/// Packs eight 6-bit scales and mins into Q4_K/Q5_K's twelve bytes (the inverse of ggml's
/// `get_scale_min_k4`).
pub fn pack_k4_scales(sc: &[u8; 8], m: &[u8; 8]) -> [u8; 12] {
    let mut q = [0u8; 12];
    for j in 0..4 {
        q[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
        q[j + 4] = (m[j] & 63) | ((m[j + 4] >> 4) << 6);
        q[j + 8] = (sc[j + 4] & 0x0F) | ((m[j + 4] & 0x0F) << 4);
    }
    q
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xorshift64*: fast random bits, gigabytes a second. The state must not be zero.
struct Rng(u64);

impl Rng {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    fn fill(&mut self, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next().to_le_bytes();
        let n = rest.len();
        rest.copy_from_slice(&last[..n]);
    }
}

/// Bytes of weights read to decode one token: every 2-D weight, with the token embedding
/// table counted only when it is also the output head (otherwise one row of it is read).
pub fn decode_weight_bytes(file: &GgufFile) -> u64 {
    let tied = file.tensor("output.weight").is_none();
    file.tensors()
        .iter()
        .filter(|t| t.dims.len() >= 2 && t.dims[1] > 1)
        .filter(|t| tied || t.name != "token_embd.weight")
        .map(|t| t.n_bytes)
        .sum()
}
