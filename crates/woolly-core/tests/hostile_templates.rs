//! Chat templates come inside downloaded model files: a hostile one (endless loops, deep
//! recursion, huge output) must fail with an error in bounded time, never hang or exhaust
//! memory, while a real template still renders long conversations.

mod common;

use std::time::{Duration, Instant};
use woolly_core::chat::{ChatError, ChatMessage, ChatTemplate};
use woolly_core::gguf::GgufFile;

/// Renders `source` over a short chat: the result and how long it took.
fn render(source: &str) -> (Result<String, ChatError>, Duration) {
    let t = ChatTemplate::new(source, "<s>", "</s>").unwrap();
    let started = Instant::now();
    let out = t.render(&[ChatMessage::user("hi")], true);
    (out, started.elapsed())
}

#[test]
fn hostile_templates_fail_fast() {
    let cases = [
        // 10^10 iterations.
        (
            "nested loops",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        ),
        // A macro calling itself forever.
        (
            "recursion",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        ),
        // 10 GB of output, 10 MB at a time.
        (
            "huge output",
            "{% for i in range(1000) %}{{ 'x' * 10000000 }}{% endfor %}",
        ),
        // One string beyond minijinja's own limit.
        ("huge string", "{{ 'x' * 1000000000 }}"),
        // A loop over the messages that never ends: the loop recurses into itself.
        (
            "recursive loop",
            "{% for m in messages recursive %}{{ loop([m, m]) }}{% endfor %}",
        ),
    ];
    for (what, source) in cases {
        let (out, took) = render(source);
        let err = out.expect_err(what);
        eprintln!("{what}: refused in {took:?}: {err}");
        assert!(
            took < Duration::from_secs(5),
            "{what} took {took:?} to fail"
        );
    }
}

/// The test model's template over 2000 turns (about 100 KB of prompt) stays far inside
/// the budget that stops the loops above.
#[test]
fn long_real_conversations_still_render() {
    let t = ChatTemplate::from_gguf(&GgufFile::open(common::test_model()).unwrap()).unwrap();
    let chat: Vec<ChatMessage> = (0..2000)
        .map(|i| match i % 2 {
            0 => ChatMessage::user(format!("question {i} about the weather")),
            _ => ChatMessage::assistant(format!("answer {i}: it is sunny")),
        })
        .collect();
    let out = t.render(&chat, true).unwrap();
    assert!(out.contains("question 1998 about the weather") && out.len() > 50_000);
}
