//! The server-sent events of a streaming chat completion: `data: {json}` lines, ending with
//! `data: [DONE]`. Bytes arrive in arbitrary pieces, so lines are reassembled first.

use serde_json::Value;

/// Splits a byte stream into the payloads of its `data:` lines.
#[derive(Default)]
pub struct SseLines {
    buf: Vec<u8>,
    /// `data:` lines seen so far (none at the end means the answer was not an event stream).
    pub data_lines: usize,
}

impl SseLines {
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            // Comments (`:`), `event:`, `id:`, `retry:` and blank lines carry nothing we use.
            if let Some(data) = line.strip_prefix("data:") {
                self.data_lines += 1;
                out.push(data.strip_prefix(' ').unwrap_or(data).to_string());
            }
        }
        out
    }

    /// Bytes after the last line break (a line still arriving, or a body that is not SSE).
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// What one event says.
#[derive(Debug, Default, PartialEq)]
pub struct Delta {
    pub content: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

#[derive(Debug, PartialEq)]
pub enum Event {
    Delta(Delta),
    Done,
}

#[derive(Debug, PartialEq)]
pub enum ParseError {
    /// Not what the OpenAI API sends.
    Malformed(String),
    /// The provider reported an error inside the stream.
    Remote(String),
}

/// A short, printable excerpt of what a server sent.
pub fn excerpt(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 120 {
        format!("{}…", one_line.chars().take(120).collect::<String>())
    } else {
        one_line
    }
}

/// The `error.message` (or `error`, `message`, `detail`) of an error body.
pub fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error").unwrap_or(v);
    e.get("message")
        .or_else(|| v.get("detail"))
        .and_then(Value::as_str)
        .or_else(|| e.as_str())
        .map(str::to_string)
}

fn usage(v: &Value) -> Option<Usage> {
    let u = v.get("usage").filter(|u| u.is_object())?;
    let n = |k: &str| {
        u.get(k)
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(u32::MAX as u64) as u32
    };
    Some(Usage {
        prompt_tokens: n("prompt_tokens"),
        completion_tokens: n("completion_tokens"),
    })
}

/// Parses the payload of one `data:` line of `/chat/completions` with `stream: true`.
pub fn parse_data(data: &str) -> Result<Event, ParseError> {
    let data = data.trim();
    if data == "[DONE]" {
        return Ok(Event::Done);
    }
    let v: Value = serde_json::from_str(data)
        .map_err(|_| ParseError::Malformed(format!("an event is not JSON: {}", excerpt(data))))?;
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(ParseError::Remote(
            error_message(&v).unwrap_or_else(|| excerpt(data)),
        ));
    }
    let usage = usage(&v);
    let Some(choices) = v.get("choices").and_then(Value::as_array) else {
        // The final usage-only event of `stream_options.include_usage` may omit choices.
        return match usage {
            Some(_) => Ok(Event::Delta(Delta {
                usage,
                ..Delta::default()
            })),
            None => Err(ParseError::Malformed(format!(
                "an event has no choices: {}",
                excerpt(data)
            ))),
        };
    };
    let first = choices.first();
    let text = |k: &str| {
        first
            .and_then(|c| c.get("delta"))
            .and_then(|d| d.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(Event::Delta(Delta {
        content: text("content"),
        finish_reason: first
            .and_then(|c| c.get("finish_reason"))
            .and_then(Value::as_str)
            .map(str::to_string),
        usage,
    }))
}

/// A whole (non-streaming) completion, for servers that ignore `stream: true`.
pub fn parse_completion(body: &str) -> Result<Delta, ParseError> {
    let v: Value = serde_json::from_str(body)
        .map_err(|_| ParseError::Malformed(format!("the answer is not JSON: {}", excerpt(body))))?;
    if v.get("error").is_some_and(|e| !e.is_null()) {
        return Err(ParseError::Remote(
            error_message(&v).unwrap_or_else(|| excerpt(body)),
        ));
    }
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| ParseError::Malformed(format!("no choices in {}", excerpt(body))))?;
    Ok(Delta {
        content: choice
            .pointer("/message/content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        finish_reason: choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(str::to_string),
        usage: usage(&v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks() {
        let mut s = SseLines::default();
        assert!(s.push(b": keep-alive\n\nda").is_empty());
        assert_eq!(
            s.push(b"ta: {\"a\":1}\r\n\r\ndata:[DONE]"),
            vec!["{\"a\":1}"]
        );
        assert_eq!(s.pending(), b"data:[DONE]");
        assert_eq!(s.push(b"\n"), vec!["[DONE]"]);
        assert_eq!(s.data_lines, 2);
        // A UTF-8 character split between chunks stays whole.
        let text = "data: {\"x\":\"é\"}\n".as_bytes();
        assert!(s.push(&text[..13]).is_empty());
        assert_eq!(s.push(&text[13..]), vec!["{\"x\":\"é\"}"]);
    }

    #[test]
    fn events() {
        let d = parse_data(
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
        );
        assert_eq!(
            d,
            Ok(Event::Delta(Delta {
                content: "Hi".into(),
                ..Delta::default()
            }))
        );
        let d = parse_data(r#"{"choices":[{"delta":{},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":7}}"#).unwrap();
        let Event::Delta(d) = d else { panic!() };
        assert_eq!(d.finish_reason.as_deref(), Some("length"));
        assert_eq!(
            d.usage,
            Some(Usage {
                prompt_tokens: 5,
                completion_tokens: 7
            })
        );
        assert!(matches!(
            parse_data(r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#),
            Ok(Event::Delta(_))
        ));
        assert_eq!(parse_data(" [DONE] "), Ok(Event::Done));
        assert!(matches!(
            parse_data("{not json"),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            parse_data(r#"{"id":"x"}"#),
            Err(ParseError::Malformed(_))
        ));
        assert_eq!(
            parse_data(r#"{"error":{"message":"model overloaded","type":"server_error"}}"#),
            Err(ParseError::Remote("model overloaded".into()))
        );
    }

    #[test]
    fn whole_completion() {
        let d = parse_completion(r#"{"choices":[{"message":{"role":"assistant","content":"Paris."},"finish_reason":"stop"}]}"#).unwrap();
        assert_eq!(
            (d.content.as_str(), d.finish_reason.as_deref()),
            ("Paris.", Some("stop"))
        );
        assert!(parse_completion("<html>").is_err());
    }
}
