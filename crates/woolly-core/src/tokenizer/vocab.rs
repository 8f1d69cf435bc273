//! The tokenizer's raw metadata, as stored under `tokenizer.ggml.*` in a GGUF file.

use crate::gguf::{GgufFile, Value};

use super::TokenizerError;

/// Vocabulary and settings read from GGUF metadata. Optional fields are `None` when the key
/// is absent; [`Tokenizer::new`](super::Tokenizer::new) fills in llama.cpp's defaults.
#[derive(Debug, Clone, Default)]
pub struct Vocab {
    /// `tokenizer.ggml.model`: `"gpt2"` (byte-level BPE) or `"llama"` (SentencePiece).
    pub model: String,
    /// `tokenizer.ggml.pre`: the BPE pre-tokenizer, e.g. `"smollm"`, `"llama-bpe"`, `"qwen2"`.
    pub pre: Option<String>,
    pub tokens: Vec<String>,
    /// Empty if absent. 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    pub token_types: Vec<i32>,
    /// Empty if absent (SentencePiece merge priorities).
    pub scores: Vec<f32>,
    /// "left right" strings, highest priority first (BPE).
    pub merges: Vec<String>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_space_prefix: Option<bool>,
}

type Result<T> = std::result::Result<T, TokenizerError>;

impl Vocab {
    pub fn from_gguf(f: &GgufFile) -> Result<Vocab> {
        let model = opt_str(f, "tokenizer.ggml.model")?
            .ok_or(TokenizerError::MissingKey("tokenizer.ggml.model"))?;
        let tokens = array(f, "tokenizer.ggml.tokens", "an array of strings", |v| {
            v.as_str().map(str::to_owned)
        })?
        .ok_or(TokenizerError::MissingKey("tokenizer.ggml.tokens"))?;
        let token_types = array(
            f,
            "tokenizer.ggml.token_type",
            "an array of integers",
            |v| v.as_i64().and_then(|i| i32::try_from(i).ok()),
        )?
        .unwrap_or_default();
        let scores = array(f, "tokenizer.ggml.scores", "an array of numbers", |v| {
            v.as_f64().map(|x| x as f32)
        })?
        .unwrap_or_default();
        let merges = array(f, "tokenizer.ggml.merges", "an array of strings", |v| {
            v.as_str().map(str::to_owned)
        })?
        .unwrap_or_default();
        let id = |name: &'static str| opt_id(f, name);
        Ok(Vocab {
            model,
            pre: opt_str(f, "tokenizer.ggml.pre")?,
            tokens,
            token_types,
            scores,
            merges,
            bos: id("tokenizer.ggml.bos_token_id")?,
            eos: id("tokenizer.ggml.eos_token_id")?,
            eot: id("tokenizer.ggml.eot_token_id")?,
            eom: id("tokenizer.ggml.eom_token_id")?,
            unk: id("tokenizer.ggml.unknown_token_id")?,
            pad: id("tokenizer.ggml.padding_token_id")?,
            fim_pre: id("tokenizer.ggml.fim_pre_token_id")?,
            fim_suf: id("tokenizer.ggml.fim_suf_token_id")?,
            fim_mid: id("tokenizer.ggml.fim_mid_token_id")?,
            fim_pad: id("tokenizer.ggml.fim_pad_token_id")?,
            fim_rep: id("tokenizer.ggml.fim_rep_token_id")?,
            fim_sep: id("tokenizer.ggml.fim_sep_token_id")?,
            add_bos: opt_bool(f, "tokenizer.ggml.add_bos_token")?,
            add_eos: opt_bool(f, "tokenizer.ggml.add_eos_token")?,
            add_space_prefix: opt_bool(f, "tokenizer.ggml.add_space_prefix")?,
        })
    }
}

fn wrong(key: &'static str, expected: &'static str) -> TokenizerError {
    TokenizerError::WrongType { key, expected }
}

fn opt_str(f: &GgufFile, key: &'static str) -> Result<Option<String>> {
    f.get(key)
        .map(|v| v.as_str().map(str::to_owned).ok_or(wrong(key, "a string")))
        .transpose()
}

fn opt_bool(f: &GgufFile, key: &'static str) -> Result<Option<bool>> {
    f.get(key)
        .map(|v| v.as_bool().ok_or(wrong(key, "a bool")))
        .transpose()
}

/// A token id; a negative or huge value (some converters write -1 for "none") counts as unset.
fn opt_id(f: &GgufFile, key: &'static str) -> Result<Option<u32>> {
    match f.get(key) {
        None => Ok(None),
        Some(v) if v.as_i64().is_some() || v.as_u64().is_some() => {
            Ok(v.as_u64().and_then(|x| u32::try_from(x).ok()))
        }
        Some(_) => Err(wrong(key, "an integer")),
    }
}

fn array<T>(
    f: &GgufFile,
    key: &'static str,
    expected: &'static str,
    item: impl Fn(&Value) -> Option<T>,
) -> Result<Option<Vec<T>>> {
    let Some(value) = f.get(key) else {
        return Ok(None);
    };
    let items = value.as_array().ok_or(wrong(key, expected))?;
    items
        .iter()
        .map(|v| item(v).ok_or(wrong(key, expected)))
        .collect::<Result<Vec<T>>>()
        .map(Some)
}
