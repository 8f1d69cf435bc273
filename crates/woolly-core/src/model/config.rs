//! Model hyper-parameters read from GGUF metadata (`{arch}.*` keys).

use crate::gguf::{GgufError, GgufFile};

/// Architectures this engine runs.
pub const SUPPORTED_ARCHS: [&str; 7] = [
    "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Mistral,
    Qwen2,
    Qwen3,
    Gemma2,
    Gemma3,
    /// Phi-3 and Phi-3.5 mini (Phi-4 mini has the same layers but a GPT-4o pre-tokenizer,
    /// not supported yet).
    Phi3,
}

/// The feed-forward gate's activation: `act(gate) * up`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// SiLU (SwiGLU): LLaMA, Mistral, Qwen.
    Silu,
    /// GELU, tanh approximation (GeGLU): Gemma.
    GeluTanh,
}

/// How RoPE pairs dimensions: interleaved pairs (LLaMA) or halves (NeoX: Qwen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    Normal,
    Neox,
}

/// Context-extension scaling of the RoPE frequencies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    None,
    /// Positions divided by `factor`.
    Linear {
        factor: f32,
    },
    /// YaRN (frequency-dependent interpolation with attention-magnitude correction).
    Yarn {
        factor: f32,
        original_ctx: usize,
        beta_fast: f32,
        beta_slow: f32,
    },
    /// Llama 3.1's smooth wavelength-dependent scaling.
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original_ctx: usize,
    },
}

/// Per-pair divisors of the RoPE frequencies, stored as tensors: `rope_freqs.weight`
/// (how llama.cpp writes Llama 3.x's wavelength-dependent scaling) or Phi-3's LongRoPE
/// pair `rope_factors_short` / `rope_factors_long`.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeFactors {
    None,
    Fixed(Vec<f32>),
    /// The long factors for contexts longer than `original_ctx`, as llama.cpp chooses.
    LongShort {
        short: Vec<f32>,
        long: Vec<f32>,
        original_ctx: usize,
    },
}

impl RopeFactors {
    /// The divisors a context of `ctx` positions uses, if any.
    pub fn for_context(&self, ctx: usize) -> Option<&[f32]> {
        match self {
            Self::None => None,
            Self::Fixed(f) => Some(f),
            Self::LongShort {
                short,
                long,
                original_ctx,
            } => Some(if ctx > *original_ctx { long } else { short }),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub n_layers: usize,
    pub dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub ffn_dim: usize,
    pub vocab_size: usize,
    pub norm_eps: f32,
    pub rope_base: f32,
    /// Dimensions of each head that are rotated (the rest pass through).
    pub rope_dim: usize,
    pub rope_layout: RopeLayout,
    pub rope_scaling: RopeScaling,
    pub rope_factors: RopeFactors,
    /// Multiplies RoPE's cos and sin (`rope.scaling.attn_factor`; Phi-3's LongRoPE).
    pub rope_attn_factor: f32,
    /// Context length the model was trained for.
    pub train_ctx: usize,
    /// The token embeddings are multiplied by this (Gemma: `sqrt(dim)`).
    pub embed_scale: f32,
    pub activation: Activation,
    /// Sliding-window attention: layers for which [`Self::is_local`] holds see only the
    /// last `window` positions (0: every layer sees the whole context).
    pub window: usize,
    /// Every `swa_pattern`-th layer is global, the others local (Gemma 3: 6).
    pub swa_pattern: usize,
    /// RoPE base of the local layers (no context scaling there).
    pub rope_base_local: f32,
    /// Attention scores are `attn_scale * q.k` (usually `1 / sqrt(head_dim)`).
    pub attn_scale: f32,
    /// Soft-capping, `cap * tanh(x / cap)`, of attention scores and of the output logits
    /// (Gemma 2); 0: none.
    pub attn_softcap: f32,
    pub final_softcap: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("unsupported architecture {0:?}; supported: {supported}", supported = SUPPORTED_ARCHS.join(", "))]
    UnsupportedArch(String),
    #[error("invalid hyper-parameters: {0}")]
    Invalid(String),
}

impl ModelConfig {
    pub fn from_gguf(f: &GgufFile) -> Result<Self, ConfigError> {
        let arch = match f.arch()? {
            "llama" => Arch::Llama,
            "mistral" => Arch::Mistral,
            "qwen2" => Arch::Qwen2,
            "qwen3" => Arch::Qwen3,
            "gemma2" => Arch::Gemma2,
            "gemma3" => Arch::Gemma3,
            "phi3" => Arch::Phi3,
            other => return Err(ConfigError::UnsupportedArch(other.to_owned())),
        };
        let u = |k: &str| f.hparam_u64(k).map(|v| v as usize);
        let dim = u("embedding_length")?;
        let n_heads = u("attention.head_count")?;
        if n_heads == 0 || dim == 0 {
            return Err(ConfigError::Invalid(
                "zero heads or zero embedding length".into(),
            ));
        }
        let n_kv_heads = f
            .hparam_u64_opt("attention.head_count_kv")?
            .map_or(n_heads, |v| v as usize);
        let head_dim = match f.hparam_u64_opt("attention.key_length")? {
            Some(k) => k as usize,
            None => dim / n_heads,
        };
        let vocab_size = match f.hparam_u64_opt("vocab_size")? {
            Some(v) => v as usize,
            None => f.get_array("tokenizer.ggml.tokens").map_or(0, |t| t.len()),
        };
        let rope_dim = f
            .hparam_u64_opt("rope.dimension_count")?
            .map_or(head_dim, |v| v as usize);
        let train_ctx = f
            .hparam_u64_opt("context_length")?
            .map_or(2048, |v| v as usize);
        let factor = f.hparam_f64_opt("rope.scaling.factor")?.unwrap_or(1.0) as f32;
        let original_ctx = f
            .hparam_u64_opt("rope.scaling.original_context_length")?
            .map_or(train_ctx, |v| v as usize);
        let scaling_type = f
            .get_str(&format!("{}.rope.scaling.type", f.arch()?))
            .unwrap_or("none");
        let rope_scaling = match scaling_type {
            _ if factor == 1.0 || factor <= 0.0 => RopeScaling::None,
            "linear" => RopeScaling::Linear { factor },
            "yarn" => RopeScaling::Yarn {
                factor,
                original_ctx,
                beta_fast: f
                    .hparam_f64_opt("rope.scaling.yarn_beta_fast")?
                    .unwrap_or(32.0) as f32,
                beta_slow: f
                    .hparam_f64_opt("rope.scaling.yarn_beta_slow")?
                    .unwrap_or(1.0) as f32,
            },
            "llama3" => RopeScaling::Llama3 {
                factor,
                low_freq_factor: f
                    .hparam_f64_opt("rope.scaling.low_freq_factor")?
                    .unwrap_or(1.0) as f32,
                high_freq_factor: f
                    .hparam_f64_opt("rope.scaling.high_freq_factor")?
                    .unwrap_or(4.0) as f32,
                original_ctx,
            },
            _ => RopeScaling::None,
        };
        let n_layers = u("block_count")?;
        let gemma = matches!(arch, Arch::Gemma2 | Arch::Gemma3);
        let rope_base = f.hparam_f64_opt("rope.freq_base")?.unwrap_or(10_000.0) as f32;
        let rope_factors = rope_factors(f, original_ctx)?;
        let cfg = Self {
            arch,
            n_layers,
            dim,
            n_heads,
            n_kv_heads,
            head_dim,
            ffn_dim: u("feed_forward_length")?,
            vocab_size,
            norm_eps: f
                .hparam_f64_opt("attention.layer_norm_rms_epsilon")?
                .unwrap_or(1e-5) as f32,
            rope_base,
            rope_dim,
            rope_layout: match arch {
                Arch::Qwen2 | Arch::Qwen3 | Arch::Gemma2 | Arch::Gemma3 | Arch::Phi3 => {
                    RopeLayout::Neox
                }
                Arch::Llama | Arch::Mistral => RopeLayout::Normal,
            },
            // A factors tensor is Llama 3's scaling already written out: never both.
            rope_scaling: match (&rope_factors, rope_scaling) {
                (RopeFactors::None, s) => s,
                (_, RopeScaling::Llama3 { .. }) => RopeScaling::None,
                (_, s) => s,
            },
            rope_factors,
            rope_attn_factor: f.hparam_f64_opt("rope.scaling.attn_factor")?.unwrap_or(1.0) as f32,
            train_ctx,
            embed_scale: if gemma { (dim as f32).sqrt() } else { 1.0 },
            activation: if gemma {
                Activation::GeluTanh
            } else {
                Activation::Silu
            },
            window: f
                .hparam_u64_opt("attention.sliding_window")?
                .map_or(0, |v| v as usize),
            // llama.cpp's values, which the GGUF files do not carry: Gemma 2 alternates
            // local and global layers, Gemma 3 has one global in six. (llama.cpp runs
            // Phi-3's sliding window as full attention: so does this.)
            swa_pattern: match arch {
                Arch::Gemma2 => 2,
                Arch::Gemma3 => 6,
                _ => 0,
            },
            rope_base_local: if arch == Arch::Gemma3 {
                10_000.0
            } else {
                rope_base
            },
            // The 27B Gemmas scale queries by their width per head, not their head size.
            attn_scale: match (arch, n_layers) {
                (Arch::Gemma2, 46) | (Arch::Gemma3, 62) => 1.0 / ((dim / n_heads) as f32).sqrt(),
                _ => 1.0 / (head_dim as f32).sqrt(),
            },
            attn_softcap: f.hparam_f64_opt("attn_logit_softcapping")?.unwrap_or(0.0) as f32,
            final_softcap: f.hparam_f64_opt("final_logit_softcapping")?.unwrap_or(0.0) as f32,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.n_kv_heads == 0 || !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(format!(
                "{} heads is not a multiple of {} KV heads",
                self.n_heads, self.n_kv_heads
            ));
        }
        if self.rope_dim > self.head_dim || !self.rope_dim.is_multiple_of(2) {
            return bad(format!(
                "rope dimension {} with head dimension {}",
                self.rope_dim, self.head_dim
            ));
        }
        let factors = match &self.rope_factors {
            RopeFactors::None => vec![],
            RopeFactors::Fixed(f) => vec![f],
            RopeFactors::LongShort { short, long, .. } => vec![short, long],
        };
        if let Some(f) = factors
            .into_iter()
            .find(|f| f.len() != self.rope_dim / 2 || f.iter().any(|&x| x.is_nan() || x <= 0.0))
        {
            return bad(format!(
                "{} RoPE frequency factors for {} rotated pairs (each must be positive)",
                f.len(),
                self.rope_dim / 2
            ));
        }
        if !(self.attn_softcap >= 0.0 && self.final_softcap >= 0.0) {
            return bad("negative soft-capping".into());
        }
        if self.n_layers == 0 || self.ffn_dim == 0 || self.vocab_size == 0 || self.head_dim == 0 {
            return bad("zero layers, feed-forward length, vocabulary or head dimension".into());
        }
        Ok(())
    }

    /// Whether layer `l` attends over a sliding window (else over the whole context).
    pub fn is_local(&self, l: usize) -> bool {
        self.window > 0 && self.swa_pattern > 0 && l % self.swa_pattern < self.swa_pattern - 1
    }

    /// The configuration of a local layer's RoPE: its own base, no context scaling.
    pub fn local_rope(&self) -> Self {
        Self {
            rope_base: self.rope_base_local,
            rope_scaling: RopeScaling::None,
            ..self.clone()
        }
    }

    /// Bytes of KV cache for `ctx` positions at `bytes_per_value` (2 for f16, 4 for f32).
    pub fn kv_cache_bytes(&self, ctx: usize, bytes_per_value: usize) -> u64 {
        (self.n_layers * 2 * self.n_kv_heads * self.head_dim * ctx * bytes_per_value) as u64
    }

    /// Inverse frequency of each rotated pair in a context of `ctx` positions, with
    /// context scaling and frequency factors applied.
    pub fn rope_inv_freqs(&self, ctx: usize) -> Vec<f32> {
        let half = self.rope_dim / 2;
        let factors = self.rope_factors.for_context(ctx);
        (0..half)
            .map(|i| {
                let base = self
                    .rope_base
                    .powf(-((2 * i) as f32) / self.rope_dim as f32);
                match self.rope_scaling {
                    RopeScaling::None | RopeScaling::Yarn { .. } => base,
                    RopeScaling::Linear { factor } => base / factor,
                    RopeScaling::Llama3 {
                        factor,
                        low_freq_factor,
                        high_freq_factor,
                        original_ctx,
                    } => {
                        let wavelen = 2.0 * std::f32::consts::PI / base;
                        let low_wavelen = original_ctx as f32 / low_freq_factor;
                        let high_wavelen = original_ctx as f32 / high_freq_factor;
                        if wavelen < high_wavelen {
                            base
                        } else if wavelen > low_wavelen {
                            base / factor
                        } else {
                            let smooth = (original_ctx as f32 / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * base / factor + smooth * base
                        }
                    }
                }
            })
            .map(|f| match self.rope_scaling {
                RopeScaling::Yarn {
                    factor,
                    original_ctx,
                    beta_fast,
                    beta_slow,
                } => yarn_freq(
                    f,
                    factor,
                    original_ctx,
                    beta_fast,
                    beta_slow,
                    self.rope_base,
                    self.rope_dim,
                ),
                _ => f,
            })
            .enumerate()
            .map(|(i, f)| factors.map_or(f, |d| f / d[i]))
            .collect()
    }

    /// The factor applied to cos/sin: YaRN's attention-magnitude correction times the
    /// file's `rope.scaling.attn_factor` (1 with neither).
    pub fn rope_mscale(&self) -> f32 {
        let yarn = match self.rope_scaling {
            RopeScaling::Yarn { factor, .. } => 1.0 + 0.1 * factor.ln(),
            _ => 1.0,
        };
        yarn * self.rope_attn_factor
    }
}

/// The RoPE frequency factors stored in `f`, if any (see [`RopeFactors`]).
fn rope_factors(f: &GgufFile, original_ctx: usize) -> Result<RopeFactors, ConfigError> {
    let read = |name: &str| -> Result<Option<Vec<f32>>, ConfigError> {
        let Some(info) = f.tensor(name) else {
            return Ok(None);
        };
        let mut out = vec![0.0; info.n_elements() as usize];
        crate::quant::dequantize(info.ggml_type, f.tensor_data(info), &mut out)
            .map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))?;
        Ok(Some(out))
    };
    Ok(
        match (
            read("rope_freqs.weight")?,
            read("rope_factors_short.weight")?,
            read("rope_factors_long.weight")?,
        ) {
            (Some(f), _, _) => RopeFactors::Fixed(f),
            (None, Some(short), Some(long)) => RopeFactors::LongShort {
                short,
                long,
                original_ctx,
            },
            (None, Some(f), None) | (None, None, Some(f)) => RopeFactors::Fixed(f),
            (None, None, None) => RopeFactors::None,
        },
    )
}

/// YaRN: dimensions that rotate fast keep their frequency, slow ones are interpolated,
/// with a linear ramp between (as in the YaRN paper and llama.cpp's rope_yarn).
fn yarn_freq(
    freq: f32,
    factor: f32,
    original_ctx: usize,
    beta_fast: f32,
    beta_slow: f32,
    base: f32,
    rope_dim: usize,
) -> f32 {
    let corr_dim = |n_rot: f32| {
        rope_dim as f32 * (original_ctx as f32 / (n_rot * 2.0 * std::f32::consts::PI)).ln()
            / (2.0 * base.ln())
    };
    let low = corr_dim(beta_fast).floor().max(0.0);
    let high = corr_dim(beta_slow).ceil().min(rope_dim as f32 - 1.0);
    // Index of this pair's dimension, recovered from its frequency.
    let i0 = -(freq.ln() / base.ln()) * rope_dim as f32;
    let ramp = ((i0 / 2.0 - low) / (high - low).max(0.001)).clamp(0.0, 1.0);
    let extrapolate = 1.0 - ramp;
    freq / factor * (1.0 - extrapolate) + freq * extrapolate
}
