//! HTTP to a provider: its model list and a streaming chat completion. One shared client:
//! rustls with ring (as woolly-hub), no redirects (a key must never follow one to another
//! host), bounded connect and idle-read times.

use super::sse::{error_message, excerpt};
use super::ProviderError;
use crate::types::ProviderModel;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Client, RequestBuilder, Response};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest silence inside an answer (a big model's prefill can take a while).
const READ_TIMEOUT: Duration = Duration::from_secs(300);
const LIST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest model list or error body read.
const MAX_BODY: usize = 8 << 20;

fn client(url: &str) -> Result<&'static Client, ProviderError> {
    static PROXIED: OnceLock<Option<Client>> = OnceLock::new();
    static DIRECT: OnceLock<Option<Client>> = OnceLock::new();
    let build = |direct: bool| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("woolly-desktop/", env!("CARGO_PKG_VERSION")));
        if direct {
            b = b.no_proxy();
        }
        b.build().ok()
    };
    // This machine's providers are reached directly: through a proxy (HTTP_PROXY without a
    // NO_PROXY for localhost) a plain-http key would leave the machine.
    let direct = is_direct(url);
    let slot = if direct { &DIRECT } else { &PROXIED };
    slot.get_or_init(|| build(direct))
        .as_ref()
        .ok_or_else(|| ProviderError::Unreachable {
            url: url.to_string(),
            reason: "the HTTP client could not start".into(),
        })
}

/// Whether `url` is on this machine (loopback), so never sent through a proxy.
fn is_direct(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| super::store::is_loopback(&u))
}

/// The innermost cause ("Connection refused (os error 111)"), not reqwest's wrapper text.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A request that did not get an answer.
pub fn transport_error(url: &str, e: &reqwest::Error) -> ProviderError {
    let reason = if e.is_timeout() {
        "it did not answer in time".to_string()
    } else {
        root_cause(e)
    };
    ProviderError::Unreachable {
        url: url.to_string(),
        reason,
    }
}

/// Checks the base URL again before anything is sent: a provider saved before plain
/// `http://` to other machines was refused is refused here rather than sent its key.
fn safe_to_send(base_url: &str) -> Result<(), ProviderError> {
    super::store::normalize_base_url(base_url).map(drop)
}

fn authorized(req: RequestBuilder, key: Option<&str>) -> RequestBuilder {
    match key {
        Some(k) => req.bearer_auth(k),
        None => req,
    }
}

/// Reads at most `MAX_BODY` bytes of a body as text.
async fn read_body(url: &str, mut resp: Response) -> Result<String, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(url, &e))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_BODY {
            return Err(ProviderError::BadResponse {
                url: url.to_string(),
                detail: "the answer is too large".into(),
            });
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Passes 2xx answers; turns the others into errors with the provider's own message.
async fn check(url: &str, resp: Response) -> Result<Response, ProviderError> {
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        return Ok(resp);
    }
    if status == 401 || status == 403 {
        return Err(ProviderError::Unauthorized {
            url: url.to_string(),
            status,
        });
    }
    let body = read_body(url, resp).await.unwrap_or_default();
    let mut message = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| error_message(&v))
        .unwrap_or_else(|| excerpt(&body));
    if message.is_empty() {
        message = "no details".into();
    }
    if status == 404 && !url.contains("/v1/") {
        message.push_str(" (does the base URL need /v1 at the end?)");
    }
    Err(ProviderError::Status {
        url: url.to_string(),
        status,
        message,
    })
}

/// `GET {base}/models`.
pub async fn list_models(
    base_url: &str,
    key: Option<&str>,
) -> Result<Vec<ProviderModel>, ProviderError> {
    let url = format!("{base_url}/models");
    safe_to_send(base_url)?;
    let req = authorized(client(&url)?.get(&url), key).timeout(LIST_TIMEOUT);
    let resp = req.send().await.map_err(|e| transport_error(&url, &e))?;
    let body = read_body(&url, check(&url, resp).await?).await?;
    let bad = |detail: String| ProviderError::BadResponse {
        url: url.clone(),
        detail,
    };
    let v: Value = serde_json::from_str(&body)
        .map_err(|_| bad(format!("the model list is not JSON: {}", excerpt(&body))))?;
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("the model list has no data: {}", excerpt(&body))))?;
    data.iter()
        .map(|m| {
            let id = m
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            id.map(|id| ProviderModel {
                id: id.to_string(),
                owned_by: m
                    .get("owned_by")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
            .ok_or_else(|| bad(format!("a model has no id: {}", excerpt(&m.to_string()))))
        })
        .collect()
}

/// `POST {base}/chat/completions` with `body` (which asks for `stream: true`); resolves once
/// the answer's status and headers arrived.
pub async fn start_chat(
    base_url: &str,
    key: Option<&str>,
    body: &Value,
) -> Result<Response, ProviderError> {
    let url = format!("{base_url}/chat/completions");
    safe_to_send(base_url)?;
    let bytes = serde_json::to_vec(body).map_err(|e| ProviderError::Invalid(e.to_string()))?;
    let req = authorized(client(&url)?.post(&url), key)
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "text/event-stream")
        .body(bytes);
    let resp = req.send().await.map_err(|e| transport_error(&url, &e))?;
    check(&url, resp).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_providers_bypass_proxies() {
        for url in [
            "http://127.0.0.1:8080/v1/models",
            "http://localhost:11434/v1/chat/completions",
            "http://[::1]:8000/v1/models",
        ] {
            assert!(super::is_direct(url), "{url}");
        }
        for url in [
            "https://api.example.com/v1/models",
            "https://10.0.0.5/v1/models",
            "",
        ] {
            assert!(!super::is_direct(url), "{url}");
        }
    }
}
