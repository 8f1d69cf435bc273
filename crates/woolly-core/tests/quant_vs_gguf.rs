//! Our dequantization against the Python `gguf` package's, on synthetic blocks of every
//! type and on real tensors of the test model.

mod common;

use std::path::Path;
use std::process::Command;

use half::f16;
use woolly_core::gguf::GgufFile;
use woolly_core::quant::{dequantize, GgmlType, QuantError};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/gguf_dequant.py");

/// Runs the reference script; `None` when the package cannot dequantize the type.
fn reference(args: &[&str], out: &Path) -> Option<Vec<f32>> {
    let status = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .arg(out)
        .status()
        .expect("python3");
    if status.code() == Some(3) {
        return None;
    }
    assert!(
        status.success(),
        "gguf_dequant.py {args:?} failed: {status}"
    );
    let bytes = std::fs::read(out).unwrap();
    Some(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
    )
}

fn assert_close(ours: &[f32], theirs: &[f32], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let ok = a == b || (a - b).abs() <= 1e-6 * b.abs().max(a.abs());
        assert!(ok, "{what}: value {i}: ours {a}, gguf {b}");
    }
}

#[test]
fn synthetic_blocks_match_gguf_for_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = common::Rng(0x5EED);
    let mut compared = Vec::new();
    for ty in GgmlType::ALL {
        let n_blocks = if ty.block_size() == 1 { 4096 } else { 64 };
        let data = common::random_blocks(ty, n_blocks, &mut rng, 2.0, 1.0 / 8.0);
        let mut ours = vec![0f32; n_blocks * ty.block_size()];
        dequantize(ty, &data, &mut ours).unwrap();

        let input = dir.path().join(format!("{ty}.bin"));
        std::fs::write(&input, &data).unwrap();
        let out = dir.path().join(format!("{ty}.f32"));
        match reference(&["blocks", ty.name(), input.to_str().unwrap()], &out) {
            Some(theirs) => {
                assert_close(&ours, &theirs, ty.name());
                compared.push(ty);
            }
            None => eprintln!("gguf cannot dequantize {ty}; checked by our own tests only"),
        }
    }
    // Every type the issue lists must have been compared, not skipped.
    use GgmlType::*;
    for ty in [
        F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2K, Q3K, Q4K, Q5K, Q6K, IQ4NL, IQ4XS,
    ] {
        assert!(compared.contains(&ty), "{ty} was not compared against gguf");
    }
}

#[test]
fn real_tensors_of_the_test_model_match_gguf() {
    let file = GgufFile::open(common::test_model()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let names = [
        "token_embd.weight",
        "blk.0.attn_q.weight",
        "blk.29.ffn_down.weight",
        "output_norm.weight",
    ];
    for name in names {
        let info = file
            .tensor(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        let mut ours = vec![0f32; info.n_elements() as usize];
        dequantize(info.ggml_type, file.tensor_data(info), &mut ours).unwrap();
        let out = dir.path().join("t.f32");
        let model = common::test_model();
        let theirs = reference(&["tensor", model.to_str().unwrap(), name], &out).unwrap();
        assert_close(&ours, &theirs, name);
        assert!(
            ours.iter().any(|v| *v != 0.0),
            "{name} dequantized to zeros"
        );
    }
}

#[test]
fn q4_0_block_by_hand() {
    // d = 0.5; nibble pairs (lo, hi) = (j % 16, 15 - j % 16).
    let mut block = f16::from_f32(0.5).to_le_bytes().to_vec();
    block.extend((0u8..16).map(|j| j | ((15 - j) << 4)));
    let mut y = [0f32; 32];
    dequantize(GgmlType::Q4_0, &block, &mut y).unwrap();
    for j in 0..16 {
        assert_eq!(y[j], (j as f32 - 8.0) * 0.5);
        assert_eq!(y[j + 16], (7.0 - j as f32) * 0.5);
    }
}

#[test]
fn wrong_sizes_are_typed_errors() {
    let mut out = [0f32; 32];
    assert!(matches!(
        dequantize(GgmlType::Q4_1, &[0; 19], &mut out),
        Err(QuantError::PartialBlock { .. })
    ));
    assert!(matches!(
        dequantize(GgmlType::Q8_0, &[0; 68], &mut out),
        Err(QuantError::OutputSize { .. })
    ));
}
