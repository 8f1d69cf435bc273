//! Our dequantization against the Python `gguf` package's, on synthetic blocks of every
//! type and on real tensors of the test model.

mod common;

use std::path::Path;
use std::process::Command;

use half::{bf16, f16};
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

/// SplitMix64: deterministic bytes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn float(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
    }
}

/// Byte offsets of the f16 scale fields in one block: random bits there could be NaN.
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q8_1 | GgmlType::Q4K | GgmlType::Q5K => &[0, 2],
        GgmlType::Q2K => &[80, 82],
        GgmlType::Q3K => &[108],
        GgmlType::Q6K => &[208],
        _ => &[],
    }
}

fn synthetic_blocks(ty: GgmlType, n_blocks: usize, rng: &mut Rng) -> Vec<u8> {
    let mut data = Vec::with_capacity(n_blocks * ty.type_size());
    for _ in 0..n_blocks {
        match ty {
            GgmlType::F32 => data.extend(rng.float().to_le_bytes()),
            GgmlType::F16 => data.extend(f16::from_f32(rng.float()).to_le_bytes()),
            GgmlType::BF16 => data.extend(bf16::from_f32(rng.float()).to_le_bytes()),
            _ => {
                let mut block: Vec<u8> = (0..ty.type_size()).map(|_| rng.next() as u8).collect();
                for &at in f16_fields(ty) {
                    let scale = f16::from_f32(rng.float() / 16.0).to_le_bytes();
                    block[at..at + 2].copy_from_slice(&scale);
                }
                data.extend(block);
            }
        }
    }
    data
}

#[test]
fn synthetic_blocks_match_gguf_for_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED);
    let mut compared = Vec::new();
    for ty in GgmlType::ALL {
        let n_blocks = if ty.block_size() == 1 { 4096 } else { 64 };
        let data = synthetic_blocks(ty, n_blocks, &mut rng);
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
        F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2K, Q3K, Q4K, Q5K, Q6K,
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
