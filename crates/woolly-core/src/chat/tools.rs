//! Tool calling: the model's calls parsed out of its reply, the fallback prompt for chat
//! templates that know no tools, and the grammar that makes a reply one valid call.
//!
//! A call is written the way the model was trained to (its template tells which):
//! - Hermes / Qwen: `<tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>`, repeated;
//! - Llama 3.x: `{"name": "f", "parameters": {...}}` as the whole reply (after `<|python_tag|>`);
//! - Mistral: `[TOOL_CALLS] [{"name": "f", "arguments": {...}}, ...]`.
//!
//! Templates without tools get [`fallback_prompt`], which asks for the Hermes form.

use serde_json::{json, Map, Value};

/// One call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub name: String,
    /// The arguments object (what the model wrote, parsed).
    pub arguments: Value,
}

/// How a model writes tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSyntax {
    Hermes,
    Llama3,
    Mistral,
}

impl ToolSyntax {
    /// Read from a chat template's source; Hermes when it shows no other form.
    pub fn of_template(source: &str) -> Self {
        if source.contains("[TOOL_CALLS]") {
            ToolSyntax::Mistral
        } else if source.contains("<tool_call>") {
            ToolSyntax::Hermes
        } else if source.contains("<|python_tag|>") || source.contains("ipython") {
            ToolSyntax::Llama3
        } else {
            ToolSyntax::Hermes
        }
    }

    /// The key the call's arguments go under.
    fn arguments_key(self) -> &'static str {
        match self {
            ToolSyntax::Llama3 => "parameters",
            ToolSyntax::Hermes | ToolSyntax::Mistral => "arguments",
        }
    }
}

/// Added to the system message when the template cannot show tools: the tool list and the
/// Hermes call form. Documented in the server's README.
pub fn fallback_prompt(tools: &[Value]) -> String {
    let mut prompt = String::from(
        "You can call functions. To call one, reply with exactly this, one block per call:\n\
         <tool_call>\n{\"name\": \"<function name>\", \"arguments\": <arguments as a JSON object>}\n</tool_call>\n\
         Results come back in <tool_response> blocks. The functions:\n<tools>\n",
    );
    for tool in tools {
        prompt.push_str(&tool.to_string());
        prompt.push('\n');
    }
    prompt.push_str("</tools>");
    prompt
}

/// The reply's calls to functions named in `known`, and the text outside them; `None` when
/// the reply calls nothing. Every syntax is tried, whatever the template: small models mix them.
pub fn parse_calls(text: &str, known: &[&str]) -> Option<(String, Vec<ToolCall>)> {
    let (content, calls) = parse_tagged(text)
        .or_else(|| parse_mistral(text))
        .or_else(|| parse_bare(text))?;
    let calls: Vec<ToolCall> = calls
        .iter()
        .filter_map(call_of)
        .filter(|c| known.contains(&c.name.as_str()))
        .collect();
    (!calls.is_empty()).then_some((content, calls))
}

/// `<tool_call>{...}</tool_call>` blocks; the last may be unclosed (the reply was cut).
fn parse_tagged(text: &str) -> Option<(String, Vec<Value>)> {
    const OPEN: &str = "<tool_call>";
    const CLOSE: &str = "</tool_call>";
    let mut content = String::new();
    let mut calls = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        content.push_str(&rest[..at]);
        let body = &rest[at + OPEN.len()..];
        let (inner, after) = match body.find(CLOSE) {
            Some(end) => (&body[..end], &body[end + CLOSE.len()..]),
            None => (body, ""),
        };
        calls.push(serde_json::from_str(inner.trim()).ok()?);
        rest = after;
    }
    if calls.is_empty() {
        return None;
    }
    content.push_str(rest);
    Some((content.trim().to_owned(), calls))
}

/// `[TOOL_CALLS]` then a JSON array of calls (the marker may be a hidden control token).
fn parse_mistral(text: &str) -> Option<(String, Vec<Value>)> {
    let (before, after) = text.split_once("[TOOL_CALLS]")?;
    let calls = serde_json::from_str::<Vec<Value>>(after.trim()).ok()?;
    Some((before.trim().to_owned(), calls))
}

/// The whole reply is a call or an array of calls (Llama 3.x, or Mistral with its marker hidden).
fn parse_bare(text: &str) -> Option<(String, Vec<Value>)> {
    let body = text.trim().trim_start_matches("<|python_tag|>").trim();
    if !body.starts_with(['{', '[']) {
        return None;
    }
    match serde_json::from_str::<Value>(body).ok()? {
        Value::Array(calls) => Some((String::new(), calls)),
        call => Some((String::new(), vec![call])),
    }
}

/// `{"name", "arguments" | "parameters"}`; arguments given as a JSON string are parsed.
fn call_of(v: &Value) -> Option<ToolCall> {
    let v = v.get("function").unwrap_or(v);
    let name = v.get("name")?.as_str()?.to_owned();
    let arguments = match v.get("arguments").or_else(|| v.get("parameters")) {
        None => json!({}),
        Some(Value::String(s)) => serde_json::from_str(s).ok()?,
        Some(args) => args.clone(),
    };
    arguments
        .is_object()
        .then_some(ToolCall { name, arguments })
}

/// A grammar (llguidance Lark) whose only sentences are one call, in `syntax`, to one of
/// `functions` (`(name, parameters schema)`), its arguments valid against the schema.
/// `token_of` gives a marker's token id when the vocabulary has it as one token, so the
/// grammar asks for that token and not for its spelling.
pub fn call_grammar(
    syntax: ToolSyntax,
    functions: &[(&str, &Value)],
    token_of: impl Fn(&str) -> Option<u32>,
) -> String {
    let key = syntax.arguments_key();
    let mut defs = Map::new();
    let alternatives: Vec<Value> = functions
        .iter()
        .map(|(name, parameters)| {
            let mut parameters = (*parameters).clone();
            // `$ref`s point at the root: the parameters' definitions move there.
            for section in ["$defs", "definitions"] {
                if let Some(Value::Object(d)) =
                    parameters.as_object_mut().and_then(|p| p.remove(section))
                {
                    let into = defs
                        .entry(section)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(into) = into {
                        into.extend(d);
                    }
                }
            }
            json!({
                "type": "object",
                "properties": {"name": {"const": name}, key: parameters},
                "required": ["name", key],
                "additionalProperties": false,
            })
        })
        .collect();
    let mut schema = json!({"anyOf": alternatives});
    if let Value::Object(map) = &mut schema {
        map.extend(defs);
        map.insert(
            "x-guidance".into(),
            json!({"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "}),
        );
    }
    let marker = |text: &str| match token_of(text) {
        Some(id) => format!("<[{id}]>"),
        None => serde_json::to_string(text).unwrap_or_default(),
    };
    let start = match syntax {
        ToolSyntax::Hermes => format!(
            "start: {} \"\\n\" call \"\\n\" {}",
            marker("<tool_call>"),
            marker("</tool_call>")
        ),
        ToolSyntax::Llama3 => "start: call".to_owned(),
        ToolSyntax::Mistral => format!("start: {} \" [\" call \"]\"", marker("[TOOL_CALLS]")),
    };
    format!("{start}\ncall: %json {schema}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermes_blocks_and_text_around_them() {
        let text = "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\": \\\"CET\\\"}\"}</tool_call>";
        let (content, calls) = parse_calls(text, &["get_weather", "get_time"]).unwrap();
        assert_eq!(content, "Let me look.");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(calls[0].arguments, json!({"city": "Paris"}));
        assert_eq!(calls[1].arguments, json!({"tz": "CET"}));
    }

    #[test]
    fn llama3_and_mistral_forms() {
        let (_, calls) = parse_calls(
            "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"x\": 1}}",
            &["f"],
        )
        .unwrap();
        assert_eq!(calls[0].arguments, json!({"x": 1}));
        let (_, calls) = parse_calls(
            "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"f\", \"arguments\": {\"y\": 2}}]",
            &["f"],
        )
        .unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[1].arguments, json!({"y": 2}));
    }

    #[test]
    fn plain_text_and_unknown_functions_are_not_calls() {
        assert!(parse_calls("Paris is sunny.", &["f"]).is_none());
        assert!(parse_calls("{\"name\": \"other\", \"arguments\": {}}", &["f"]).is_none());
        assert!(parse_calls("<tool_call>not json</tool_call>", &["f"]).is_none());
    }

    #[test]
    fn syntax_follows_the_template() {
        assert_eq!(
            ToolSyntax::of_template("{{ '<tool_call>' }}"),
            ToolSyntax::Hermes
        );
        assert_eq!(ToolSyntax::of_template("[TOOL_CALLS]"), ToolSyntax::Mistral);
        assert_eq!(
            ToolSyntax::of_template("<|python_tag|>"),
            ToolSyntax::Llama3
        );
        assert_eq!(ToolSyntax::of_template("plain"), ToolSyntax::Hermes);
    }
}
