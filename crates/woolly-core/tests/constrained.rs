//! Constrained decoding, log-probabilities and embeddings on the test model, each against a
//! reference worked out here: the vocabulary scanned by hand, a plain softmax, a plain mean.

mod common;

use woolly_core::engine::*;
use woolly_core::grammar::Constraint;
use woolly_core::sampling::SamplingParams;

fn engine() -> Engine {
    Engine::load(
        common::test_model(),
        EngineConfig::builder()
            .context_length(512)
            .threads(2)
            .build(),
    )
    .unwrap()
}

/// Token ids whose bytes are a non-empty prefix of one of `words`: what a grammar of those
/// literal words must allow first. Found by scanning the whole vocabulary.
fn prefixes_of(e: &Engine, words: &[&str]) -> Vec<u32> {
    let t = e.tokenizer();
    (0..t.vocab_size() as u32)
        .filter(|&id| {
            let b = t.token_bytes(id);
            !b.is_empty()
                && !t.is_eog(id)
                && t.token_type(id) != Some(woolly_core::tokenizer::TokenType::Control)
                && words.iter().any(|w| w.as_bytes().starts_with(b))
        })
        .collect()
}

#[test]
fn a_grammar_allows_exactly_the_tokens_that_spell_its_words() {
    let e = engine();
    let grammar = e
        .grammar(&Constraint::Lark(
            r#"start: "yes" | "no" | "nope" | "maybe""#.into(),
        ))
        .unwrap();
    let mut guide = grammar.guide();
    let expected = prefixes_of(&e, &["yes", "no", "nope", "maybe"]);
    assert!(
        expected.len() >= 5,
        "the vocabulary spells these words: {expected:?}"
    );
    let vocab = e.tokenizer().vocab_size();
    let mut logits = vec![0.0f32; vocab];
    assert!(guide.mask(&mut logits).unwrap());
    let allowed: Vec<u32> = (0..vocab as u32)
        .filter(|&i| logits[i as usize] > f32::NEG_INFINITY)
        .collect();
    assert_eq!(allowed, expected);
    for id in 0..vocab as u32 {
        assert_eq!(guide.allows(id), expected.contains(&id), "token {id}");
    }
    // Nothing ends the reply before a word is complete. After "no" the reply may end or go on
    // to "nope"; after "nope" it is finished.
    let t = e.tokenizer();
    let eos = t.eog_ids()[0];
    assert!(!guide.allows(eos));
    guide
        .accept(t.token_id("no").expect("`no` is one token"))
        .unwrap();
    assert!(guide.allows(eos) && !guide.is_finished());
    assert!(!guide.allows(t.token_id("no").unwrap()));
    let pe = (0..t.vocab_size() as u32).find(|&id| t.token_bytes(id) == b"pe");
    if let Some(pe) = pe {
        assert!(guide.allows(pe));
        guide.accept(pe).unwrap();
        assert!(guide.is_finished());
    }
}

#[test]
fn schema_constrained_replies_parse_and_keep_to_the_schema() {
    let e = engine();
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "colour": {"enum": ["red", "green", "blue"]},
            "count": {"type": "integer", "minimum": 1, "maximum": 9},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 2},
        },
        "required": ["colour", "count", "tags"],
        "additionalProperties": false,
    });
    let grammar = e.grammar(&Constraint::JsonSchema(schema)).unwrap();
    let prompt = "<|im_start|>user\nDescribe a box.<|im_end|>\n<|im_start|>assistant\n";
    for seed in 0..8 {
        let mut r = GenerateRequest::new(Prompt::Text(prompt.into()));
        r.sampling = SamplingParams {
            temperature: 1.0,
            seed: Some(seed),
            ..SamplingParams::default()
        };
        r.max_tokens = 200;
        r.grammar = Some(grammar.clone());
        let out = e.generate(&r, |_| {}).unwrap();
        assert_eq!(
            out.stats.stop_reason,
            StopReason::Eos,
            "seed {seed}: {}",
            out.text
        );
        let v: serde_json::Value = serde_json::from_str(&out.text)
            .unwrap_or_else(|err| panic!("seed {seed}: {err}: {}", out.text));
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 3, "seed {seed}: {v}");
        assert!(["red", "green", "blue"].contains(&obj["colour"].as_str().unwrap()));
        assert!(
            (1..=9).contains(&obj["count"].as_i64().unwrap()),
            "seed {seed}: {v}"
        );
        let tags = obj["tags"].as_array().unwrap();
        assert!(
            tags.len() <= 2
                && tags
                    .iter()
                    .all(|t| t.as_str().unwrap().chars().count() <= 12)
        );
    }
}

#[test]
fn invalid_schemas_are_errors_that_name_the_problem() {
    let e = engine();
    let err = e
        .grammar(&Constraint::JsonSchema(
            serde_json::json!({"type": "object", "if": {}}),
        ))
        .unwrap_err();
    assert!(matches!(err, EngineError::Grammar(_)), "{err}");
    assert!(err.to_string().contains("if"), "{err}");
    let err = e
        .grammar(&Constraint::JsonSchema(serde_json::json!(5)))
        .unwrap_err();
    assert!(err.to_string().contains("object"), "{err}");
    let err = e.grammar(&Constraint::Lark("start: (".into())).unwrap_err();
    assert!(matches!(err, EngineError::Grammar(_)), "{err}");
}

#[test]
fn logprobs_are_the_softmax_of_the_raw_logits() {
    let e = engine();
    let mut r = GenerateRequest::new(Prompt::Text("The capital of France is".into()));
    r.sampling = SamplingParams::greedy();
    r.max_tokens = 1;
    r.logprobs = Some(5);
    r.top_logits = 5;
    let out = e.generate(&r, |_| {}).unwrap();
    // The first token's raw logits come back in `first_top_logits`: a plain f64 softmax of
    // those five against the reported log-probabilities, up to the (shared) normalizer.
    let lp = &out.logprobs[0];
    assert_eq!(lp.token_id, out.tokens[0]);
    assert_eq!(
        lp.top[0].0, out.tokens[0],
        "greedy takes the most likely token"
    );
    assert_eq!(lp.top[0].1, lp.logprob);
    for ((id, logprob), (raw_id, logit)) in lp.top.iter().zip(&out.first_top_logits) {
        assert_eq!(id, raw_id);
        let gap = f64::from(*logprob - lp.top[0].1);
        let raw_gap = f64::from(logit - out.first_top_logits[0].1);
        assert!((gap - raw_gap).abs() < 1e-4, "{gap} vs {raw_gap}");
    }
    let mass: f64 = lp.top.iter().map(|(_, l)| f64::from(*l).exp()).sum();
    assert!(mass <= 1.0 + 1e-5 && lp.logprob < 0.0, "{mass}");
}

#[test]
fn embeddings_follow_llama_cpp_mean_pooling() {
    // tests/refdata/smollm2-embeddings.json: llama.cpp's output-normed hidden states of short
    // sentences, mean-pooled and last-token (see tests/refdata/README.md).
    let e = engine();
    let data: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::refdata("smollm2-embeddings.json")).unwrap())
            .unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let cosine = |a: &[f32], b: &[f32]| {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (n(a) * n(b))
    };
    for case in data["cases"].as_array().unwrap() {
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(e.embedding_tokens(case["text"].as_str().unwrap()), ids);
        let ours = e.embed(&ids).unwrap();
        let norm: f32 = ours.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        let (mean, last) = (floats(&case["mean"]), floats(&case["last"]));
        let (to_mean, to_last) = (cosine(&ours, &mean), cosine(&ours, &last));
        assert!(
            to_mean >= 0.99,
            "{}: cosine {to_mean} to llama.cpp's mean",
            case["name"]
        );
        assert!(
            to_mean > to_last,
            "{}: mean pooling, not the last token",
            case["name"]
        );
    }
}

#[test]
fn embedding_between_turns_keeps_the_next_reply_right() {
    // An embedding overwrites the KV cache from position 0; the next reply reuses only the
    // prefix it shares with the embedded text and recomputes the rest.
    let e = engine();
    let mut r = GenerateRequest::new(Prompt::Text("The capital of France is".into()));
    r.sampling = SamplingParams::greedy();
    r.max_tokens = 8;
    let before = e.generate(&r, |_| {}).unwrap();
    e.embed(&e.embedding_tokens("The capital of Italy is Rome, and"))
        .unwrap();
    let after = e.generate(&r, |_| {}).unwrap();
    assert_eq!(after.tokens, before.tokens);
    assert!(after.stats.cached_tokens < before.prompt_tokens.len());
}
