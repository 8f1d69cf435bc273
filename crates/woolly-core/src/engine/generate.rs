//! One generation: prefill what the cache does not hold, then decode token by token.

use super::{
    Engine, EngineError, EngineEvent, GenerateRequest, Generation, GenerationStats, Session,
    StopReason, TokenEvent,
};
use crate::sampling::{top_logits, Sampler, StopMatcher, StopStatus};
use crate::tokenizer::StreamDecoder;
use std::time::Instant;

pub(super) fn run(
    engine: &Engine,
    session: &mut Session,
    request: &GenerateRequest,
    mut on_token: impl FnMut(&TokenEvent),
) -> Result<Generation, EngineError> {
    let start = Instant::now();
    let prompt = engine.prompt_tokens(&request.prompt)?;
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

    let mut sampler = Sampler::new(request.sampling.clone());
    let mut decoder = StreamDecoder::new(&engine.tokenizer);
    let mut stops = StopMatcher::new(request.stop.iter().cloned());
    let mut history = prompt.clone();
    let mut tokens = Vec::new();
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
        let token = sampler.sample(&mut session.logits, &history);
        first_token_at.get_or_insert_with(|| start.elapsed());
        if !request.ignore_eos && engine.tokenizer.is_eog(token) {
            break StopReason::Eos;
        }
        tokens.push(token);
        history.push(token);
        let piece = decoder.push(token);
        let (piece, stopped) = match stops.push(&piece) {
            StopStatus::Continue(p) => (p, false),
            StopStatus::Stop(p) => (p, true),
        };
        text.push_str(&piece);
        let event = TokenEvent {
            token_id: token,
            text: piece,
        };
        on_token(&event);
        engine.emit(EngineEvent::TokenGenerated {
            token_id: token,
            text: event.text,
        });
        if stopped {
            break StopReason::Stop;
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
        stats,
    })
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
