//! Tool calling in OpenAI's shapes: `tools` and `tool_choice` checked, the model's calls
//! turned into `tool_calls`, and a stream that holds text back while it may be a call.

use crate::error::ApiError;
use serde_json::{json, Value};
use woolly_core::chat::tools::parse_calls;
use woolly_core::chat::ToolCall;

/// Whether and how the model calls tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// No tools, or `"none"`: the model answers in text.
    None,
    /// The model chooses between text and calls.
    Auto,
    /// The reply is one call to one of the tools, its arguments valid.
    Required,
    /// The reply is one call to this function.
    Function(String),
}

/// The request's tools, checked: `(name, parameters schema)` in order, and the tools as the
/// template sees them.
#[derive(Debug, Clone, Default)]
pub struct Tools {
    pub functions: Vec<(String, Value)>,
    pub definitions: Vec<Value>,
}

impl Tools {
    pub fn names(&self) -> Vec<&str> {
        self.functions.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// Checks `tools` and `tool_choice`.
pub fn validate(
    tools: Option<&[Value]>,
    choice: Option<&Value>,
) -> Result<(Tools, ToolChoice), ApiError> {
    let mut checked = Tools::default();
    for (i, tool) in tools.unwrap_or_default().iter().enumerate() {
        let param = format!("tools[{i}]");
        let kind = tool
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("function");
        if kind != "function" {
            return Err(ApiError::invalid(
                format!("Tools of type {kind:?} are not supported (only \"function\")"),
                Some(&param),
            ));
        }
        let function = tool
            .get("function")
            .filter(|f| f.is_object())
            .ok_or_else(|| ApiError::invalid("A tool needs a `function` object", Some(&param)))?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| valid_name(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "A tool's `function.name` must be 1-64 letters, digits, `_` or `-`",
                    Some(&format!("{param}.function.name")),
                )
            })?;
        if checked.functions.iter().any(|(n, _)| n == name) {
            return Err(ApiError::invalid(
                format!("Two tools are named {name:?}"),
                Some(&param),
            ));
        }
        let parameters = match function.get("parameters") {
            None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "A tool's `function.parameters` must be a JSON schema object",
                    Some(&format!("{param}.function.parameters")),
                ))
            }
        };
        checked
            .functions
            .push((name.to_owned(), parameters.clone()));
        let mut function = function.clone();
        function["parameters"] = parameters;
        checked
            .definitions
            .push(json!({"type": "function", "function": function}));
    }
    let has_tools = !checked.functions.is_empty();
    let choice = match choice {
        None | Some(Value::Null) => {
            if has_tools {
                ToolChoice::Auto
            } else {
                ToolChoice::None
            }
        }
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            other => {
                return Err(ApiError::invalid(
                    format!("Unknown `tool_choice` {other:?}: use \"none\", \"auto\", \"required\" or a function"),
                    Some("tool_choice"),
                ))
            }
        },
        Some(v) => {
            let name = v
                .pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "`tool_choice` must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}",
                        Some("tool_choice"),
                    )
                })?;
            if !checked.functions.iter().any(|(n, _)| n == name) {
                return Err(ApiError::invalid(
                    format!("`tool_choice` names the function {name:?}, which is not in `tools`"),
                    Some("tool_choice"),
                ));
            }
            ToolChoice::Function(name.to_owned())
        }
    };
    if !has_tools && matches!(choice, ToolChoice::Required | ToolChoice::Auto) {
        return Err(ApiError::invalid(
            "`tool_choice` asks for a tool call but `tools` is empty",
            Some("tool_choice"),
        ));
    }
    Ok((checked, choice))
}

/// OpenAI's rule for function names.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The calls as OpenAI's `tool_calls`: ids, and arguments as JSON text.
pub fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|c| {
                json!({
                    "id": format!("call_{}", crate::unique_id()),
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments.to_string()},
                })
            })
            .collect(),
    )
}

/// The reply's calls (and the text beside them), when it made any.
pub fn calls_in(text: &str, tools: &Tools) -> Option<(String, Vec<ToolCall>)> {
    parse_calls(text, &tools.names())
}

/// Starts of a reply that may be a call: held back from a stream until it is clear.
const CALL_STARTS: [&str; 4] = ["<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "{"];

/// Streams text while it is plain text; from the point it may be a call, holds it back for
/// the end, where it turns out to be calls or more text.
#[derive(Debug, Default)]
pub struct CallFilter {
    /// Everything generated.
    all: String,
    /// How much of `all` has been let through.
    sent: usize,
    /// A call started at `all[held_from..]`: nothing more goes through.
    held_from: Option<usize>,
}

impl CallFilter {
    /// Adds generated text; returns what may be streamed now.
    pub fn push(&mut self, text: &str) -> String {
        self.all.push_str(text);
        if self.held_from.is_some() {
            return String::new();
        }
        let rest = &self.all[self.sent..];
        // A reply that opens with a call (after blanks), or a tagged call anywhere.
        let lead = rest.len() - rest.trim_start().len();
        let opening = self.sent == 0 || self.all[..self.sent].trim().is_empty();
        let start = if opening {
            let body = &rest[lead..];
            if CALL_STARTS.iter().any(|m| body.starts_with(m)) {
                Some(lead)
            } else if body.is_empty() || CALL_STARTS.iter().any(|m| m.starts_with(body)) {
                return String::new(); // not yet clear
            } else {
                rest.find("<tool_call>")
            }
        } else {
            rest.find("<tool_call>")
        };
        let end = match start {
            Some(at) => {
                self.held_from = Some(self.sent + at);
                at
            }
            // Keep back a tail that may be the beginning of `<tool_call>`.
            None => rest.len() - partial_marker(rest, "<tool_call>"),
        };
        let out = rest[..end].to_owned();
        self.sent += end;
        out
    }

    /// At the end: the calls, if the held text was any, and the text still to stream.
    pub fn finish(&mut self, tools: &Tools) -> (String, Vec<ToolCall>) {
        let rest = self.all[self.sent..].to_owned();
        self.sent = self.all.len();
        if self.held_from.is_some() || !rest.trim().is_empty() {
            if let Some((text, calls)) = calls_in(&rest, tools) {
                return (text, calls);
            }
        }
        (rest, Vec::new())
    }
}

/// How many bytes at the end of `text` are a proper beginning of `marker`.
fn partial_marker(text: &str, marker: &str) -> usize {
    (1..marker.len())
        .rev()
        .find(|&n| text.ends_with(&marker[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Tools {
        validate(
            Some(&[json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}})]),
            None,
        )
        .unwrap()
        .0
    }

    #[test]
    fn plain_text_streams_but_a_tag_is_held() {
        let mut f = CallFilter::default();
        let mut out = f.push("Hello");
        out += &f.push(" there <tool");
        assert_eq!(out, "Hello there ");
        out += &f.push("_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>");
        assert_eq!(out, "Hello there ");
        let (text, calls) = f.finish(&tools());
        assert_eq!(text, "");
        assert_eq!(calls[0].name, "f");
    }

    #[test]
    fn held_json_that_is_no_call_comes_out_at_the_end() {
        let mut f = CallFilter::default();
        let mut out = f.push(" {\"a\"");
        out += &f.push(": 1}");
        assert_eq!(
            out, " ",
            "only the blank before the possible call goes through"
        );
        let (text, calls) = f.finish(&tools());
        assert!(calls.is_empty());
        assert_eq!(out + &text, " {\"a\": 1}");
    }

    #[test]
    fn names_and_choices_are_checked() {
        let bad = validate(Some(&[json!({"type": "function", "function": {}})]), None);
        assert!(bad.unwrap_err().to_string().contains("name"));
        let unknown = validate(
            Some(&[json!({"function": {"name": "f"}})]),
            Some(&json!({"type": "function", "function": {"name": "g"}})),
        );
        assert!(unknown.unwrap_err().to_string().contains("\"g\""));
        assert!(validate(None, Some(&json!("required"))).is_err());
        assert_eq!(validate(None, None).unwrap().1, ToolChoice::None);
    }
}
