//! What a generation takes and gives back.

use crate::chat::ChatMessage;
use crate::grammar::Grammar;
use crate::sampling::SamplingParams;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What to continue from.
#[derive(Debug, Clone)]
pub enum Prompt {
    /// Raw text; special-token text such as `<|im_start|>` is parsed into its token.
    Text(String),
    /// A conversation, rendered with the model's chat template.
    Chat(Vec<ChatMessage>),
    /// Token ids as they are.
    Tokens(Vec<u32>),
}

#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    pub sampling: SamplingParams,
    /// Most tokens to generate; generation also stops when the context is full.
    pub max_tokens: usize,
    /// Text that ends the reply (not included in it).
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// Flip from any thread to stop within one token.
    pub cancel: CancelToken,
    /// How many of the first token's largest logits to report (`Generation::first_top_logits`).
    pub top_logits: usize,
    /// The reply must follow this grammar (compile one with [`super::Engine::grammar`]).
    pub grammar: Option<Grammar>,
    /// Report each token's log-probability and this many alternatives (0-20).
    pub logprobs: Option<usize>,
    /// Tools shown to the model with a chat prompt (OpenAI's `{"type": "function",
    /// "function": {"name", "description", "parameters"}}`).
    pub tools: Vec<serde_json::Value>,
}

impl GenerateRequest {
    pub fn new(prompt: Prompt) -> Self {
        Self {
            prompt,
            sampling: SamplingParams::default(),
            max_tokens: 256,
            stop: Vec::new(),
            ignore_eos: false,
            cancel: CancelToken::default(),
            top_logits: 5,
            grammar: None,
            logprobs: None,
            tools: Vec::new(),
        }
    }
}

/// Shared cancellation flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    Eos,
    /// `max_tokens` reached or the context is full.
    Length,
    /// A stop sequence was produced.
    Stop,
    /// Cancelled by the caller.
    Cancelled,
}

impl StopReason {
    /// OpenAI's `finish_reason` vocabulary.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eos | Self::Stop => "stop",
            Self::Length => "length",
            Self::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationStats {
    pub prompt_tokens: usize,
    /// Prompt tokens answered from the cache of the previous turn (not recomputed).
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    pub time_to_first_token_ms: f64,
    pub total_ms: f64,
    pub stop_reason: StopReason,
}

/// The result of a generation.
#[derive(Debug, Clone)]
pub struct Generation {
    pub prompt_tokens: Vec<u32>,
    pub tokens: Vec<u32>,
    pub text: String,
    /// The `top_logits` largest logits before the first generated token was sampled.
    pub first_top_logits: Vec<(u32, f32)>,
    /// One per token of `tokens`, when [`GenerateRequest::logprobs`] asked for them.
    pub logprobs: Vec<TokenLogprob>,
    pub stats: GenerationStats,
}

/// A generated token's log-probability under the model (softmax of the raw logits, before
/// penalties, bias or grammar), with the most likely alternatives, most likely first.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub token_id: u32,
    pub logprob: f32,
    pub top: Vec<(u32, f32)>,
}

/// One streamed piece of a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenEvent {
    pub token_id: u32,
    /// Text that became complete with this token (may be empty mid-character or while a
    /// possible stop sequence is held back).
    pub text: String,
    /// The token's log-probability, when asked for; `None` on the last event that only
    /// flushes held-back text.
    pub logprob: Option<TokenLogprob>,
}

/// Engine-wide notifications for observers (a UI status bar, logs).
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    ModelLoaded {
        model_id: String,
        load_ms: u64,
    },
    TokenGenerated {
        token_id: u32,
        text: String,
    },
    GenerationComplete {
        text: String,
        stats: GenerationStats,
    },
    Error {
        message: String,
    },
}
