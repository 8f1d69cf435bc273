//! One GET with redirects followed by hand, so the token is checked against every hop's
//! host (reqwest's own redirect handling would decide that for us), and the helpers that
//! read range headers and describe failures.

use super::Failure;
use crate::auth::TokenScope;
use crate::error::HubError;
use reqwest::header::{HeaderMap, CONTENT_RANGE, LOCATION, RANGE};
use reqwest::{Client, Response, Url};

const MAX_REDIRECTS: usize = 10;

pub(crate) async fn get(
    client: &Client,
    url: &Url,
    range_from: u64,
    token: Option<&str>,
    scope: &TokenScope,
) -> Result<Response, Failure> {
    let mut current = url.clone();
    for _ in 0..=MAX_REDIRECTS {
        let mut request = client.get(current.clone());
        if range_from > 0 {
            request = request.header(RANGE, format!("bytes={range_from}-"));
        }
        if let Some(token) = token.filter(|_| scope.allows(&current)) {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Retry(describe(&e)))?;
        if !response.status().is_redirection() {
            return Ok(response);
        }
        let Some(location) = response.headers().get(LOCATION) else {
            return Ok(response);
        };
        let invalid = |reason: String| {
            Failure::Fatal(HubError::InvalidUrl {
                url: format!("{location:?} (redirect from {current})"),
                reason,
            })
        };
        let location = location.to_str().map_err(|e| invalid(e.to_string()))?;
        let next = current.join(location).map_err(|e| invalid(e.to_string()))?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(invalid("only http and https are followed".into()));
        }
        current = next;
    }
    Err(Failure::Fatal(HubError::TooManyRedirects {
        url: url.to_string(),
    }))
}

/// `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`) → (START, TOTAL).
pub(crate) fn content_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = headers.get(CONTENT_RANGE)?.to_str().ok()?.trim();
    let rest = v.strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = if total.trim() == "*" {
        None
    } else {
        Some(total.trim().parse().ok()?)
    };
    let (start, end) = range.trim().split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    (end >= start).then_some((start, total))
}

/// `Content-Range: bytes */TOTAL`, sent with 416.
pub(crate) fn unsatisfied_range_total(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get(CONTENT_RANGE)?.to_str().ok()?.trim();
    v.strip_prefix("bytes")?
        .trim_start()
        .strip_prefix("*/")?
        .trim()
        .parse()
        .ok()
}

/// An error with its causes, e.g. "error decoding response body: connection reset".
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(CONTENT_RANGE, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn parses_content_range() {
        assert_eq!(
            content_range(&h("bytes 100-199/1000")),
            Some((100, Some(1000)))
        );
        assert_eq!(content_range(&h("bytes 5-9/*")), Some((5, None)));
        assert_eq!(content_range(&h("bytes 9-5/10")), None);
        assert_eq!(content_range(&h("items 1-2/3")), None);
        assert_eq!(unsatisfied_range_total(&h("bytes */1000")), Some(1000));
        assert_eq!(unsatisfied_range_total(&h("bytes 1-2/3")), None);
    }
}
