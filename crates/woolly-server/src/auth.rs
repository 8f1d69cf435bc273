//! Request guards: the bearer API key and the Host allow-list.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// Requires `Authorization: Bearer <key>` when a key is configured. The WebSocket route also
/// takes `?api_key=<key>`, since browsers cannot set headers on WebSockets.
pub async fn require_key(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(expected) = &state.inner.config.api_key {
        let from_header = bearer(req.headers());
        let from_query = if req.uri().path() == "/v1/ws" {
            Query::<HashMap<String, String>>::try_from_uri(req.uri())
                .ok()
                .and_then(|q| q.0.get("api_key").cloned())
        } else {
            None
        };
        let given = from_header.or(from_query).unwrap_or_default();
        if !keys_match(given.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::Unauthorized);
        }
    }
    Ok(next.run(req).await)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Compares in time independent of where the keys differ (only the length may leak).
pub fn keys_match(given: &[u8], expected: &[u8]) -> bool {
    !expected.is_empty() && bool::from(given.ct_eq(expected))
}

/// Refuses requests whose `Host` is not an allowed name: a web page that rebinds its own
/// domain to 127.0.0.1 (DNS rebinding) still sends its own domain as the Host. A request
/// without a `Host` (HTTP/1.0, a hand-made request) is refused too, and so is an
/// absolute-form target (`GET http://name/…`) naming another host.
pub async fn check_host(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if let Some(allowed) = &state.inner.config.allowed_hosts {
        let Some(host) = req.headers().get(header::HOST) else {
            return Err(ApiError::Forbidden(
                "A Host header is required; connect through localhost or 127.0.0.1".into(),
            ));
        };
        let host = host.to_str().unwrap_or_default();
        let target = req.uri().authority().map(|a| a.as_str());
        for name in std::iter::once(host).chain(target) {
            if !host_allowed(name, allowed) {
                return Err(ApiError::Forbidden(format!(
                    "Host {name:?} is not allowed; connect through localhost or 127.0.0.1"
                )));
            }
        }
    }
    Ok(next.run(req).await)
}

/// `host` is a Host header (`name[:port]`, `[v6]:port`).
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = if host.starts_with('[') {
        host.split_once(']')
            .map_or(host, |(h, _)| h)
            .trim_start_matches('[')
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let name = name.to_ascii_lowercase();
    name.ends_with(".localhost")
        || allowed.iter().any(|a| {
            a.trim_start_matches('[')
                .trim_end_matches(']')
                .eq_ignore_ascii_case(&name)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let allowed: Vec<String> = crate::ServerConfig::default().allowed_hosts.unwrap();
        for ok in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "[::1]:8080",
            "[::1]",
            "app.localhost:3",
        ] {
            assert!(host_allowed(ok, &allowed), "{ok}");
        }
        for bad in [
            "evil.com",
            "evil.com:8080",
            "127.0.0.1.evil.com",
            "localhost.evil.com:80",
            "[::2]:1",
        ] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
    }

    #[test]
    fn keys() {
        assert!(keys_match(b"secret", b"secret"));
        assert!(!keys_match(b"secreT", b"secret"));
        assert!(!keys_match(b"secret2", b"secret"));
        assert!(!keys_match(b"", b""));
    }

    #[test]
    fn bearer_scheme() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
