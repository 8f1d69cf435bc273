//! What the store records about a model, read from its GGUF header.

use crate::fit::ModelShape;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use woolly_core::gguf::{GgufError, GgufFile};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// `general.architecture`, e.g. `llama`.
    pub architecture: String,
    /// `general.name`, when the file has one.
    pub display_name: Option<String>,
    /// Sum of all tensor elements.
    pub parameters: u64,
    /// The tensor type holding most of the parameters of the matrices, e.g. `Q4_K`.
    pub quantization: String,
    pub context_length: Option<u64>,
    pub layers: Option<u64>,
    pub kv_heads: Option<u64>,
    pub head_dim: Option<u64>,
    /// Bytes of tensor data.
    pub weights_bytes: u64,
}

impl ModelMeta {
    pub fn from_gguf(file: &GgufFile) -> Result<Self, GgufError> {
        let arch = file.arch()?.to_string();
        // Optional hyper-parameters are read leniently: some architectures store them per
        // layer (arrays); the fit check then falls back to the catalog or is skipped.
        let hp = |name: &str| file.get_u64(&format!("{arch}.{name}"));
        let heads = hp("attention.head_count");
        let head_dim =
            hp("attention.key_length").or_else(|| match (hp("embedding_length"), heads) {
                (Some(dim), Some(h)) if h > 0 => Some(dim / h),
                _ => None,
            });
        Ok(ModelMeta {
            display_name: file.get_str("general.name").map(str::to_string),
            parameters: file.tensors().iter().map(|t| t.n_elements()).sum(),
            quantization: dominant_type(file),
            context_length: hp("context_length"),
            layers: hp("block_count"),
            kv_heads: hp("attention.head_count_kv").or(heads),
            head_dim,
            weights_bytes: file.tensor_bytes_total(),
            architecture: arch,
        })
    }

    /// The shape the memory estimate needs, when the header had all of it.
    pub fn shape(&self) -> Option<ModelShape> {
        Some(ModelShape {
            weights_bytes: self.weights_bytes,
            layers: self.layers?,
            kv_heads: self.kv_heads?,
            head_dim: self.head_dim?,
        })
    }
}

/// Counted over matrices only: norms and biases are F32 in every quantization and would
/// otherwise win for tiny models.
fn dominant_type(file: &GgufFile) -> String {
    let mut by_type: HashMap<&'static str, u64> = HashMap::new();
    let matrices = file
        .tensors()
        .iter()
        .filter(|t| t.dims.iter().filter(|&&d| d > 1).count() >= 2);
    for t in matrices {
        *by_type.entry(t.ggml_type.name()).or_default() += t.n_elements();
    }
    if by_type.is_empty() {
        for t in file.tensors() {
            *by_type.entry(t.ggml_type.name()).or_default() += t.n_elements();
        }
    }
    // Ties resolve by name so the answer never depends on hash order.
    by_type
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| "unknown".to_string())
}
