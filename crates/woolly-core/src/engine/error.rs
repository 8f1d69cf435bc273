use crate::chat::ChatError;
use crate::gguf::GgufError;
use crate::grammar::GrammarError;
use crate::model::{ConfigError, ModelError};
use crate::tokenizer::TokenizerError;

/// Everything the engine's API can fail with. No panic crosses this API: internal panics
/// are caught and reported as [`EngineError::Internal`].
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(
        "not enough memory: the model needs {:.0} MiB (weights + KV cache + scratch) but only {:.0} MiB are available",
        *needed as f64 / 1048576.0, *available as f64 / 1048576.0
    )]
    InsufficientMemory { needed: u64, available: u64 },
    #[error("the prompt has {prompt_tokens} tokens but the context holds {context_length}")]
    PromptTooLong {
        prompt_tokens: usize,
        context_length: usize,
    },
    /// The constraint on the reply (JSON schema, grammar) is invalid or unsupported.
    #[error("invalid constraint: {0}")]
    Grammar(#[from] GrammarError),
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The GPU failed during a reply; the model now runs on the CPU.
    #[error("{0}")]
    GpuFailed(String),
    #[error("internal error: {0}")]
    Internal(String),
}
