//! candle's `quantized_llama` on `tests/refdata`'s greedy cases, teacher-forced, printed
//! as Woolly's `reference_check` example prints itself, for `scripts/agreement.py`
//! (`make agreement`). `candle-agreement MODEL REFDATA_JSON`.

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use serde_json::json;

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
    let mut cases = Vec::new();
    for case in reference["cases"].as_array().expect("cases") {
        let (prompt, expected) = (ids(&case["prompt_ids"]), ids(&case["gen_ids"]));
        let top5: Vec<usize> = case["top5_first_token"]
            .as_array()
            .expect("top5_first_token")
            .iter()
            .map(|t| t["id"].as_u64().expect("a token id") as usize)
            .collect();
        let mut file = std::fs::File::open(model)?;
        let content = gguf_file::Content::read(&mut file)?;
        let mut m = ModelWeights::from_gguf(content, &mut file, &device)?;
        let mut forward = |tokens: &[u32], at: usize| -> candle_core::Result<Vec<f32>> {
            let input = Tensor::new(tokens, &device)?.unsqueeze(0)?;
            m.forward(&input, at)?.squeeze(0)?.to_vec1()
        };
        let mut logits = forward(&prompt, 0)?;
        let top5: Vec<f32> = top5.iter().map(|&id| logits[id]).collect();
        let mut steps = Vec::new();
        for (i, &want) in expected.iter().enumerate() {
            let best = (0..logits.len()).fold(0, |b, j| if logits[j] > logits[b] { j } else { b });
            steps.push(json!([best, logits[best] - logits[want as usize]]));
            logits = forward(&[want], prompt.len() + i)?;
        }
        cases.push(json!({ "top5": top5, "steps": steps }));
    }
    println!(
        "{}",
        json!({ "engine": "candle 0.11 (quantized_llama, CPU)", "cases": cases })
    );
    Ok(())
}
