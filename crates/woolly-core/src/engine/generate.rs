//! One generation: prefill what the cache does not hold, then decode token by token.

use super::TokenLogprob;
use super::{
    Engine, EngineError, EngineEvent, GenerateRequest, Generation, GenerationStats, Session,
    StopReason, TokenEvent,
};
use crate::sampling::{top_k_into, top_logits, LogSoftmax, Sampler, StopMatcher, StopStatus};
use crate::tokenizer::StreamDecoder;
use std::time::Instant;

pub(super) fn run(
    engine: &Engine,
    session: &mut Session,
    request: &GenerateRequest,
    mut on_token: impl FnMut(&TokenEvent),
) -> Result<Generation, EngineError> {
    let start = Instant::now();
    let prompt = engine.prompt_tokens_with_tools(&request.prompt, &request.tools)?;
    if prompt.is_empty() {
        return Err(EngineError::EmptyPrompt);
    }
    let ctx = session.model.context_length();
    if prompt.len() >= ctx {
        return Err(EngineError::PromptTooLong {
            prompt_tokens: prompt.len(),
            context_length: ctx,
        });
    }

    // Reuse the KV cache for the part of the prompt the previous turn already computed;
    // at least the last prompt token is recomputed to get fresh logits.
    let reuse = common_prefix(&session.cached, &prompt).min(prompt.len() - 1);
    session.cached.truncate(reuse);
    session
        .model
        .forward(&prompt[reuse..], reuse, &mut session.logits)?;
    session.cached.extend_from_slice(&prompt[reuse..]);
    let prefill_s = start.elapsed().as_secs_f64();
    let first_top_logits = top_logits(&session.logits, request.top_logits);
    super::fault::panic_if_marked(&engine.tokenizer, &prompt);

    let mut sampler = Sampler::new(request.sampling.clone());
    let mut guide = request.grammar.as_ref().map(|g| g.guide());
    let mut decoder = StreamDecoder::new(&engine.tokenizer);
    let mut stops = StopMatcher::new(request.stop.iter().cloned());
    let mut scorer = request
        .logprobs
        .map(|n| Scorer::new(session.logits.len(), n.min(MAX_TOP_LOGPROBS)));
    let mut history = prompt.clone();
    let mut tokens = Vec::new();
    let mut logprobs = Vec::new();
    let mut text = String::new();
    let mut first_token_at = None;
    let decode_start = Instant::now();
    let reason = loop {
        if request.cancel.is_cancelled() {
            break StopReason::Cancelled;
        }
        if tokens.len() >= request.max_tokens {
            break StopReason::Length;
        }
        if let Some(s) = &mut scorer {
            s.keep(&session.logits);
        }
        let token = match &mut guide {
            Some(guide) => sampler.sample_guided(&mut session.logits, &history, guide)?,
            None => sampler.sample(&mut session.logits, &history),
        };
        first_token_at.get_or_insert_with(|| start.elapsed());
        if !request.ignore_eos && engine.tokenizer.is_eog(token) {
            break StopReason::Eos;
        }
        if let Some(guide) = &mut guide {
            guide.accept(token)?;
        }
        tokens.push(token);
        history.push(token);
        let logprob = scorer.as_mut().map(|s| s.score(token));
        if let Some(l) = &logprob {
            logprobs.push(l.clone());
        }
        let piece = decoder.push(token);
        let (piece, stopped) = match stops.push(&piece) {
            StopStatus::Continue(p) => (p, false),
            StopStatus::Stop(p) => (p, true),
        };
        text.push_str(&piece);
        let event = TokenEvent {
            token_id: token,
            text: piece,
            logprob,
        };
        on_token(&event);
        engine.emit(EngineEvent::TokenGenerated {
            token_id: token,
            text: event.text,
        });
        if stopped {
            break StopReason::Stop;
        }
        // A finished grammar admits nothing more: the reply is complete.
        if guide.as_ref().is_some_and(|g| g.is_finished()) {
            break StopReason::Eos;
        }
        // Context full: stop with `length` rather than overflow the cache.
        if session.cached.len() + 1 >= ctx || tokens.len() >= request.max_tokens {
            break StopReason::Length;
        }
        session
            .model
            .forward(&[token], session.cached.len(), &mut session.logits)?;
        session.cached.push(token);
    };
    if reason != StopReason::Stop {
        let tail = decoder.flush() + &stops.flush();
        if !tail.is_empty() {
            text.push_str(&tail);
            on_token(&TokenEvent {
                token_id: *tokens.last().unwrap_or(&0),
                text: tail,
                logprob: None,
            });
        }
    }
    let decode_s = decode_start.elapsed().as_secs_f64();
    let computed = prompt.len() - reuse;
    let stats = GenerationStats {
        prompt_tokens: prompt.len(),
        cached_tokens: reuse,
        generated_tokens: tokens.len(),
        prefill_tok_s: computed as f64 / prefill_s.max(1e-9),
        // The first token's logits came from prefill; decode made the rest.
        decode_tok_s: tokens.len().saturating_sub(1) as f64 / decode_s.max(1e-9),
        time_to_first_token_ms: first_token_at.unwrap_or(start.elapsed()).as_secs_f64() * 1e3,
        total_ms: start.elapsed().as_secs_f64() * 1e3,
        stop_reason: reason,
    };
    Ok(Generation {
        prompt_tokens: prompt,
        tokens,
        text,
        first_top_logits,
        logprobs,
        stats,
    })
}

pub(super) fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Most alternatives a token's log-probability comes with (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// Log-probabilities from the raw logits, kept before sampling changes them (penalties,
/// bias, the grammar's mask). Buffers are sized once.
struct Scorer {
    raw: Vec<f32>,
    top: Vec<(u32, f32)>,
    n: usize,
}

impl Scorer {
    fn new(vocab: usize, n: usize) -> Self {
        Self {
            raw: vec![0.0; vocab],
            top: Vec::with_capacity(n + 1),
            n,
        }
    }

    fn keep(&mut self, logits: &[f32]) {
        self.raw.copy_from_slice(logits);
    }

    fn score(&mut self, token: u32) -> TokenLogprob {
        let norm = LogSoftmax::of(&self.raw);
        top_k_into(&self.raw, self.n, &mut self.top);
        TokenLogprob {
            token_id: token,
            logprob: norm.logprob(self.raw[token as usize]),
            top: self
                .top
                .iter()
                .map(|&(id, l)| (id, norm.logprob(l)))
                .collect(),
        }
    }
}
