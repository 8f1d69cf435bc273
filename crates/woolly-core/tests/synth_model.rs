//! `woolly synth`'s models (woolly_core::synth): written in every quantization, streamed
//! through the GGUF writer, loaded by the engine with the test model's vocabulary, and run
//! to finite logits.

mod common;

use half::f16;
use std::sync::Arc;
use woolly_core::engine::{Engine, EngineConfig, GenerateRequest, KvCacheType, Prompt};
use woolly_core::gguf::{GgufFile, GgufWriter};
use woolly_core::model::{ComputeDevice, Model, ModelConfig};
use woolly_core::quant::{dequantize, GgmlType};
use woolly_core::sampling::SamplingParams;
use woolly_core::synth::{self, Quant, SynthConfig};

fn vocab() -> GgufFile {
    GgufFile::open(common::test_model()).unwrap()
}

/// Writes `config`'s model into a temporary directory.
fn synthesize(config: &SynthConfig, vocab: &GgufFile) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synth.gguf");
    config.write(vocab, &path).unwrap();
    (dir, path)
}

/// Prefill and a few decode steps: every logit finite, spread like unit-variance scores.
fn run_to_finite_logits(path: &std::path::Path, what: &str) {
    let file = Arc::new(GgufFile::open(path).unwrap());
    let cfg = ModelConfig::from_gguf(&file).unwrap();
    let mut model = Model::load(
        file,
        cfg.clone(),
        ComputeDevice::cpu(),
        64,
        KvCacheType::F16,
        2,
    )
    .unwrap();
    let mut logits = vec![0.0; cfg.vocab_size];
    let prompt: Vec<u32> = (0..20).map(|i| (i * 2473 + 11) % 49152).collect();
    model.forward(&prompt, 0, &mut logits).unwrap();
    for step in 0..3 {
        assert!(
            logits.iter().all(|v| v.is_finite()),
            "{what}: non-finite logits at step {step}"
        );
        let n = logits.len() as f32;
        let mean = logits.iter().sum::<f32>() / n;
        let std = (logits.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
        assert!(
            std > 0.05 && std < 20.0,
            "{what}: logits std {std} at step {step}"
        );
        let next = (step * 101 + 7) as u32;
        model
            .forward(&[next], prompt.len() + step, &mut logits)
            .unwrap();
    }
}

#[test]
fn synth_tiny_in_every_quantization_loads_and_runs() {
    let vocab = vocab();
    for quant in Quant::ALL {
        let config = SynthConfig::new(synth::preset("tiny").unwrap(), quant);
        let (_dir, path) = synthesize(&config, &vocab);
        let file = GgufFile::open(&path).unwrap();
        // The shape's hyper-parameters and the test model's vocabulary.
        let cfg = ModelConfig::from_gguf(&file).unwrap();
        assert_eq!(
            (
                cfg.dim,
                cfg.n_layers,
                cfg.n_heads,
                cfg.n_kv_heads,
                cfg.head_dim,
                cfg.ffn_dim
            ),
            (256, 2, 4, 2, 64, 512)
        );
        assert_eq!(cfg.vocab_size, 49152);
        for (key, value) in vocab.metadata() {
            if key.starts_with("tokenizer.") {
                assert_eq!(file.get(key), Some(value), "{key}");
            }
        }
        assert_eq!(
            file.get_u64("general.file_type"),
            Some(quant.file_type() as u64)
        );
        // Tied: the embedding table is the head, Q6_K unless the file type is Q8_0.
        let head = file.tensor("token_embd.weight").unwrap().ggml_type;
        let want = if quant == Quant::Q8_0 {
            GgmlType::Q8_0
        } else {
            GgmlType::Q6K
        };
        assert_eq!(head, want, "{quant:?}");
        run_to_finite_logits(&path, quant.name());
    }
}

#[test]
fn synth_engine_generates_from_a_q4_k_m_model() {
    let vocab = vocab();
    let config = SynthConfig::new(synth::preset("tiny").unwrap(), Quant::Q4KM);
    let (_dir, path) = synthesize(&config, &vocab);
    let engine = Engine::load(
        &path,
        EngineConfig::builder()
            .context_length(128)
            .threads(2)
            .build(),
    )
    .unwrap();
    let mut request = GenerateRequest::new(Prompt::Text("The quick brown fox".into()));
    request.sampling = SamplingParams::greedy();
    request.max_tokens = 8;
    request.ignore_eos = true;
    let out = engine.generate(&request, |_| {}).unwrap();
    assert_eq!(out.tokens.len(), 8);
    assert_eq!(out.first_top_logits.len(), 5);
    assert!(out.first_top_logits.iter().all(|(_, l)| l.is_finite()));
}

#[test]
fn synth_untied_qwen2_with_biases_one_layer() {
    // Qwen2's layout (q/k/v biases, its own output head) at a small width, one layer.
    let mut preset = synth::preset("qwen2.5-7b").unwrap();
    (
        preset.dim,
        preset.n_layers,
        preset.n_heads,
        preset.n_kv_heads,
    ) = (512, 1, 4, 2);
    preset.ffn_dim = 768;
    let vocab = vocab();
    let config = SynthConfig::new(preset, Quant::Q4KM);
    let (_dir, path) = synthesize(&config, &vocab);
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.arch().unwrap(), "qwen2");
    assert_eq!(
        file.tensor("output.weight").unwrap().ggml_type,
        GgmlType::Q6K
    );
    assert_eq!(
        file.tensor("token_embd.weight").unwrap().ggml_type,
        GgmlType::Q4K
    );
    assert_eq!(file.tensor("blk.0.attn_k.bias").unwrap().dims, vec![256]);
    // One layer: use_more_bits(0, 1) holds.
    assert_eq!(
        file.tensor("blk.0.ffn_down.weight").unwrap().ggml_type,
        GgmlType::Q6K
    );
    run_to_finite_logits(&path, "qwen2 1 layer");
    // Decoding reads every 2-D weight; the untied embedding table only a row at a time.
    let weights: u64 = file
        .tensors()
        .iter()
        .filter(|t| t.dims.len() == 2 && t.name != "token_embd.weight")
        .map(|t| t.n_bytes)
        .sum();
    assert_eq!(synth::decode_weight_bytes(&file), weights);
}

#[test]
fn synth_streamed_tensors_write_the_same_image_as_in_memory_ones() {
    let data: Vec<u8> = (0..18 * 8).map(|i| (i * 7) as u8).collect();
    let mut in_memory = GgufWriter::new();
    in_memory.tensor("a", &[256], GgmlType::Q4_0, data.clone());
    in_memory.tensor_f32("b", &[3], &[1.0, 2.0, 3.0]);
    let mut streamed = GgufWriter::new();
    let copy = data.clone();
    streamed.tensor_stream("a", &[256], GgmlType::Q4_0, move |out| out.write_all(&copy));
    streamed.tensor_f32("b", &[3], &[1.0, 2.0, 3.0]);
    assert_eq!(streamed.to_bytes(), in_memory.to_bytes());
    let dir = tempfile::tempdir().unwrap();
    streamed.write_to(dir.path().join("s.gguf")).unwrap();
    let file = GgufFile::open(dir.path().join("s.gguf")).unwrap();
    assert_eq!(file.tensor_data(file.tensor("a").unwrap()), &data[..]);

    // A producer that writes the wrong number of bytes is an error, not a corrupt file.
    let mut short = GgufWriter::new();
    short.tensor_stream("a", &[256], GgmlType::Q4_0, |out| out.write_all(&[0; 10]));
    let err = short.write(&mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("wrote 10 bytes, not 144"), "{err}");
}

fn row_stats(ty: GgmlType, cols: usize, seed: u64) -> (f64, f64) {
    let mut bytes = Vec::new();
    synth::write_random_rows(ty, 1, cols, seed, &mut bytes).unwrap();
    let mut y = vec![0f32; cols];
    dequantize(ty, &bytes, &mut y).unwrap();
    assert!(y.iter().all(|v| v.is_finite()));
    let n = cols as f64;
    let mean = y.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = y.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[test]
fn synth_rows_have_mean_zero_and_std_one_over_sqrt_cols() {
    use GgmlType::*;
    for ty in [F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4K, Q5K, Q6K] {
        for cols in [2048usize, 8192, 18944] {
            let target = 1.0 / (cols as f64).sqrt();
            let (mut mean_sum, mut std_sum) = (0.0, 0.0);
            for seed in 1..9 {
                let (m, s) = row_stats(ty, cols, seed);
                mean_sum += m;
                std_sum += s;
                // One row: the mean within a few standard errors of zero.
                assert!(
                    m.abs() < 5.0 * target / (cols as f64).sqrt(),
                    "{ty} {cols}: mean {m}"
                );
                assert!(
                    (s / target - 1.0).abs() < 0.05,
                    "{ty} {cols}: std {s} vs {target}"
                );
            }
            let (m, s) = (mean_sum / 8.0, std_sum / 8.0);
            assert!(
                m.abs() < 3.0 * target / (8.0 * cols as f64).sqrt(),
                "{ty} {cols}: mean {m}"
            );
            assert!(
                (s / target - 1.0).abs() < 0.02,
                "{ty} {cols}: std {s} vs {target}"
            );
        }
    }
}

#[test]
fn synth_k4_scales_round_trip_through_the_dequantizer() {
    // A Q4_K block with all quants 1, d = 1, dmin = 0: value j is its sub-block's scale.
    let sc = [1u8, 17, 33, 63, 5, 40, 62, 20];
    let m = [0u8; 8];
    let mut b = vec![0u8; GgmlType::Q4K.type_size()];
    b[..2].copy_from_slice(&f16::from_f32(1.0).to_le_bytes());
    b[4..16].copy_from_slice(&synth::pack_k4_scales(&sc, &m));
    b[16..].fill(0x11);
    let mut y = vec![0f32; 256];
    dequantize(GgmlType::Q4K, &b, &mut y).unwrap();
    for (j, &s) in sc.iter().enumerate() {
        assert_eq!(y[j * 32], s as f32, "scale {j}");
    }
    // Mins: d = 0, dmin = 1, so value j is minus its sub-block's min.
    let mins = [3u8, 63, 16, 48, 31, 1, 32, 60];
    b[..2].copy_from_slice(&f16::from_f32(0.0).to_le_bytes());
    b[2..4].copy_from_slice(&f16::from_f32(1.0).to_le_bytes());
    b[4..16].copy_from_slice(&synth::pack_k4_scales(&sc, &mins));
    dequantize(GgmlType::Q4K, &b, &mut y).unwrap();
    for (j, &mn) in mins.iter().enumerate() {
        assert_eq!(y[j * 32], -(mn as f32), "min {j}");
    }
}

#[test]
fn synth_q4_k_m_mix_follows_llama_cpp() {
    let p = synth::preset("llama-3.2-1b").unwrap();
    let t = SynthConfig::new(p, Quant::Q4KM).tensors(49152);
    let ty = |name: &str| t.iter().find(|t| t.name == name).unwrap().ty;
    // Tied: the embedding table is the head, Q6_K; no output.weight.
    assert_eq!(ty("token_embd.weight"), GgmlType::Q6K);
    assert!(t.iter().all(|t| t.name != "output.weight"));
    // 16 layers: use_more_bits for 0, 1 (< 2), 4, 7, 10, 13 ((i-2) % 3 == 2), 14, 15.
    let more = [0, 1, 4, 7, 10, 13, 14, 15];
    for i in 0..16 {
        let want = if more.contains(&i) {
            GgmlType::Q6K
        } else {
            GgmlType::Q4K
        };
        assert_eq!(ty(&format!("blk.{i}.attn_v.weight")), want, "layer {i}");
        assert_eq!(ty(&format!("blk.{i}.ffn_down.weight")), want, "layer {i}");
        for other in ["attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"] {
            assert_eq!(ty(&format!("blk.{i}.{other}.weight")), GgmlType::Q4K);
        }
        assert_eq!(ty(&format!("blk.{i}.attn_norm.weight")), GgmlType::F32);
    }
    // Untied: the embedding table keeps the default type, the head is Q6_K.
    let t = SynthConfig::new(synth::preset("llama-3.1-8b").unwrap(), Quant::Q4KM).tensors(49152);
    let ty = |name: &str| t.iter().find(|t| t.name == name).unwrap().ty;
    assert_eq!(ty("token_embd.weight"), GgmlType::Q4K);
    assert_eq!(ty("output.weight"), GgmlType::Q6K);
    // Q4_0: the head is Q6_K too; Q8_0 keeps Q8_0.
    let t = SynthConfig::new(synth::preset("llama-3.2-1b").unwrap(), Quant::Q4_0).tensors(49152);
    assert_eq!(t[0].ty, GgmlType::Q6K);
    assert!(t[1..]
        .iter()
        .all(|t| matches!(t.ty, GgmlType::Q4_0 | GgmlType::F32)));
    let t = SynthConfig::new(synth::preset("llama-3.2-1b").unwrap(), Quant::Q8_0).tensors(49152);
    assert!(t
        .iter()
        .all(|t| matches!(t.ty, GgmlType::Q8_0 | GgmlType::F32)));
}
