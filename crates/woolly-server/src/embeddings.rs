//! `POST /v1/embeddings`: texts or token ids in, the loaded model's mean-pooled,
//! L2-normalized last hidden states out (floats or base64 of little-endian f32).

use crate::error::{ApiError, ApiJson};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

/// Most inputs one request may embed.
const MAX_INPUTS: usize = 256;

#[derive(Debug, Deserialize)]
pub struct EmbeddingRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub input: EmbeddingInput,
    #[serde(default)]
    pub encoding_format: Option<String>,
    #[serde(default)]
    pub dimensions: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

pub async fn embeddings(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EmbeddingRequest>,
) -> Result<Json<Value>, ApiError> {
    state.check_model(body.model.as_deref())?;
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                format!("Unknown `encoding_format` {other:?}: use \"float\" or \"base64\""),
                Some("encoding_format"),
            ))
        }
    };
    let engine = state.inner.engine.clone();
    let width = engine.info().embedding_length;
    if body.dimensions.is_some_and(|d| d as usize != width) {
        return Err(ApiError::invalid(
            format!(
                "This model's embeddings have {width} dimensions; `dimensions` cannot change that"
            ),
            Some("dimensions"),
        ));
    }
    let inputs: Vec<Vec<u32>> = match body.input {
        EmbeddingInput::Text(t) => vec![engine.embedding_tokens(&t)],
        EmbeddingInput::Texts(v) => v.iter().map(|t| engine.embedding_tokens(t)).collect(),
        EmbeddingInput::Tokens(ids) => vec![ids],
        EmbeddingInput::TokenLists(v) => v,
    };
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return Err(ApiError::invalid(
            format!("`input` must hold 1 to {MAX_INPUTS} texts or token lists"),
            Some("input"),
        ));
    }
    let vocab = engine.tokenizer().vocab_size();
    let context = engine.info().context_length;
    for (i, tokens) in inputs.iter().enumerate() {
        let bad = |msg: String| ApiError::invalid(msg, Some("input"));
        if tokens.is_empty() {
            return Err(bad(format!(
                "`input[{i}]` is empty: there is nothing to embed"
            )));
        }
        if tokens.len() > context {
            return Err(ApiError::InvalidRequest {
                message: format!(
                    "`input[{i}]` has {} tokens but the context holds {context}",
                    tokens.len()
                ),
                param: Some("input".into()),
                code: Some("context_length_exceeded"),
            });
        }
        if let Some(t) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(bad(format!(
                "Token id {t} is outside the vocabulary (size {vocab})"
            )));
        }
    }
    let prompt_tokens: usize = inputs.iter().map(Vec::len).sum();
    let vectors = crate::generation::exclusive(&state, move |engine| {
        inputs
            .iter()
            .map(|t| engine.embed(t))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": state.inner.engine.info().model_id,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    })))
}
