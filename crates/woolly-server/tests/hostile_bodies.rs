//! Arbitrary JSON bodies against every POST route of the real server: whatever the fields
//! hold (wrong types, huge or negative numbers, deep nesting, odd Unicode, bad schemas and
//! tools), the answer is a success or a 4xx in OpenAI's error shape — never a 5xx, never a
//! dropped connection, and the server keeps serving.

mod common;

use common::*;
use serde_json::{json, Map, Value};
use woolly_server::ServerConfig;

/// SplitMix64: a seeded stream, so a failing case can be replayed from its number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const FIELDS: &[&str] = &[
    "messages",
    "prompt",
    "input",
    "model",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stop",
    "n",
    "stream",
    "stream_options",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "response_format",
    "echo",
    "suffix",
    "best_of",
    "presence_penalty",
    "frequency_penalty",
    "repeat_penalty",
    "ignore_eos",
    "encoding_format",
    "dimensions",
    "role",
    "content",
    "type",
    "function",
    "name",
    "parameters",
    "json_schema",
    "schema",
    "properties",
    "items",
    "$ref",
    "anyOf",
    "enum",
    "tool_calls",
    "tool_call_id",
    "arguments",
];

const STRINGS: &[&str] = &[
    "",
    "user",
    "assistant",
    "system",
    "tool",
    "developer",
    "auto",
    "none",
    "required",
    "function",
    "json_object",
    "json_schema",
    "text",
    "object",
    "string",
    "integer",
    "array",
    "float",
    "base64",
    "#/$defs/x",
    "#/nope",
    "<|im_end|>",
    "<tool_call>",
    "\u{0}",
    "é\u{301}",
    "🦙",
    "\u{202e}rtl",
    "[TOOL_CALLS]",
    "(a",
    "{\"name\":",
];

/// A random JSON value, `depth` levels at most, biased toward the API's own names and types.
fn value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth == 0 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 1),
        2 => json!(*rng.pick(&[0i64, 1, 2, -1, 5, 20, 21, 100, -100_000, i64::MAX, i64::MIN])),
        3 => json!(*rng.pick(&[0.0f64, 0.5, 1.0, 2.5, -0.1, 1e30, -1e-30, 3.7])),
        4 => json!(*rng.pick(STRINGS)),
        5 => json!("x".repeat(rng.below(300) as usize)),
        6 | 7 => {
            let n = rng.below(4);
            Value::Array((0..n).map(|_| value(rng, depth - 1)).collect())
        }
        _ => object(rng, depth - 1),
    }
}

fn object(rng: &mut Rng, depth: u32) -> Value {
    let mut map = Map::new();
    for _ in 0..rng.below(5) {
        map.insert(rng.pick(FIELDS).to_string(), value(rng, depth));
    }
    Value::Object(map)
}

/// A body near a valid request: a plausible core, then fields overwritten at random.
fn body(rng: &mut Rng, route: &str) -> Value {
    let mut b = match route {
        "/v1/chat/completions" => {
            json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2})
        }
        "/v1/completions" => json!({"prompt": "Hi", "max_tokens": 2}),
        _ => json!({"input": "Hi"}),
    };
    for _ in 0..1 + rng.below(4) {
        let field = rng.pick(FIELDS).to_string();
        let v = match rng.below(3) {
            0 => object(rng, 3),
            _ => value(rng, 3),
        };
        b[field] = v;
    }
    // Keep replies short whatever the fuzz did to the limits.
    if b.get("max_tokens")
        .and_then(Value::as_i64)
        .is_some_and(|n| n > 8)
    {
        b["max_tokens"] = json!(2);
    }
    if b.get("max_completion_tokens")
        .and_then(Value::as_i64)
        .is_some_and(|n| n > 8)
    {
        b["max_completion_tokens"] = json!(2);
    }
    if b.get("max_tokens").is_none()
        && b.get("max_completion_tokens").is_none()
        && route != "/v1/embeddings"
    {
        b["max_tokens"] = json!(2);
    }
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arbitrary_bodies_get_answers_not_server_errors() {
    let server = start(shared_engine(), ServerConfig::default()).await;
    install_tls_provider();
    let client = reqwest::Client::new();
    let routes = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"];
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    const CASES: u64 = 300;
    for case in 0..CASES {
        let mut rng = Rng(case);
        let route = *rng.pick(&routes);
        let b = body(&mut rng, route);
        let r = client
            .post(url(&server, route))
            .json(&b)
            .send()
            .await
            .unwrap_or_else(|e| panic!("case {case} ({route} {b}): no answer: {e}"));
        let status = r.status().as_u16();
        let streamed = r
            .headers()
            .get("content-type")
            .is_some_and(|c| c.to_str().unwrap_or("").starts_with("text/event-stream"));
        let text = r
            .text()
            .await
            .unwrap_or_else(|e| panic!("case {case}: body cut: {e}"));
        *statuses.entry(status).or_default() += 1;
        assert!(status < 500, "case {case} ({route} {b}): {status} {text}");
        if streamed {
            assert!(
                text.contains("data: [DONE]"),
                "case {case}: stream without its end: {text}"
            );
            assert!(!text.contains("\"server_error\""), "case {case}: {text}");
        } else {
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("case {case}: not JSON ({e}): {text}"));
            if status >= 400 {
                assert!(
                    v["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()),
                    "case {case}: {v}"
                );
            }
        }
    }
    // The fuzz reached past validation too: some bodies were answered.
    assert!(
        statuses.get(&200).copied().unwrap_or(0) >= 20,
        "{statuses:?}"
    );
    assert!(
        statuses.get(&400).copied().unwrap_or(0) >= 50,
        "{statuses:?}"
    );
    let health = client.get(url(&server, "/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    eprintln!("{CASES} bodies: {statuses:?}");
}
