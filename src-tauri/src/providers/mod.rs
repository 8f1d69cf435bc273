//! Remote providers: OpenAI-compatible endpoints (vLLM, Ollama, llama.cpp server, a cloud
//! API, another Woolly) the user adds by base URL. Their names and URLs are kept in
//! `providers.json`, their keys in the keychain; a conversation chats through one when its
//! model id is a [`RemoteModel`] id (`remote:<provider id>:<model>`).

pub mod chat;
pub mod client;
pub mod sse;
pub mod store;

use crate::error::{AppError, ErrorCode};

/// The keychain entry of a provider's API key.
pub fn secret_name(provider_id: &str) -> String {
    format!("provider:{provider_id}")
}

/// The provider's key, read from the keychain only when one was stored.
pub fn provider_key(
    secrets: &dyn crate::secrets::SecretStore,
    p: &store::ProviderConfig,
) -> crate::AppResult<Option<String>> {
    if !p.has_api_key {
        return Ok(None);
    }
    match secrets.get(&secret_name(&p.id))? {
        Some(key) => Ok(Some(key)),
        None => Err(AppError::new(
            ErrorCode::Keychain,
            format!(
                "The API key of {} is missing from the system keychain. Save it again in Settings.",
                p.name
            ),
        )),
    }
}

/// A model of a provider, as a conversation's `model_id` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteModel {
    pub provider_id: String,
    pub model: String,
}

const PREFIX: &str = "remote:";

impl RemoteModel {
    /// `remote:<provider id>:<model>`; provider ids hold no `:`, model names may.
    pub fn parse(model_id: &str) -> Option<Self> {
        let (provider_id, model) = model_id.strip_prefix(PREFIX)?.split_once(':')?;
        (!provider_id.is_empty() && !model.is_empty()).then(|| Self {
            provider_id: provider_id.to_string(),
            model: model.to_string(),
        })
    }

    pub fn id(&self) -> String {
        format!("{PREFIX}{}:{}", self.provider_id, self.model)
    }
}

/// Why talking to a provider failed. The messages are shown to the user as they are.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("No such provider. It may have been removed; choose another model.")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("{url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url} refused the API key (HTTP {status}). Check the provider's key in Settings.")]
    Unauthorized { url: String, status: u16 },
    #[error("{url} answered HTTP {status}: {message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} reported an error: {message}")]
    Failed { url: String, message: String },
    #[error("{url} did not answer like an OpenAI-compatible API: {detail}")]
    BadResponse { url: String, detail: String },
}

impl From<ProviderError> for AppError {
    fn from(e: ProviderError) -> Self {
        let code = match &e {
            ProviderError::NotFound => ErrorCode::NotFound,
            ProviderError::Invalid(_) => ErrorCode::InvalidArgument,
            ProviderError::Unreachable { .. } => ErrorCode::Unreachable,
            ProviderError::Unauthorized { .. } => ErrorCode::Unauthorized,
            ProviderError::Status { status: 404, .. } => ErrorCode::NotFound,
            ProviderError::Status { status: 429, .. } => ErrorCode::Busy,
            ProviderError::Status { status, .. } if *status < 500 => ErrorCode::InvalidArgument,
            ProviderError::Status { .. } | ProviderError::Failed { .. } => {
                ErrorCode::GenerationFailed
            }
            ProviderError::BadResponse { .. } => ErrorCode::BadResponse,
        };
        AppError::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_model_ids() {
        let m = RemoteModel::parse("remote:abc123:llama3.1:8b").unwrap();
        assert_eq!(
            (m.provider_id.as_str(), m.model.as_str()),
            ("abc123", "llama3.1:8b")
        );
        assert_eq!(m.id(), "remote:abc123:llama3.1:8b");
        for bad in [
            "SmolLM2.gguf",
            "remote:",
            "remote:abc",
            "remote::m",
            "remote:abc:",
        ] {
            assert_eq!(RemoteModel::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn error_codes() {
        let url = "http://x/v1".to_string();
        let code = |e: ProviderError| AppError::from(e).code;
        assert_eq!(
            code(ProviderError::Unauthorized {
                url: url.clone(),
                status: 401
            }),
            ErrorCode::Unauthorized
        );
        assert_eq!(
            code(ProviderError::Unreachable {
                url: url.clone(),
                reason: "refused".into()
            }),
            ErrorCode::Unreachable
        );
        assert_eq!(
            code(ProviderError::Status {
                url: url.clone(),
                status: 503,
                message: "x".into()
            }),
            ErrorCode::GenerationFailed
        );
        assert_eq!(
            code(ProviderError::BadResponse {
                url,
                detail: "x".into()
            }),
            ErrorCode::BadResponse
        );
    }
}
