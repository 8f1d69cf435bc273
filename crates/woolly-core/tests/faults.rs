//! Faults under a loaded engine, on real files: the model file truncated or replaced on
//! disk after load (no SIGBUS: the turn completes from memory or fails with a clear error),
//! a panic inside a turn (the turn fails, the engine keeps working), a thread count beyond
//! the cores (capped).

mod common;

use std::path::{Path, PathBuf};
use woolly_core::engine::{
    DevicePreference, Engine, EngineConfig, EngineError, GenerateRequest, Prompt,
};
use woolly_core::gguf::{GgufErrorKind, GgufFile};
use woolly_core::model::ModelError;
use woolly_core::quant::GgmlType;
use woolly_core::sampling::SamplingParams;
use woolly_core::synth::{self, Quant, SynthConfig};

fn load(path: &Path) -> Engine {
    let config = EngineConfig::builder()
        .device(DevicePreference::Cpu)
        .context_length(256)
        .threads(2)
        .build();
    Engine::load(path, config).expect("load")
}

fn greedy(prompt: &str, n: usize) -> GenerateRequest {
    let mut request = GenerateRequest::new(Prompt::Text(prompt.into()));
    request.sampling = SamplingParams::greedy();
    request.max_tokens = n;
    request.ignore_eos = true;
    request
}

/// The test model copied into a temporary directory (tests change the copy).
fn copy_of_test_model() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    std::fs::copy(common::test_model(), &path).unwrap();
    (dir, path)
}

/// Offset of the first tensor's data: truncating there keeps the header, drops every weight.
fn data_start(path: &Path) -> u64 {
    let file = GgufFile::open(path).unwrap();
    file.tensors().iter().map(|t| t.offset).min().unwrap()
}

fn truncate(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn a_model_truncated_after_load_still_answers_from_memory() {
    // The test model ties its embeddings to the head: every weight is repacked into memory
    // of the engine's own at load, so the reply is the same as before the truncation.
    let (_dir, path) = copy_of_test_model();
    let engine = load(&path);
    let before = engine.generate(&greedy("The capital of France is", 12), |_| {});
    let before = before.unwrap().tokens;
    truncate(&path, data_start(&path));
    // A different prompt: no reuse of the cached prefix, a full prefill from memory.
    let _ = engine.generate(&greedy("Hello", 2), |_| {}).unwrap();
    let after = engine.generate(&greedy("The capital of France is", 12), |_| {});
    assert_eq!(after.unwrap().tokens, before);
    truncate(&path, 0);
    let again = engine.generate(&greedy("The capital of France is", 12), |_| {});
    assert_eq!(again.unwrap().tokens, before);
}

/// A tiny model with an untied token table (read a row at a time from the file) and an F16
/// head (a format without a packed layout, dotted row by row).
fn untied_model(dir: &Path) -> PathBuf {
    let mut preset = synth::preset("tiny").unwrap();
    preset.tied = false;
    let mut config = SynthConfig::new(preset, Quant::Q4KM);
    config.output_type = Some(GgmlType::F16);
    let path = dir.join("untied.gguf");
    config
        .write(&GgufFile::open(common::test_model()).unwrap(), &path)
        .unwrap();
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(
        file.tensor("output.weight").map(|t| t.ggml_type),
        Some(GgmlType::F16)
    );
    path
}

#[test]
fn an_untied_model_truncated_after_load_fails_the_turn_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = untied_model(dir.path());
    let engine = load(&path);
    let ok = engine
        .generate(&greedy("one two three", 4), |_| {})
        .unwrap();
    assert_eq!(ok.tokens.len(), 4);
    let start = data_start(&path);
    truncate(&path, start);
    for prompt in ["one two three", "something new"] {
        let err = engine.generate(&greedy(prompt, 4), |_| {}).unwrap_err();
        assert!(
            matches!(
                &err,
                EngineError::Model(ModelError::File(e))
                    if matches!(e.kind, GgufErrorKind::Changed { now, .. } if now == start)
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("changed on disk"), "{err}");
    }
    // Restored (same bytes again), the same engine answers again.
    std::fs::remove_file(&path).unwrap();
    let restored = untied_model(dir.path());
    assert_eq!(restored, path);
    // The engine holds the old (truncated) inode: still a clear error, not a fault.
    assert!(engine.generate(&greedy("one", 2), |_| {}).is_err());
    // A fresh load of the restored file works.
    assert_eq!(
        load(&path)
            .generate(&greedy("one", 2), |_| {})
            .unwrap()
            .tokens
            .len(),
        2
    );
}

#[test]
fn a_model_file_replaced_after_load_keeps_answering_from_the_loaded_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = untied_model(dir.path());
    let engine = load(&path);
    let before = engine
        .generate(&greedy("one two three", 6), |_| {})
        .unwrap();
    // Replaced the way a download or copy would: a new file renamed over the old name.
    let other = dir.path().join("other.gguf");
    std::fs::write(&other, b"not a model at all").unwrap();
    std::fs::rename(&other, &path).unwrap();
    let after = engine
        .generate(&greedy("one two three", 6), |_| {})
        .unwrap();
    assert_eq!(after.tokens, before.tokens);
}

#[test]
fn a_panic_inside_a_turn_ends_the_turn_and_the_engine_keeps_working() {
    const MARKER: &str = "INJECTPANIC";
    std::env::set_var("WOOLLY_FAULT_PANIC", MARKER);
    let engine = load(&common::test_model());
    let before = engine.generate(&greedy("Once upon a time", 8), |_| {});
    let before = before.unwrap().tokens;
    let err = engine
        .generate(&greedy(&format!("Please {MARKER} now"), 8), |_| {})
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::Internal(m) if m.contains("injected fault")),
        "{err:?}"
    );
    // The next turns run as if nothing happened (same greedy tokens).
    for _ in 0..2 {
        let after = engine.generate(&greedy("Once upon a time", 8), |_| {});
        assert_eq!(after.unwrap().tokens, before);
    }
}

#[test]
fn threads_beyond_the_cores_are_capped() {
    let cores = std::thread::available_parallelism().unwrap().get();
    let config = EngineConfig::builder().threads(100_000).build();
    assert_eq!(config.effective_threads(), cores);
    assert_eq!(
        EngineConfig::builder()
            .threads(1)
            .build()
            .effective_threads(),
        1
    );
    let engine = Engine::load(
        common::test_model(),
        EngineConfig::builder()
            .device(DevicePreference::Cpu)
            .context_length(64)
            .threads(100_000)
            .build(),
    )
    .unwrap();
    let device = engine.info().device.clone();
    assert!(device.contains(&format!("{cores} threads")), "{device}");
}
