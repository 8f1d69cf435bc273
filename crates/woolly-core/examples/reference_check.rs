//! How closely the CPU forward pass follows llama.cpp on `../shared/refdata`'s greedy
//! cases. Besides the free-running agreement length, every step is also fed llama.cpp's
//! own previous token (teacher forcing), so one early near-tie does not hide how the rest
//! of the continuation compares: the count of steps whose argmax differs is a steadier
//! measure than the agreement lengths.
//!
//! `cargo build --release --workspace --examples`, then
//! `$CARGO_TARGET_DIR/release/examples/reference_check MODEL REFDATA_JSON [f16|f32]`.

use std::sync::Arc;
use woolly_core::engine::KvCacheType;
use woolly_core::gguf::GgufFile;
use woolly_core::model::{ComputeDevice, Model, ModelConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, refdata, rest @ ..] = &args[..] else {
        eprintln!("usage: reference_check MODEL REFDATA_JSON [f16|f32]");
        std::process::exit(2);
    };
    let kv = match rest.first().map(String::as_str) {
        Some("f32") => KvCacheType::F32,
        _ => KvCacheType::F16,
    };
    let text = std::fs::read_to_string(refdata).expect("cannot read the reference file");
    let reference: serde_json::Value = serde_json::from_str(&text).expect("invalid JSON");
    let file = Arc::new(GgufFile::open(model).expect("cannot open the model"));
    let cfg = ModelConfig::from_gguf(&file).expect("unsupported model");
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        let list = v.as_array().expect("a list of token ids");
        list.iter()
            .map(|t| t.as_u64().expect("a token id") as u32)
            .collect()
    };
    let (mut lengths, mut mismatches, mut steps, mut worst_top5) = (Vec::new(), 0, 0, 0f32);
    for case in reference["cases"].as_array().expect("cases") {
        let (prompt, expected) = (ids(&case["prompt_ids"]), ids(&case["gen_ids"]));
        let device = ComputeDevice::cpu();
        let mut m = Model::load(file.clone(), cfg.clone(), device, 512, kv, 1).expect("load");
        let mut logits = vec![0f32; cfg.vocab_size];
        m.forward(&prompt, 0, &mut logits).expect("forward");
        let top5: Vec<f32> = case["top5_first_token"]
            .as_array()
            .expect("top5_first_token")
            .iter()
            .map(|t| {
                logits[t["id"].as_u64().unwrap() as usize] - t["logit"].as_f64().unwrap() as f32
            })
            .collect();
        worst_top5 = top5.iter().fold(worst_top5, |w, d| w.max(d.abs()));
        // Steps where our argmax is not llama.cpp's token, with the logit gap between them.
        let mut differs = Vec::new();
        for (i, &want) in expected.iter().enumerate() {
            let (best, max) = argmax(&logits);
            if best != want {
                differs.push((i, max - logits[want as usize]));
            }
            m.forward(&[want], prompt.len() + i, &mut logits)
                .expect("forward");
        }
        let length = differs.first().map_or(expected.len(), |&(i, _)| i);
        let listed: Vec<String> = differs
            .iter()
            .map(|(i, gap)| format!("{i} (by {gap:.3})"))
            .collect();
        println!(
            "agrees for {length:2}; first-token top-5 differences {:?}; differs at {}",
            top5.iter().map(|d| format!("{d:+.3}")).collect::<Vec<_>>(),
            if listed.is_empty() {
                "no step".into()
            } else {
                listed.join(", ")
            }
        );
        (mismatches, steps) = (mismatches + differs.len(), steps + expected.len());
        lengths.push(length);
    }
    println!(
        "woolly: agreement lengths {lengths:?}; teacher-forced steps whose argmax differs: {mismatches} of \
         {steps}; largest first-token top-5 difference {worst_top5:.3}"
    );
}

/// The index of the largest logit, and the logit.
fn argmax(logits: &[f32]) -> (u32, f32) {
    logits.iter().enumerate().fold(
        (0, f32::MIN),
        |b, (j, &v)| if v > b.1 { (j as u32, v) } else { b },
    )
}
