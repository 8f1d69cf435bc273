//! SentencePiece (`tokenizer.ggml.model = "llama"`) on a small hand-built vocabulary.

use proptest::prelude::*;
use woolly_core::tokenizer::{Tokenizer, Vocab};

/// ids: 0 <unk>, 1 <s>, 2 </s>, 3..=258 <0x00>..<0xFF>, then the pieces below.
fn vocab(add_space_prefix: Option<bool>) -> Vocab {
    let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    let mut scores = vec![0.0, 0.0, 0.0];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
        scores.push(0.0);
    }
    // Higher score = merged first.
    let pieces: &[(&str, f32)] = &[
        ("▁", -1.0),
        ("h", -2.0),
        ("e", -2.0),
        ("l", -2.0),
        ("o", -2.0),
        ("w", -2.0),
        ("r", -2.0),
        ("d", -2.0),
        ("ll", -3.0),
        ("he", -4.0),
        ("hell", -5.0),
        ("hello", -6.0),
        ("▁hello", -7.0),
        ("▁w", -8.0),
        ("or", -9.0),
        ("▁wor", -10.0),
        ("ld", -11.0),
        ("▁world", -12.0),
    ];
    for (p, s) in pieces {
        tokens.push(p.to_string());
        types.push(1);
        scores.push(*s);
    }
    Vocab {
        model: "llama".into(),
        tokens,
        token_types: types,
        scores,
        bos: Some(1),
        eos: Some(2),
        unk: Some(0),
        add_space_prefix,
        ..Vocab::default()
    }
}

fn id(t: &Tokenizer, text: &str) -> u32 {
    t.token_id(text)
        .unwrap_or_else(|| panic!("no token {text:?}"))
}

#[test]
fn merges_follow_scores_and_bos_is_added() {
    let t = Tokenizer::new(vocab(None)).unwrap();
    assert!(t.add_bos(), "SentencePiece adds BOS by default");
    let ids = t.encode("hello world", true, false);
    assert_eq!(ids, [1, id(&t, "▁hello"), id(&t, "▁world")]);
    // Without add_special there is no BOS.
    assert_eq!(t.encode("hello", false, false), [id(&t, "▁hello")]);
}

#[test]
fn merge_order_is_by_score() {
    // "el" (-1.5) beats "ll" (-3.0) in "hell": h e l l -> h el l, and "hel"/"ell" are no
    // tokens, so "hell" never forms.
    let mut v = vocab(Some(false));
    v.tokens.push("el".into());
    v.token_types.push(1);
    v.scores.push(-1.5);
    let t = Tokenizer::new(v).unwrap();
    let ids = t.encode("hell", false, false);
    assert_eq!(ids, [id(&t, "h"), id(&t, "el"), id(&t, "l")]);
}

#[test]
fn space_prefix_follows_metadata() {
    let t = Tokenizer::new(vocab(Some(false))).unwrap();
    assert_eq!(
        t.encode("world", false, false),
        [id(&t, "w"), id(&t, "or"), id(&t, "ld")]
    );
    let t = Tokenizer::new(vocab(Some(true))).unwrap();
    assert_eq!(t.encode("world", false, false), [id(&t, "▁world")]);
}

#[test]
fn unknown_chars_fall_back_to_bytes() {
    let t = Tokenizer::new(vocab(None)).unwrap();
    let ids = t.encode("hello 😀", true, false);
    // U+1F600 is F0 9F 98 80; byte token <0xNN> has id 3 + NN.
    assert_eq!(
        ids,
        [
            1,
            id(&t, "▁hello"),
            id(&t, "▁"),
            3 + 0xF0,
            3 + 0x9F,
            3 + 0x98,
            3 + 0x80
        ]
    );
    assert_eq!(t.decode(&ids), "hello 😀");
    let mut stream = t.stream_decoder();
    let streamed: String =
        ids.iter().map(|&i| stream.push(i)).collect::<String>() + &stream.flush();
    assert_eq!(
        streamed, " hello 😀",
        "streaming keeps the prefix space of generated text"
    );
}

#[test]
fn special_tokens_and_decode() {
    let t = Tokenizer::new(vocab(None)).unwrap();
    // Text after a special token gets a space prefix again, as in llama.cpp.
    let ids = t.encode("hello</s>world", true, true);
    assert_eq!(ids, [1, id(&t, "▁hello"), 2, id(&t, "▁world")]);
    assert_eq!(t.decode(&ids), "hello world");
    assert_eq!(t.decode_with(&ids, true), "<s>hello</s> world");
    // Without parse_special "</s>" is text: '<', '/', 's', '>' have no pieces -> bytes.
    let ids = t.encode("</s>", false, false);
    assert_eq!(
        ids,
        [
            id(&t, "▁"),
            3 + b'<' as u32,
            3 + b'/' as u32,
            3 + b's' as u32,
            3 + b'>' as u32
        ]
    );
    assert_eq!(t.decode(&ids), "</s>");
    assert!(t.is_eog(2) && !t.is_eog(1));
    // Empty text: only BOS.
    assert_eq!(t.encode("", true, true), [1]);
}

#[test]
fn decode_round_trips() {
    let t = Tokenizer::new(vocab(None)).unwrap();
    for text in [
        "hello world",
        "  hello  ",
        "héllo wörld ☃",
        "a\nb\tc",
        "",
        "world hello hello",
    ] {
        let ids = t.encode(text, true, true);
        assert_eq!(t.decode(&ids), text, "{ids:?}");
    }
    // Out-of-range ids decode to nothing.
    assert_eq!(t.decode(&[u32::MAX, 100_000]), "");
}

#[test]
fn no_byte_tokens_means_unk() {
    let mut v = vocab(None);
    // Drop the byte tokens: unknown chars become <unk>.
    v.tokens.drain(3..259);
    v.token_types.drain(3..259);
    v.scores.drain(3..259);
    let t = Tokenizer::new(v).unwrap();
    assert_eq!(
        t.encode("hello ☃", false, false),
        [id(&t, "▁hello"), id(&t, "▁"), 0, 0, 0]
    );
}

proptest! {
    /// Byte fallback makes any text encodable; decode gives it back (except a literal U+2581,
    /// which SentencePiece itself cannot tell from a space).
    #[test]
    fn any_text_round_trips(text in "[^\u{2581}]*") {
        let t = Tokenizer::new(vocab(None)).unwrap();
        let ids = t.encode(&text, true, false);
        prop_assert_eq!(t.decode(&ids), text);
    }
}
