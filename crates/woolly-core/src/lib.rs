//! Woolly's engine: reads GGUF models, tokenizes, renders chat templates and runs
//! LLaMA-family transformers with weights kept in their quantized blocks.

pub mod chat;
pub mod engine;
pub mod gguf;
pub mod grammar;
pub mod model;
pub mod sampling;
pub mod synth;
pub mod tokenizer;

/// The quantized formats and their CPU kernels, a crate of their own.
pub use woolly_quant as quant;
