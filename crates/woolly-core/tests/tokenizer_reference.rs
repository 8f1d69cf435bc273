//! Token ids must match llama.cpp's exactly for SmolLM2 (byte-level BPE, `smollm` pre-tokenizer).
//! Reference: `tests/refdata/smollm2-tokenize.json`, produced with `llama-tokenize`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;

use woolly_core::gguf::GgufFile;
use woolly_core::tokenizer::{StreamDecoder, Tokenizer};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/SmolLM2-135M-Instruct.Q4_1.gguf"
);
const REFDATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/refdata/smollm2-tokenize.json"
);

struct Case {
    text: String,
    ids: Vec<u32>,
    ids_no_parse_special: Vec<u32>,
}

/// Loaded once and shared by the tests of this file.
fn shared() -> &'static Arc<Tokenizer> {
    static TOKENIZER: OnceLock<Arc<Tokenizer>> = OnceLock::new();
    TOKENIZER.get_or_init(|| Arc::new(load()))
}

fn tokenizer() -> Arc<Tokenizer> {
    Arc::clone(shared())
}

fn load() -> Tokenizer {
    assert!(
        Path::new(MODEL).exists(),
        "test model missing at {MODEL}: run `scripts/fetch-test-model.sh` to download it"
    );
    let file = GgufFile::open(MODEL).expect("open the test model");
    Tokenizer::from_gguf(&file).expect("build the tokenizer")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(REFDATA).unwrap_or_else(|e| panic!("read {REFDATA}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).expect("reference JSON");
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .expect("id array")
            .iter()
            .map(|x| x.as_u64().expect("id") as u32)
            .collect()
    };
    json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            text: c["text"].as_str().expect("text").to_owned(),
            ids: ids(&c["ids"]),
            ids_no_parse_special: ids(&c["ids_no_parse_special"]),
        })
        .collect()
}

#[test]
fn matches_llama_cpp_on_all_reference_cases() {
    let tok = tokenizer();
    let cases = cases();
    assert_eq!(cases.len(), 30);
    let mut failures = Vec::new();
    for case in &cases {
        let got = tok.encode(&case.text, true, true);
        if got != case.ids {
            failures.push(format!(
                "parse_special {:?}\n  want {:?}\n  got  {:?}",
                case.text, case.ids, got
            ));
        }
        let got = tok.encode(&case.text, true, false);
        if got != case.ids_no_parse_special {
            failures.push(format!(
                "no parse_special {:?}\n  want {:?}\n  got  {:?}",
                case.text, case.ids_no_parse_special, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks differ:\n{}",
        failures.len(),
        2 * cases.len(),
        failures.join("\n")
    );
}

/// Every ASCII byte alone, between letters and doubled before a word: the test model's
/// vocabulary has no token for a few control bytes (0x1D among them), and llama.cpp drops
/// them; Woolly must give the same ids (`bench/control_bytes_refdata.mjs`).
#[test]
fn control_bytes_match_llama_cpp() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/refdata/smollm2-control-bytes.json"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read control-bytes refdata"))
            .expect("reference JSON");
    let tok = tokenizer();
    let cases = json["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 3 * 128);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let text = c["text"].as_str().expect("text");
            let want: Vec<u32> = serde_json::from_value(c["ids"].clone()).expect("ids");
            let got = tok.encode(text, false, false);
            (got != want).then(|| format!("{text:?}: want {want:?}, got {got:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The reference does drop some bytes (else this test would not cover the case).
    assert!(!json["meta"]["dropped_bytes"]
        .as_array()
        .expect("dropped")
        .is_empty());
}

#[test]
fn metadata_is_read() {
    let tok = tokenizer();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.model_name(), "gpt2");
    assert_eq!(tok.bos(), Some(1));
    assert_eq!(tok.eos(), Some(2));
    assert!(
        !tok.add_bos(),
        "SmolLM2 metadata says add_bos_token = false"
    );
    assert_eq!(tok.token_id("<|im_end|>"), Some(2));
    assert_eq!(tok.token_text(19556), Some("Hello"));
    assert!(
        tok.is_eog(2) && tok.is_eog(0),
        "<|im_end|> and <|endoftext|> end generation"
    );
    assert!(!tok.is_eog(1) && !tok.is_eog(19556));
    assert_eq!(tok.token_bytes(905), b" world");
    assert_eq!(tok.token_bytes(u32::MAX), b"");
}

#[test]
fn decode_round_trips() {
    let tok = tokenizer();
    for case in cases() {
        let text = &case.text;
        // Without parse_special every case is plain text, so decoding gives it back.
        assert_eq!(&tok.decode(&case.ids_no_parse_special), text);
        if !text.contains("<|") {
            assert_eq!(&tok.decode(&case.ids), text);
        } else {
            // Special tokens are hidden by default and shown on request.
            assert_eq!(&tok.decode_with(&case.ids, true), text);
            let hidden: String = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
                .iter()
                .fold(text.clone(), |s, special| s.replace(special, ""));
            assert_eq!(tok.decode(&case.ids), hidden);
        }
    }
}

#[test]
fn stream_decoder_never_splits_characters() {
    let tok = tokenizer();
    let texts = [
        "emoji: 😀🎉👍🏽 🇺🇸 👨\u{200d}👩\u{200d}👧\u{200d}👦",
        "你好，世界！今天天气很好。",
        "こんにちは世界 Привет",
    ];
    for text in texts {
        let ids = tok.encode(text, false, true);
        // The byte-level vocabulary really does split these characters across tokens.
        assert!(
            ids.iter()
                .any(|&id| std::str::from_utf8(tok.token_bytes(id)).is_err()),
            "{text}"
        );

        let mut stream = StreamDecoder::new(Arc::clone(&tok));
        let mut joined = String::new();
        for &id in &ids {
            // Each chunk is a String, so it is valid UTF-8 by construction; check that no
            // replacement char sneaks in for a split character.
            let chunk = stream.push(id);
            assert!(!chunk.contains('\u{FFFD}'), "{text}: chunk {chunk:?}");
            joined.push_str(&chunk);
        }
        assert!(!stream.has_pending());
        joined.push_str(&stream.flush());
        assert_eq!(joined, tok.decode(&ids));
        assert_eq!(joined, text);
    }

    // A truncated character is held back, then flushed as one replacement char.
    let ids = tok.encode("😀", false, false);
    assert!(ids.len() > 1);
    let mut stream = tok.stream_decoder();
    assert_eq!(stream.push(ids[0]), "");
    assert_eq!(stream.flush(), "\u{FFFD}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Byte-level BPE is lossless: any text (controls, odd scripts, special-looking text)
    /// comes back from decode, and nothing panics. SmolLM2's vocabulary has no token for 21
    /// bytes (e.g. 0x04, 0xF1: planes 4-7); llama.cpp drops those, so they are left out here.
    #[test]
    fn any_text_round_trips(text in "\\PC*|[<|>a-z_ \\n]*|.*") {
        let tok = shared();
        let text: String = text.chars().filter(|c| encodable(tok, *c)).collect();
        let ids = tok.encode(&text, true, false);
        prop_assert_eq!(tok.decode(&ids), text.clone());
        let ids = tok.encode(&text, true, true);
        prop_assert_eq!(tok.decode_with(&ids, true), text);
    }

    #[test]
    fn any_ids_decode_without_panic(ids in proptest::collection::vec(any::<u32>(), 0..64)) {
        let tok = shared();
        let text = tok.decode(&ids);
        let mut stream = tok.stream_decoder();
        let streamed: String = ids.iter().map(|&id| stream.push(id)).collect::<String>() + &stream.flush();
        prop_assert_eq!(streamed, text);
    }
}

/// Whether every UTF-8 byte of `c` has a single-byte token.
fn encodable(tok: &Tokenizer, c: char) -> bool {
    static BYTES: OnceLock<[bool; 256]> = OnceLock::new();
    let bytes = BYTES.get_or_init(|| {
        let mut has = [false; 256];
        for id in 0..tok.vocab_size() as u32 {
            if let [b] = tok.token_bytes(id) {
                has[*b as usize] = true;
            }
        }
        has
    });
    c.encode_utf8(&mut [0; 4])
        .bytes()
        .all(|b| bytes[b as usize])
}
