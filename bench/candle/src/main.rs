//! candle's agreement with llama.cpp on `../shared/refdata`'s greedy cases, measured as
//! Woolly's `reference_check` example measures it: the free-running agreement length, the
//! steps whose argmax differs when every step is fed llama.cpp's previous token, and the
//! first token's top-5 logits. `candle-agreement MODEL REFDATA_JSON`.

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

fn main() -> candle_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, refdata] = &args[..] else {
        eprintln!("usage: candle-agreement MODEL REFDATA_JSON");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(refdata)?;
    let reference: serde_json::Value = serde_json::from_str(&text).expect("invalid JSON");
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        let list = v.as_array().expect("a list of token ids");
        list.iter()
            .map(|t| t.as_u64().expect("a token id") as u32)
            .collect()
    };
    let device = Device::Cpu;
    let (mut lengths, mut mismatches, mut steps, mut worst_top5) = (Vec::new(), 0, 0, 0f32);
    for case in reference["cases"].as_array().expect("cases") {
        let (prompt, expected) = (ids(&case["prompt_ids"]), ids(&case["gen_ids"]));
        let mut file = std::fs::File::open(model)?;
        let content = gguf_file::Content::read(&mut file)?;
        let mut m = ModelWeights::from_gguf(content, &mut file, &device)?;
        let mut forward = |tokens: &[u32], at: usize| -> candle_core::Result<Vec<f32>> {
            let input = Tensor::new(tokens, &device)?.unsqueeze(0)?;
            m.forward(&input, at)?.squeeze(0)?.to_vec1()
        };
        let mut logits = forward(&prompt, 0)?;
        let top5: Vec<f32> = case["top5_first_token"]
            .as_array()
            .expect("top5_first_token")
            .iter()
            .map(|t| {
                logits[t["id"].as_u64().unwrap() as usize] - t["logit"].as_f64().unwrap() as f32
            })
            .collect();
        worst_top5 = top5.iter().fold(worst_top5, |w, d| w.max(d.abs()));
        let mut differs = Vec::new();
        for (i, &want) in expected.iter().enumerate() {
            let (best, max) = argmax(&logits);
            if best != want {
                differs.push((i, max - logits[want as usize]));
            }
            logits = forward(&[want], prompt.len() + i)?;
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
        "candle: agreement lengths {lengths:?}; teacher-forced steps whose argmax differs: \
         {mismatches} of {steps}; largest first-token top-5 difference {worst_top5:.3}"
    );
    Ok(())
}

/// The index of the largest logit, and the logit.
fn argmax(logits: &[f32]) -> (u32, f32) {
    logits.iter().enumerate().fold(
        (0, f32::MIN),
        |b, (j, &v)| if v > b.1 { (j as u32, v) } else { b },
    )
}
