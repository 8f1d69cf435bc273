//! The engine's public API on the test model: streaming, cancellation, stop sequences,
//! context limits, memory budget, events, and the KV-cache reuse between chat turns.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};
use woolly_core::chat::ChatMessage;
use woolly_core::engine::*;
use woolly_core::sampling::SamplingParams;

fn engine(ctx: usize) -> Engine {
    Engine::load(
        common::test_model(),
        EngineConfig::builder()
            .context_length(ctx)
            .threads(2)
            .build(),
    )
    .unwrap()
}

fn greedy(prompt: Prompt, max_tokens: usize) -> GenerateRequest {
    let mut r = GenerateRequest::new(prompt);
    r.sampling = SamplingParams::greedy();
    r.max_tokens = max_tokens;
    r
}

#[test]
fn streams_tokens_and_reports_stats() {
    let e = engine(256);
    let events = e.subscribe();
    let mut streamed = String::new();
    let mut count = 0;
    let out = e
        .generate(
            &greedy(Prompt::Text("The capital of France is".into()), 12),
            |t| {
                streamed.push_str(&t.text);
                count += 1;
            },
        )
        .unwrap();
    assert_eq!(streamed, out.text);
    assert_eq!(count, out.tokens.len());
    assert!(out.text.contains("Paris"), "{:?}", out.text);
    let s = &out.stats;
    assert_eq!(
        (s.prompt_tokens, s.generated_tokens, s.stop_reason),
        (5, 12, StopReason::Length)
    );
    assert!(s.prefill_tok_s > 0.0 && s.decode_tok_s > 0.0 && s.time_to_first_token_ms > 0.0);
    assert!(matches!(
        events.recv().unwrap(),
        EngineEvent::ModelLoaded { .. }
    ));
    let mut tokens = 0;
    loop {
        match events.try_recv() {
            Ok(EngineEvent::TokenGenerated { .. }) => tokens += 1,
            Ok(EngineEvent::GenerationComplete { text, .. }) => {
                assert_eq!(text, out.text);
                break;
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(tokens, 12);
    assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)));
}

#[test]
fn chat_stops_at_end_of_turn_and_reuses_the_cache() {
    let e = engine(512);
    let mut messages = vec![ChatMessage::user("What is 2+2?")];
    let first = e
        .generate(&greedy(Prompt::Chat(messages.clone()), 64), |_| {})
        .unwrap();
    assert_eq!(first.stats.stop_reason, StopReason::Eos, "{:?}", first.text);
    assert!(!first.text.contains("<|im_end|>"));
    messages.push(ChatMessage::assistant(first.text.clone()));
    messages.push(ChatMessage::user("And of Germany?"));
    let second = e
        .generate(&greedy(Prompt::Chat(messages), 32), |_| {})
        .unwrap();
    // The whole first turn was already in the KV cache.
    assert!(
        second.stats.cached_tokens >= first.prompt_tokens.len(),
        "{:?}",
        second.stats
    );
}

#[test]
fn cancel_from_another_thread_stops_within_a_token() {
    let e = engine(512);
    let mut request = greedy(Prompt::Text("Once upon a time".into()), 400);
    request.ignore_eos = true;
    let cancel = request.cancel.clone();
    let streamed = AtomicUsize::new(0);
    let mut at_cancel = 0;
    let out = std::thread::scope(|s| {
        let canceller = s.spawn(|| {
            // Cancel mid-stream, from another thread, once a few tokens are out.
            while streamed.load(Ordering::SeqCst) < 3 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let n = streamed.load(Ordering::SeqCst);
            cancel.cancel();
            n
        });
        let out = e
            .generate(&request, |_| {
                streamed.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        at_cancel = canceller.join().unwrap();
        out
    });
    assert_eq!(out.stats.stop_reason, StopReason::Cancelled);
    // At most the token in flight when the flag flipped is still delivered.
    assert!(
        out.tokens.len() <= at_cancel + 1,
        "{} tokens, cancelled after {at_cancel}",
        out.tokens.len()
    );
}

#[test]
fn stop_sequences_end_the_reply_without_the_stop_text() {
    let e = engine(256);
    let mut r = greedy(Prompt::Text("The capital of France is".into()), 40);
    r.stop = vec!["\n\n".into()];
    let out = e.generate(&r, |_| {}).unwrap();
    assert_eq!(out.stats.stop_reason, StopReason::Stop);
    assert_eq!(out.text, " Paris.");
}

#[test]
fn full_context_stops_with_length() {
    let e = engine(32);
    let mut r = greedy(Prompt::Text("The capital of France is".into()), 1000);
    r.ignore_eos = true;
    let out = e.generate(&r, |_| {}).unwrap();
    assert_eq!(out.stats.stop_reason, StopReason::Length);
    assert_eq!(out.prompt_tokens.len() + out.tokens.len(), 32);
    // A prompt longer than the context is an error, not a crash.
    let long = Prompt::Tokens(vec![504; 40]);
    assert!(matches!(
        e.generate(&greedy(long, 4), |_| {}),
        Err(EngineError::PromptTooLong {
            prompt_tokens: 40,
            context_length: 32
        })
    ));
    assert!(matches!(
        e.generate(&greedy(Prompt::Text(String::new()), 4), |_| {}),
        Err(EngineError::EmptyPrompt)
    ));
    assert!(matches!(
        e.generate(&greedy(Prompt::Tokens(vec![999_999]), 4), |_| {}),
        Err(EngineError::Model(_))
    ));
}

#[test]
fn memory_budget_is_checked_before_loading() {
    let start = Instant::now();
    let config = EngineConfig::builder()
        .max_memory(50 << 20)
        .context_length(512)
        .build();
    match Engine::load(common::test_model(), config) {
        Err(EngineError::InsufficientMemory { needed, available }) => {
            assert_eq!(available, 50 << 20);
            assert!(needed > 90 << 20, "needs at least the weights: {needed}");
            let msg = EngineError::InsufficientMemory { needed, available }.to_string();
            assert!(msg.contains("MiB"), "{msg}");
        }
        other => panic!("expected InsufficientMemory, got {:?}", other.err()),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
}
