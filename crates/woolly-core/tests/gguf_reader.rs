//! The GGUF reader on the real test model, on files the tests write, and on corrupted
//! copies: every bad input is a typed error, never a panic.

mod common;

use proptest::prelude::*;
use woolly_core::gguf::{GgufErrorKind as E, GgufFile, GgufWriter, Value, ValueType};
use woolly_core::quant::GgmlType;

#[test]
fn reads_the_test_model() {
    let f = GgufFile::open(common::test_model()).unwrap();
    assert_eq!(f.version(), 3);
    assert_eq!(f.arch().unwrap(), "llama");
    assert_eq!(f.hparam_u64("block_count").unwrap(), 30);
    assert_eq!(f.hparam_u64("embedding_length").unwrap(), 576);
    assert_eq!(f.hparam_u64("feed_forward_length").unwrap(), 1536);
    assert_eq!(f.hparam_u64("attention.head_count").unwrap(), 9);
    assert_eq!(f.hparam_u64("attention.head_count_kv").unwrap(), 3);
    assert_eq!(f.hparam_f64_opt("rope.freq_base").unwrap(), Some(100000.0));
    assert_eq!(f.get_array("tokenizer.ggml.tokens").unwrap().len(), 49152);
    assert_eq!(f.get_str("tokenizer.ggml.pre"), Some("smollm"));
    let count = |t| f.tensors().iter().filter(|i| i.ggml_type == t).count();
    assert_eq!(
        (
            count(GgmlType::Q4_1),
            count(GgmlType::Q8_0),
            count(GgmlType::F32)
        ),
        (210, 1, 61)
    );
    let embd = f.tensor("token_embd.weight").unwrap();
    assert_eq!(embd.dims, vec![576, 49152]);
    assert_eq!(f.tensor_data(embd).len() as u64, embd.n_bytes);
    assert!(
        f.tensor("output.weight").is_none(),
        "the test model ties its output head"
    );
    // Reading into memory instead of mapping gives the same result.
    let g = GgufFile::open_with(common::test_model(), false).unwrap();
    assert_eq!(g.tensors(), f.tensors());
    assert_eq!(
        g.tensor_data(g.tensor("blk.7.ffn_up.weight").unwrap()),
        f.tensor_data(f.tensor("blk.7.ffn_up.weight").unwrap())
    );
}

fn small_file() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.meta("general.architecture", Value::String("llama".into()))
        .meta("llama.block_count", Value::U32(2))
        .meta("llama.rope.freq_base", Value::F32(10000.0))
        .meta("u8", Value::U8(7))
        .meta("i8", Value::I8(-7))
        .meta("u16", Value::U16(700))
        .meta("i16", Value::I16(-700))
        .meta("i32", Value::I32(-70000))
        .meta("u64", Value::U64(1 << 40))
        .meta("i64", Value::I64(-(1 << 40)))
        .meta("f64", Value::F64(0.25))
        .meta("bool", Value::Bool(true))
        .meta("tokens", Value::strings(["a", "b", "ü"]))
        .meta("empty", Value::Array(ValueType::U32, vec![]))
        .meta(
            "nested",
            Value::Array(
                ValueType::Array,
                vec![
                    Value::Array(ValueType::I32, vec![Value::I32(1), Value::I32(-2)]),
                    Value::Array(ValueType::I32, vec![]),
                ],
            ),
        );
    w.tensor_f32("a", &[4, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    w.tensor("b", &[32], GgmlType::Q8_0, vec![1u8; 34]);
    w
}

#[test]
fn every_value_type_round_trips() {
    let w = small_file();
    let f = GgufFile::from_bytes(w.to_bytes(), "small.gguf").unwrap();
    assert_eq!(f.get_u64("llama.block_count"), Some(2));
    assert_eq!(f.get("i8"), Some(&Value::I8(-7)));
    assert_eq!(f.get("i16").unwrap().as_i64(), Some(-700));
    assert_eq!(f.get("u16").unwrap().as_u64(), Some(700));
    assert_eq!(
        f.get("i32").unwrap().as_u64(),
        None,
        "negative is not unsigned"
    );
    assert_eq!(f.get_u64("u64"), Some(1 << 40));
    assert_eq!(f.get("i64").unwrap().as_i64(), Some(-(1 << 40)));
    assert_eq!(f.get_f64("f64"), Some(0.25));
    assert_eq!(f.get_bool("bool"), Some(true));
    assert_eq!(f.get_array("tokens").unwrap()[2].as_str(), Some("ü"));
    assert_eq!(f.get_array("empty").unwrap().len(), 0);
    let nested = f.get_array("nested").unwrap();
    assert_eq!(nested[0].as_array().unwrap()[1], Value::I32(-2));
    assert_eq!(f.hparam_f64_opt("rope.freq_base").unwrap(), Some(10000.0));
    let a = f.tensor("a").unwrap();
    assert_eq!(a.rows_cols(), (2, 4));
    let bytes = f.tensor_data(a);
    assert_eq!(f32::from_le_bytes(bytes[28..32].try_into().unwrap()), 8.0);
    assert_eq!(f.tensor("b").unwrap().offset % 32, 0);
}

#[test]
fn missing_and_mistyped_keys_are_named() {
    let f = GgufFile::from_bytes(small_file().to_bytes(), "small.gguf").unwrap();
    let err = f.hparam_u64("context_length").unwrap_err();
    assert!(
        matches!(err.kind, E::MissingKey(ref k) if k == "llama.context_length"),
        "{err}"
    );
    assert!(err.to_string().starts_with("small.gguf: "), "{err}");
}

fn parse(bytes: Vec<u8>) -> E {
    GgufFile::from_bytes(bytes, "bad.gguf")
        .expect_err("corrupt input must be rejected")
        .kind
}

#[test]
fn bad_magic_and_version() {
    let mut b = small_file().to_bytes();
    b[0] = b'X';
    assert!(matches!(parse(b), E::BadMagic(_)));
    let mut b = small_file().to_bytes();
    b[4] = 1;
    assert!(matches!(parse(b), E::UnsupportedVersion(1)));
    assert!(matches!(parse(b"GGU".to_vec()), E::Truncated { .. }));
}

#[test]
fn absurd_counts_are_refused_before_allocating() {
    let mut b = small_file().to_bytes();
    b[16..24].copy_from_slice(&u64::MAX.to_le_bytes()); // metadata count
    assert!(matches!(parse(b), E::ImpossibleCount { .. }));
    let mut b = small_file().to_bytes();
    b[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes()); // tensor count
    assert!(matches!(parse(b), E::ImpossibleCount { .. }));
    // First key's length.
    let mut b = small_file().to_bytes();
    b[24..32].copy_from_slice(&(1u64 << 62).to_le_bytes());
    assert!(matches!(parse(b), E::Truncated { .. }));
}

#[test]
fn tensor_layout_is_validated() {
    let mut w = GgufWriter::new();
    w.meta("general.alignment", Value::U32(48));
    assert!(matches!(parse(w.to_bytes()), E::BadAlignment(_)));

    let mut w = GgufWriter::new();
    w.tensor("q", &[33], GgmlType::Q8_0, vec![0; 34]);
    assert!(matches!(parse(w.to_bytes()), E::BadShape { .. }));

    let mut w = GgufWriter::new();
    w.tensor("t", &[4], GgmlType::F32, vec![0; 16])
        .tensor("t", &[4], GgmlType::F32, vec![0; 16]);
    assert!(matches!(parse(w.to_bytes()), E::DuplicateTensor(_)));

    // Rewrite the second tensor's offset to overlap the first / misalign / run off the end.
    let mut w = GgufWriter::new();
    w.tensor("x", &[16], GgmlType::F32, vec![0; 64])
        .tensor("y", &[16], GgmlType::F32, vec![0; 64]);
    let good = w.to_bytes();
    let pos = find(&good, b"y") + 1 + 4 + 8 + 4; // name, n_dims, dim, type
    let with_offset = |off: u64| {
        let mut b = good.clone();
        b[pos..pos + 8].copy_from_slice(&off.to_le_bytes());
        b
    };
    assert!(matches!(parse(with_offset(32)), E::Overlap { .. }));
    assert!(matches!(parse(with_offset(65)), E::Misaligned { .. }));
    assert!(matches!(parse(with_offset(1 << 20)), E::OutOfBounds { .. }));
    assert!(matches!(
        parse(with_offset(u64::MAX - 31)),
        E::OutOfBounds { .. }
    ));
    GgufFile::from_bytes(with_offset(64), "ok.gguf").unwrap();

    let mut b = good.clone();
    b[pos - 4..pos].copy_from_slice(&99u32.to_le_bytes()); // tensor type
    assert!(matches!(parse(b), E::UnknownTensorType { id: 99, .. }));
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

/// The real model truncated at ten offsets spread over the header and the data, and with
/// header bytes flipped: always a typed error naming the file, never a panic.
#[test]
fn corrupted_test_model_gives_typed_errors() {
    let model = std::fs::read(common::test_model()).unwrap();
    let header_end = 1_800_000; // the header of the test model is ~1.7 MB (vocabulary)
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut outcomes = Vec::new();
    for i in 0..10 {
        let cut = if i < 5 {
            next(header_end)
        } else {
            header_end + next(model.len() - header_end)
        };
        let err = GgufFile::from_bytes(model[..cut].to_vec(), "truncated.gguf")
            .expect_err("a truncated model must be rejected");
        assert!(
            matches!(
                err.kind,
                E::Truncated { .. } | E::OutOfBounds { .. } | E::ImpossibleCount { .. }
            ),
            "cut {cut}: {err}"
        );
        outcomes.push(format!("cut at {cut}: {err}"));
    }
    let mut rejected = 0;
    for _ in 0..200 {
        let mut b = model[..header_end.min(model.len())].to_vec();
        let at = next(4096);
        b[at] ^= 1 << next(8);
        if GgufFile::from_bytes(b, "flipped.gguf").is_err() {
            rejected += 1;
        }
    }
    // Flips inside string bytes can leave a valid file; flips in lengths or ids cannot.
    assert!(rejected > 0);
    eprintln!(
        "{}\nheader bit flips rejected: {rejected}/200",
        outcomes.join("\n")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Random mutations of a valid file never panic.
    #[test]
    fn mutated_files_never_panic(edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let mut b = small_file().to_bytes();
        for (at, v) in edits {
            let n = b.len();
            b[at % n] = v;
        }
        let n = b.len();
        b.truncate(cut % (n + 1));
        let _ = GgufFile::from_bytes(b, "fuzz.gguf");
    }

    /// Arbitrary bytes behind a valid magic and version never panic.
    #[test]
    fn random_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut b = b"GGUF\x03\0\0\0".to_vec();
        b.extend(tail);
        let _ = GgufFile::from_bytes(b, "fuzz.gguf");
    }
}
