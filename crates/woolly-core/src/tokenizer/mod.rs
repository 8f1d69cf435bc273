//! Tokenizers built from GGUF metadata: byte-level BPE (`gpt2`) and SentencePiece (`llama`),
//! following llama.cpp's `llama-vocab.cpp` so that token ids match it exactly.
//!
//! ```no_run
//! use woolly_core::{gguf::GgufFile, tokenizer::Tokenizer};
//! let tok = Tokenizer::from_gguf(&GgufFile::open("model.gguf")?)?;
//! let ids = tok.encode("Hello world", true, true);
//! assert_eq!(tok.decode(&ids), "Hello world");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bpe;
mod index;
mod pretokenize;
mod special;
mod spm;
mod stream;
mod unicode;
mod vocab;

pub use pretokenize::PreTokenizer;
pub use stream::StreamDecoder;
pub use vocab::Vocab;

use crate::gguf::GgufFile;
use bpe::Bpe;
use index::TokenIndex;
use special::Fragment;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer metadata `{0}` is missing")]
    MissingKey(&'static str),
    #[error("tokenizer metadata `{key}` should be {expected}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
    #[error("unsupported tokenizer model `{0}` (supported: gpt2, llama)")]
    UnsupportedModel(String),
    #[error("unsupported BPE pre-tokenizer `{0}`")]
    UnsupportedPreTokenizer(String),
    #[error("`{key}` has {found} entries but the vocabulary has {expected} tokens")]
    LengthMismatch {
        key: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("the vocabulary is empty")]
    EmptyVocab,
    #[error("the vocabulary has {0} tokens, more than 32-bit ids can address")]
    TooManyTokens(usize),
}

/// A token's type (`tokenizer.ggml.token_type`), after llama.cpp's fix-ups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
    Undefined,
}

impl TokenType {
    fn from_gguf(t: i32) -> Self {
        match t {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }

    /// Tokens split out of text before pre-tokenization (when special parsing allows).
    pub(crate) fn is_special(self) -> bool {
        matches!(
            self,
            TokenType::Control | TokenType::UserDefined | TokenType::Unknown
        )
    }
}

#[derive(Debug)]
enum Model {
    Bpe {
        bpe: Bpe,
        pre: PreTokenizer,
    },
    Spm {
        byte_tokens: Box<[Option<u32>; 256]>,
    },
}

/// A ready-to-use tokenizer. Immutable, so it can be shared across threads in an `Arc`.
pub struct Tokenizer {
    model: Model,
    types: Vec<TokenType>,
    scores: Vec<f32>,
    /// The vocabulary, and ids by text.
    index: TokenIndex,
    /// Each token's bytes when rendered (special tokens as their text).
    pieces: Vec<Box<[u8]>>,
    /// Special tokens, longest text first: the order llama.cpp splits them out of text.
    special_order: Vec<u32>,
    /// End-of-generation tokens, sorted.
    eog: Vec<u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    eot: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("model", &self.model_name())
            .field("vocab_size", &self.index.tokens().len())
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .finish()
    }
}

/// BPE settings selected by `tokenizer.ggml.pre` (llama.cpp's pre-type table).
struct PreSettings {
    pre: PreTokenizer,
    ignore_merges: bool,
    add_bos: bool,
}

fn pre_settings(name: Option<&str>) -> Result<PreSettings, TokenizerError> {
    use PreTokenizer::*;
    let plain = |pre| PreSettings {
        pre,
        ignore_merges: false,
        add_bos: false,
    };
    Ok(match name.unwrap_or("default") {
        "default" => plain(Default),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" => PreSettings {
            pre: Llama3,
            ignore_merges: true,
            add_bos: true,
        },
        "dbrx" | "smaug-bpe" => plain(Llama3),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "megrez" | "stablelm2" | "hunyuan" | "grok-2" => {
            plain(Qwen2)
        }
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            plain(Smollm)
        }
        "gpt-2" | "gpt2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
        | "jina-v2-de" | "a.x-4.0" | "mellum" | "jina-v1-en" | "jina-v2-code" | "roberta-bpe"
        | "exaone4" | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" => plain(Gpt2),
        other => return Err(TokenizerError::UnsupportedPreTokenizer(other.to_owned())),
    })
}

impl Tokenizer {
    pub fn from_gguf(f: &GgufFile) -> Result<Self, TokenizerError> {
        Self::new(Vocab::from_gguf(f)?)
    }

    pub fn new(mut v: Vocab) -> Result<Self, TokenizerError> {
        let n = v.tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        if u32::try_from(n).is_err() {
            return Err(TokenizerError::TooManyTokens(n));
        }
        for (key, len) in [
            ("tokenizer.ggml.token_type", v.token_types.len()),
            ("tokenizer.ggml.scores", v.scores.len()),
        ] {
            if len != 0 && len != n {
                return Err(TokenizerError::LengthMismatch {
                    key,
                    expected: n,
                    found: len,
                });
            }
        }
        let is_spm = match v.model.as_str() {
            "llama" => true,
            "gpt2" => false,
            other => return Err(TokenizerError::UnsupportedModel(other.to_owned())),
        };
        let settings = if is_spm {
            None
        } else {
            Some(pre_settings(v.pre.as_deref())?)
        };

        let mut tokens = std::mem::take(&mut v.tokens);
        for (i, t) in tokens.iter_mut().enumerate() {
            if t.is_empty() {
                // llama.cpp names empty tokens so that they stay addressable.
                *t = format!("[EMPTY_{i}]");
            }
        }
        let index = TokenIndex::new(tokens);
        let tokens = index.tokens();
        let mut types: Vec<TokenType> = if v.token_types.is_empty() {
            vec![TokenType::Normal; n]
        } else {
            v.token_types
                .iter()
                .map(|&t| TokenType::from_gguf(t))
                .collect()
        };

        // Ids from metadata must be in range; otherwise llama.cpp's per-model defaults apply.
        let valid = |id: Option<u32>| id.filter(|&i| (i as usize) < n);
        let (def_bos, def_eos, def_unk) = if is_spm {
            (Some(1), Some(2), Some(0))
        } else {
            (Some(11), Some(11), None)
        };
        let bos = valid(v.bos).or(valid(def_bos));
        let eos = valid(v.eos).or(valid(def_eos));
        let unk = valid(v.unk).or(valid(def_unk));
        let pad = valid(v.pad);

        let (eot, eog) = special::detect(&v, eos, &index, &mut types);

        let special_order = special::split_order(tokens, &types);

        let pieces = (0..n)
            .map(|i| render_piece(is_spm, types[i], &tokens[i]))
            .collect();

        let (model, add_bos, add_space_prefix) = match settings {
            None => {
                let mut byte_tokens = Box::new([None; 256]);
                for (b, slot) in byte_tokens.iter_mut().enumerate() {
                    let hex = format!("<0x{b:02X}>");
                    let raw = char::from(b as u8).to_string();
                    let lookup = index
                        .get(&hex)
                        .or(if b < 0x80 { index.get(&raw) } else { None });
                    // Without any byte token, an unknown char becomes <unk> (llama.cpp aborts).
                    *slot = lookup.copied().or(unk);
                }
                (Model::Spm { byte_tokens }, true, true)
            }
            Some(s) => (
                Model::Bpe {
                    bpe: Bpe::new(&v.merges, s.ignore_merges),
                    pre: s.pre,
                },
                s.add_bos,
                false,
            ),
        };

        Ok(Tokenizer {
            model,
            types,
            scores: v.scores,
            index,
            pieces,
            special_order,
            eog,
            bos,
            eos,
            eot,
            unk,
            pad,
            add_bos: v.add_bos.unwrap_or(add_bos),
            add_eos: v.add_eos.unwrap_or(false),
            add_space_prefix: v.add_space_prefix.unwrap_or(add_space_prefix),
        })
    }

    /// Tokenizes `text`. `add_special` adds BOS/EOS as the model's metadata asks;
    /// `parse_special` turns control-token text such as `<|im_start|>` into its single id
    /// (user-defined tokens are always recognised, as in llama.cpp).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let fragments = if text.is_empty() {
            Vec::new()
        } else {
            special::partition(
                text,
                parse_special,
                &self.special_order,
                self.index.tokens(),
                &self.types,
            )
        };
        match &self.model {
            Model::Bpe { bpe, pre } => {
                for frag in fragments {
                    match frag {
                        Fragment::Token(id) => out.push(id),
                        Fragment::Text(t) => {
                            for word in pre.split(t) {
                                bpe.encode_word(word, &self.index, &mut out);
                            }
                        }
                    }
                }
            }
            Model::Spm { byte_tokens } => {
                // Text at the start or right after a special token gets a space prefix.
                let mut after_special = true;
                for frag in fragments {
                    match frag {
                        Fragment::Token(id) => {
                            out.push(id);
                            after_special = true;
                        }
                        Fragment::Text(t) => {
                            let prefix = if self.add_space_prefix && after_special {
                                " "
                            } else {
                                ""
                            };
                            let escaped = format!("{prefix}{t}").replace(' ', spm::SPACE);
                            spm::encode(&escaped, &self.index, &self.scores, byte_tokens, &mut out);
                            after_special = false;
                        }
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    /// Text of `ids`, skipping control tokens; invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.decode_with(ids, false)
    }

    /// Like [`decode`](Self::decode); `render_special` writes control tokens as their text.
    ///
    /// For SentencePiece with a space prefix, the space that [`encode`](Self::encode) added
    /// in front of the first token (after an optional BOS) is removed, so decode inverts
    /// encode. Use [`StreamDecoder`] for generated text, which keeps it.
    pub fn decode_with(&self, ids: &[u32], render_special: bool) -> String {
        let strip_at = match ids.first() {
            _ if !(self.is_spm() && self.add_space_prefix) => None,
            Some(&first) if Some(first) == self.bos => Some(1),
            _ => Some(0),
        };
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            if !render_special && self.is_hidden(id) {
                continue;
            }
            let piece = self.token_bytes(id);
            let piece = match piece.split_first() {
                Some((b' ', rest)) if strip_at == Some(i) => rest,
                _ => piece,
            };
            bytes.extend_from_slice(piece);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A streaming decoder borrowing this tokenizer (see [`StreamDecoder::new`] for `Arc`s).
    pub fn stream_decoder(&self) -> StreamDecoder<&Tokenizer> {
        StreamDecoder::new(self)
    }

    /// The raw bytes a token stands for (byte-level BPE decoded, SentencePiece `▁` as a
    /// space, `<0xNN>` as its byte, special tokens as their text). Empty for unknown ids.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.pieces.get(id as usize).map_or(&[], |p| p)
    }

    /// Control and unknown tokens are left out of decoded text unless asked for.
    fn is_hidden(&self, id: u32) -> bool {
        matches!(
            self.token_type(id),
            Some(TokenType::Control | TokenType::Unknown)
        )
    }

    pub fn vocab_size(&self) -> usize {
        self.index.tokens().len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    pub fn eot(&self) -> Option<u32> {
        self.eot
    }

    pub fn unk(&self) -> Option<u32> {
        self.unk
    }

    pub fn pad(&self) -> Option<u32> {
        self.pad
    }

    /// Whether `encode(.., add_special = true, ..)` prepends BOS / appends EOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// End of generation: EOS, EOT, EOM and tokens such as `<|im_end|>`, `<|eot_id|>`,
    /// `<end_of_turn>`, `<|endoftext|>` (llama.cpp's rules).
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// All end-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }

    /// The vocabulary entry of `id` (GGUF text, e.g. `Ġworld` or `▁world`).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.index.tokens().get(id as usize).map(String::as_str)
    }

    /// The id whose vocabulary entry is exactly `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.index.get(text).copied()
    }

    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    /// The BPE pre-tokenizer; `None` for SentencePiece.
    pub fn pre_tokenizer(&self) -> Option<PreTokenizer> {
        match &self.model {
            Model::Bpe { pre, .. } => Some(*pre),
            Model::Spm { .. } => None,
        }
    }

    /// `"gpt2"` or `"llama"`, as in `tokenizer.ggml.model`.
    pub fn model_name(&self) -> &'static str {
        if self.is_spm() {
            "llama"
        } else {
            "gpt2"
        }
    }

    fn is_spm(&self) -> bool {
        matches!(self.model, Model::Spm { .. })
    }
}

/// What a token renders to (llama.cpp's `token_to_piece` with special tokens shown).
fn render_piece(is_spm: bool, ty: TokenType, text: &str) -> Box<[u8]> {
    match ty {
        TokenType::Control | TokenType::Unknown | TokenType::UserDefined => text.as_bytes().into(),
        TokenType::Normal if is_spm => text.replace(spm::SPACE, " ").into_bytes().into(),
        TokenType::Normal => {
            let mut out = Vec::with_capacity(text.len());
            for c in text.chars() {
                match unicode::char_to_byte(c) {
                    Some(b) => out.push(b),
                    // Not from the byte map (hand-added token): keep the char itself.
                    None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
                }
            }
            out.into()
        }
        TokenType::Byte if is_spm => match parse_byte_token(text) {
            Some(b) => Box::new([b]),
            None => text.as_bytes().into(),
        },
        TokenType::Byte | TokenType::Unused | TokenType::Undefined => Box::default(),
    }
}

/// `<0xAB>` -> 0xAB.
fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_bpe() -> Tokenizer {
        let tokens = [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "a",
            "b",
            "ab",
            "Ġ",
            "Ġab",
            "<tool>",
        ];
        let types = vec![3, 3, 3, 1, 1, 1, 1, 1, 4];
        Tokenizer::new(Vocab {
            model: "gpt2".into(),
            pre: Some("smollm".into()),
            tokens: tokens.iter().map(|s| s.to_string()).collect(),
            token_types: types,
            merges: vec!["a b".into(), "Ġ ab".into()],
            eos: Some(2),
            ..Vocab::default()
        })
        .unwrap()
    }

    #[test]
    fn specials_and_eog() {
        let t = tiny_bpe();
        assert_eq!(
            t.encode("<|im_start|>ab ab<|im_end|>", false, true),
            [1, 5, 7, 2]
        );
        // Control text is plain text without parse_special (here: no tokens for '<', dropped).
        assert_eq!(t.encode("<|im_end|>", false, false), Vec::<u32>::new());
        // User-defined tokens are always split out.
        assert_eq!(t.encode("ab<tool>ab", false, false), [5, 8, 5]);
        assert!(t.is_eog(0) && t.is_eog(2) && !t.is_eog(1) && !t.is_eog(5));
        assert_eq!(t.decode(&[1, 5, 7, 2]), "ab ab");
        assert_eq!(t.decode_with(&[1, 5, 2], true), "<|im_start|>ab<|im_end|>");
        assert_eq!(t.decode(&[5, 99, u32::MAX]), "ab");
        assert_eq!(t.token_bytes(1000), b"");
        assert_eq!(t.eot(), Some(2));
    }

    #[test]
    fn bad_vocabularies_are_errors() {
        let base = Vocab {
            model: "gpt2".into(),
            tokens: vec!["a".into()],
            ..Vocab::default()
        };
        assert!(matches!(
            Tokenizer::new(Vocab {
                tokens: vec![],
                ..base.clone()
            }),
            Err(TokenizerError::EmptyVocab)
        ));
        assert!(matches!(
            Tokenizer::new(Vocab {
                model: "bert".into(),
                ..base.clone()
            }),
            Err(TokenizerError::UnsupportedModel(_))
        ));
        assert!(matches!(
            Tokenizer::new(Vocab {
                pre: Some("nope".into()),
                ..base.clone()
            }),
            Err(TokenizerError::UnsupportedPreTokenizer(_))
        ));
        assert!(matches!(
            Tokenizer::new(Vocab {
                scores: vec![0.0, 1.0],
                ..base.clone()
            }),
            Err(TokenizerError::LengthMismatch { .. })
        ));
        let t = Tokenizer::new(Vocab {
            bos: Some(7),
            ..base
        })
        .unwrap();
        assert_eq!(t.bos(), None);
        assert_eq!(t.encode("aé\u{0}", true, true), [0]);
    }
}
