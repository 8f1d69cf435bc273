//! The model's vocabulary as llguidance sees it: each token's bytes in a trie, special tokens
//! marked so that no grammar can spell them out of text.

use crate::tokenizer::{TokenType, Tokenizer};
use llguidance::toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};
use llguidance::ParserFactory;
use std::sync::Arc;

/// Built once per model (a few milliseconds per 10k tokens), shared by every grammar.
pub struct GrammarVocab {
    factory: ParserFactory,
}

impl GrammarVocab {
    /// `vocab_size` is the model's logit count, which may exceed the tokenizer's vocabulary.
    pub fn new(tokenizer: &Tokenizer, vocab_size: usize) -> Result<Self, super::GrammarError> {
        let n = vocab_size.max(tokenizer.vocab_size());
        let words: Vec<Vec<u8>> = (0..n as u32)
            .map(|id| {
                let bytes = tokenizer.token_bytes(id);
                let special = tokenizer.is_eog(id)
                    || matches!(
                        tokenizer.token_type(id),
                        Some(TokenType::Control | TokenType::Unknown)
                    );
                if special && !bytes.is_empty() {
                    let mut marked = vec![TokTrie::SPECIAL_TOKEN_MARKER];
                    marked.extend_from_slice(bytes);
                    marked
                } else {
                    bytes.to_vec()
                }
            })
            .collect();
        let eos = tokenizer.eog_ids().first().copied().unwrap_or(0);
        let trie = TokTrie::from(&TokRxInfo::new(n as u32, eos), &words)
            .with_eos_tokens(tokenizer.eog_ids());
        // Grammars here never force tokens, so the trie's greedy tokenization suffices.
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        // No token-class slices: they speed up a full mask but cost time and memory up front
        // (Gemma's 262k vocabulary: +0.6 s and +60 MB), and masks are rare here (only when a
        // sampled token breaks the grammar): decode speed is the same either way.
        let mut factory = ParserFactory::new(&env, Default::default(), &[])
            .map_err(|e| super::GrammarError(format!("the vocabulary: {e}")))?;
        factory.quiet();
        Ok(Self { factory })
    }

    pub(super) fn factory(&self) -> &ParserFactory {
        &self.factory
    }
}

impl std::fmt::Debug for GrammarVocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrammarVocab")
    }
}
