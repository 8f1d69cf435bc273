//! The one error type every command returns: `{"code": "<snake_case>", "message": "…"}`.

use crate::types::ContextOverflow;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    InvalidArgument,
    Busy,
    NoModel,
    InsufficientMemory,
    ModelLoadFailed,
    GenerationFailed,
    DownloadFailed,
    HashMismatch,
    DiskFull,
    Cancelled,
    Io,
    /// The OS keychain refused or is missing (no Secret Service on this desktop).
    Keychain,
    /// The local API server could not start (port in use, no permission).
    ServerFailed,
    /// A remote provider could not be reached (connection refused, DNS, timeout).
    Unreachable,
    /// A remote provider refused the API key (401/403).
    Unauthorized,
    /// A remote provider answered something that is not the OpenAI API.
    BadResponse,
    /// The conversation no longer fits the context window; the error carries the numbers
    /// and nothing was dropped (the user chooses: drop the oldest messages, new chat, or a
    /// larger context).
    ContextFull,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::InvalidArgument => "invalid_argument",
            Self::Busy => "busy",
            Self::NoModel => "no_model",
            Self::InsufficientMemory => "insufficient_memory",
            Self::ModelLoadFailed => "model_load_failed",
            Self::GenerationFailed => "generation_failed",
            Self::DownloadFailed => "download_failed",
            Self::HashMismatch => "hash_mismatch",
            Self::DiskFull => "disk_full",
            Self::Cancelled => "cancelled",
            Self::Io => "io",
            Self::Keychain => "keychain",
            Self::ServerFailed => "server_failed",
            Self::Unreachable => "unreachable",
            Self::Unauthorized => "unauthorized",
            Self::BadResponse => "bad_response",
            Self::ContextFull => "context_full",
            Self::Internal => "internal",
        }
    }
}

/// What a failed command rejects with. The message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    /// With `context_full`: how far over the window the conversation is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextOverflow>,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            context: None,
        }
    }
    /// `context_full`, with the numbers and a message that says them.
    pub fn context_full(o: ContextOverflow) -> Self {
        let message = match o.drop_messages {
            Some(n) => format!(
                "This conversation no longer fits the model's context window: it needs {} tokens (prompt {} + reply {}) of {}. Leave out the {n} oldest message{}, start a new chat, or raise the context length in the chat settings.",
                o.tokens_needed, o.prompt_tokens, o.reply_reserve, o.context_length,
                if n == 1 { "" } else { "s" }
            ),
            None => format!(
                "The last message is too long for the model's context window: it needs {} tokens (prompt {} + reply {}) of {}. Shorten it or raise the context length in the chat settings.",
                o.tokens_needed, o.prompt_tokens, o.reply_reserve, o.context_length
            ),
        };
        Self {
            code: ErrorCode::ContextFull,
            message,
            context: Some(o),
        }
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, what)
    }
    pub fn invalid(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, what)
    }
    pub fn internal(what: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, what)
    }
    pub fn busy() -> Self {
        Self::new(
            ErrorCode::Busy,
            "This conversation is already generating a reply.",
        )
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Self::not_found("Not found."),
            e => Self::new(ErrorCode::Io, format!("Database error: {e}")),
        }
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        Self::new(ErrorCode::Io, e.to_string())
    }
}

impl From<woolly_core::engine::EngineError> for AppError {
    fn from(e: woolly_core::engine::EngineError) -> Self {
        use woolly_core::engine::EngineError as E;
        let code = match &e {
            E::InsufficientMemory { .. } => ErrorCode::InsufficientMemory,
            E::Gguf(_) | E::Config(_) | E::Tokenizer(_) | E::Model(_) => ErrorCode::ModelLoadFailed,
            E::PromptTooLong { .. } | E::EmptyPrompt | E::Grammar(_) => ErrorCode::InvalidArgument,
            E::Chat(_) | E::Internal(_) | E::GpuFailed(_) => ErrorCode::GenerationFailed,
        };
        Self::new(code, e.to_string())
    }
}

impl From<woolly_hub::HubError> for AppError {
    fn from(e: woolly_hub::HubError) -> Self {
        use woolly_hub::HubError as H;
        let code = match &e {
            H::HashMismatch { .. } => ErrorCode::HashMismatch,
            H::CatalogRefused { .. } => ErrorCode::BadResponse,
            H::CatalogFetch { .. } => ErrorCode::Unreachable,
            H::HubRequest { kind, .. } => match kind {
                woolly_hub::HubFailure::Unreachable | woolly_hub::HubFailure::Unavailable => {
                    ErrorCode::Unreachable
                }
                woolly_hub::HubFailure::Unauthorized => ErrorCode::Unauthorized,
                woolly_hub::HubFailure::NotFound => ErrorCode::NotFound,
                woolly_hub::HubFailure::BadResponse => ErrorCode::BadResponse,
                woolly_hub::HubFailure::Refused => ErrorCode::InvalidArgument,
            },
            H::InsufficientDisk { .. } | H::DiskFull { .. } => ErrorCode::DiskFull,
            H::Cancelled => ErrorCode::Cancelled,
            H::NotInstalled(_) => ErrorCode::NotFound,
            H::InvalidUrl { .. }
            | H::InvalidSha256(_)
            | H::InvalidName { .. }
            | H::AlreadyExists(_)
            | H::Gguf(_)
            | H::MissingHash { .. } => ErrorCode::InvalidArgument,
            H::Io { .. } | H::Index { .. } | H::NoDataDir => ErrorCode::Io,
            // The OS keychain refused or is missing: the UI says so for the token feature.
            H::Keyring(_) => ErrorCode::Keychain,
            H::Catalog(_) | H::Client(_) => ErrorCode::Internal,
            _ => ErrorCode::DownloadFailed,
        };
        Self::new(code, e.to_string())
    }
}
