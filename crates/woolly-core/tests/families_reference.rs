//! Gemma 2 (soft-capped scores and logits, alternating sliding windows) and Llama 3's
//! `rope_freqs` tensor against llama.cpp, on synthetic models: `woolly synth` writes the
//! same file `bench/families_refdata.mjs` gave llama.cpp (checked by SHA-256), and every
//! step, fed llama.cpp's previous token, must rank llama.cpp's top 5 as it does.

mod common;

use sha2::{Digest, Sha256};
use std::sync::Arc;
use woolly_core::engine::KvCacheType;
use woolly_core::gguf::GgufFile;
use woolly_core::model::{ComputeDevice, Model, ModelConfig};
use woolly_core::synth::{self, Quant, SynthConfig};

/// Both sides round weights and activations to 8-bit blocks: what is left is summation
/// order and f16 rounding of the KV cache.
const GAP_TOLERANCE: f32 = 0.1;

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn synthetic_families_follow_llama_cpp() {
    let text = std::fs::read_to_string(common::refdata("families-greedy.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let vocab = GgufFile::open(common::test_model()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut checked = std::collections::BTreeSet::new();
    for case in reference["cases"].as_array().unwrap() {
        let name = case["preset"].as_str().unwrap();
        let mut config = SynthConfig::new(
            synth::preset(name).unwrap(),
            Quant::from_name(case["quant"].as_str().unwrap()).unwrap(),
        );
        config.seed = case["seed"].as_u64().unwrap();
        let path = dir.path().join(format!("{name}.gguf"));
        config.write(&vocab, &path).unwrap();
        let sha = format!("{:x}", Sha256::digest(std::fs::read(&path).unwrap()));
        assert_eq!(
            sha,
            case["sha256"].as_str().unwrap(),
            "{name}: `woolly synth` writes another file than llama.cpp was given: run \
             bench/families_refdata.mjs again"
        );
        let file = Arc::new(GgufFile::open(&path).unwrap());
        let cfg = ModelConfig::from_gguf(&file).unwrap();
        let (device, kv) = (ComputeDevice::cpu(), KvCacheType::F16);
        let mut model = Model::load(file, cfg.clone(), device, 512, kv, 2).unwrap();
        let (prompt, expected) = (ids(&case["prompt_ids"]), ids(&case["gen_ids"]));
        let mut logits = vec![0f32; cfg.vocab_size];
        model.forward(&prompt, 0, &mut logits).unwrap();
        let mut worst = 0f32;
        for (i, &want) in expected.iter().enumerate() {
            let top5 = case["top5_steps"][i].as_array().unwrap();
            let pair = |t: &serde_json::Value| {
                (
                    t[0].as_u64().unwrap() as usize,
                    t[1].as_f64().unwrap() as f32,
                )
            };
            let (top, top_logp) = pair(&top5[0]);
            let margin = top_logp - pair(&top5[1]).1;
            let best = (0..logits.len()).fold(0, |b, j| if logits[j] > logits[b] { j } else { b });
            assert!(
                best == top || margin <= GAP_TOLERANCE,
                "{name} step {i}: token {best}, llama.cpp's {top} by a margin of {margin}"
            );
            for t in top5 {
                let (id, logp) = pair(t);
                let gap = ((logits[id] - logits[top]) - (logp - top_logp)).abs();
                worst = worst.max(gap);
                assert!(
                    gap <= GAP_TOLERANCE,
                    "{name} step {i}: token {id} sits {} below the top, llama.cpp puts it {}",
                    logits[top] - logits[id],
                    top_logp - logp
                );
            }
            model
                .forward(&[want], prompt.len() + i, &mut logits)
                .unwrap();
        }
        eprintln!(
            "{name}: worst top-5 gap difference {worst:.4} over {} steps",
            expected.len()
        );
        checked.insert(name);
    }
    assert_eq!(checked.len(), 2, "{checked:?}");
}
