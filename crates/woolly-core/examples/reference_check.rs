//! Woolly's CPU forward pass on `tests/refdata`'s greedy cases, teacher-forced: every
//! step is fed llama.cpp's previous token, so one early near-tie does not decide the rest.
//! Prints one JSON object for `scripts/agreement.py` (`make agreement`), which compares it
//! with llama.cpp's reference and with other engines:
//! `{"engine", "cases": [{"top5": [our logits of the reference's top-5 ids],
//!   "steps": [[our argmax, our max logit minus that of llama.cpp's token], ...]}]}`.
//!
//! `reference_check MODEL REFDATA_JSON [f16|f32]` (the KV cache type; f16 by default).

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
    let mut cases = Vec::new();
    for case in reference["cases"].as_array().expect("cases") {
        let (prompt, expected) = (ids(&case["prompt_ids"]), ids(&case["gen_ids"]));
        let top5: Vec<u32> = case["top5_first_token"]
            .as_array()
            .expect("top5_first_token")
            .iter()
            .map(|t| t["id"].as_u64().expect("a token id") as u32)
            .collect();
        let device = ComputeDevice::cpu();
        let mut m = Model::load(file.clone(), cfg.clone(), device, 512, kv, 1).expect("load");
        let mut logits = vec![0f32; cfg.vocab_size];
        m.forward(&prompt, 0, &mut logits).expect("forward");
        let top5: Vec<f32> = top5.iter().map(|&id| logits[id as usize]).collect();
        let mut steps = Vec::new();
        for (i, &want) in expected.iter().enumerate() {
            let best = (0..logits.len()).fold(0, |b, j| if logits[j] > logits[b] { j } else { b });
            steps.push(serde_json::json!([
                best,
                logits[best] - logits[want as usize]
            ]));
            m.forward(&[want], prompt.len() + i, &mut logits)
                .expect("forward");
        }
        cases.push(serde_json::json!({ "top5": top5, "steps": steps }));
    }
    let engine = format!(
        "Woolly {} (CPU, {kv:?} KV cache)",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "{}",
        serde_json::json!({ "engine": engine, "cases": cases })
    );
}
