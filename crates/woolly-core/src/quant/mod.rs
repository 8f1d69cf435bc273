//! GGUF block formats: geometry and dequantization.

mod types;

pub use types::{GgmlType, QK_K};
