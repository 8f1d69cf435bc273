//! Errors, in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use woolly_core::chat::ChatError;
use woolly_core::engine::EngineError;

/// Why a request failed. Every variant maps to a status code and an OpenAI error object.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a parameter is out of range.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    /// 401: missing or wrong API key.
    #[error("Incorrect API key provided. Send it as `Authorization: Bearer <key>`.")]
    Unauthorized,
    /// 403: refused by a safety check (Host or Origin not allowed).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such model.
    #[error("The model `{0}` does not exist. GET /v1/models lists the loaded model.")]
    ModelNotFound(String),
    /// 404: no such route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists but not for this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 408: the request took longer than the server's timeout.
    #[error("The request timed out.")]
    Timeout,
    /// 413: the body is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: too many requests are already waiting for the engine.
    #[error("The server is busy: {0} requests are already queued. Retry later.")]
    Busy(usize),
    /// The engine failed; prompt problems are 400, the rest 500.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// 500: something unexpected (a worker panicked, a channel closed).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
            code: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::ModelNotFound(_) | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Engine(e) if is_client_error(e) => StatusCode::BAD_REQUEST,
            Self::Engine(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `type` field.
    pub fn kind(&self) -> &'static str {
        match self.status() {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::FORBIDDEN => "permission_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            s if s.is_server_error() => "server_error",
            StatusCode::REQUEST_TIMEOUT => "timeout_error",
            _ => "invalid_request_error",
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            Self::InvalidRequest { param, .. } => param.as_deref(),
            Self::ModelNotFound(_) => Some("model"),
            Self::Engine(EngineError::PromptTooLong { .. } | EngineError::EmptyPrompt) => {
                Some("messages")
            }
            _ => None,
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest { code, .. } => *code,
            Self::Unauthorized => Some("invalid_api_key"),
            Self::ModelNotFound(_) => Some("model_not_found"),
            Self::NotFound(_) => Some("unknown_url"),
            Self::PayloadTooLarge(_) => Some("request_too_large"),
            Self::Busy(_) => Some("server_busy"),
            Self::Timeout => Some("timeout"),
            Self::Engine(EngineError::PromptTooLong { .. }) => Some("context_length_exceeded"),
            Self::Engine(EngineError::EmptyPrompt) => Some("empty_prompt"),
            _ => None,
        }
    }

    /// The error object: `{"error": {...}}`.
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.to_string(),
            "type": self.kind(),
            "param": self.param(),
            "code": self.code(),
        }})
    }
}

fn is_client_error(e: &EngineError) -> bool {
    matches!(
        e,
        EngineError::PromptTooLong { .. }
            | EngineError::EmptyPrompt
            | EngineError::Chat(ChatError::Render(_))
            | EngineError::Grammar(_)
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if matches!(self, Self::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let text = rejection.body_text();
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => {
                Self::PayloadTooLarge(format!("The request body is too large: {text}"))
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(format!(
                "Expected a JSON body with `Content-Type: application/json`: {text}"
            )),
            _ => Self::InvalidRequest {
                message: format!("We could not parse the JSON body of your request: {text}"),
                param: None,
                code: Some("invalid_json"),
            },
        }
    }
}

/// `axum::Json` with rejections in OpenAI's error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(rejection.into()),
        }
    }
}

/// Unknown routes.
pub async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "Unknown request URL: {} {}",
        req.method(),
        req.uri().path()
    ))
}

/// Known routes, wrong method.
pub async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "Method {} is not allowed for {}",
        req.method(),
        req.uri().path()
    ))
}

/// Rewrites error responses that layers produced in plain text (body limit, timeout) into
/// OpenAI's error shape, so clients always get a JSON error object.
pub async fn openai_error_shape(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let reason = status.canonical_reason().unwrap_or("error");
    let message = if text.is_empty() {
        reason.to_owned()
    } else {
        format!("{reason}: {text}")
    };
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed(message),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
        s if s.is_server_error() => ApiError::Internal(message),
        _ => ApiError::InvalidRequest {
            message,
            param: None,
            code: None,
        },
    };
    let mut out = Response::from_parts(parts, Body::from(error.body().to_string()));
    *out.status_mut() = status;
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out.headers_mut().remove(header::CONTENT_LENGTH);
    out
}

/// Most bytes of an oversized body read (and dropped) before answering 413.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Answers 413 to a body whose declared length is over `limit`. The body is read and
/// dropped first (up to 64 MiB), so the client, still sending, gets the answer rather than
/// a reset connection.
pub async fn refuse_oversized(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: Request,
    next: Next,
) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => {
            if n <= DRAIN_LIMIT {
                use futures_util::StreamExt;
                let mut body = req.into_body().into_data_stream();
                while let Some(Ok(_)) = body.next().await {}
            }
            ApiError::PayloadTooLarge(format!(
                "The request body is {n} bytes; this server accepts at most {limit} bytes."
            ))
            .into_response()
        }
        _ => next.run(req).await,
    }
}

/// Failures starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
