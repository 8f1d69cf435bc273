//! OpenAI request bodies, their validation, and the JSON the server answers with.

use crate::error::ApiError;
use crate::tools::{self, ToolChoice, Tools};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use woolly_core::chat::ChatMessage;
use woolly_core::engine::{GenerationStats, MAX_TOP_LOGPROBS};
use woolly_core::grammar::Constraint;
use woolly_core::sampling::SamplingParams;

/// Most stop sequences one request may give.
const MAX_STOP_SEQUENCES: usize = 16;

/// `POST /v1/chat/completions` (and the WebSocket's `chat` message).
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<InMessage>,
    #[serde(flatten)]
    pub params: CommonParams,
}

/// `POST /v1/completions` (and the WebSocket's `completion` message).
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub prompt: PromptInput,
    #[serde(default)]
    pub echo: Option<bool>,
    #[serde(default)]
    pub suffix: Option<String>,
    #[serde(default)]
    pub best_of: Option<u32>,
    #[serde(flatten)]
    pub params: CommonParams,
}

#[derive(Debug, Deserialize)]
pub struct InMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<MessageContent>,
    /// An assistant turn's calls, as this server returned them.
    #[serde(default)]
    pub tool_calls: Option<Vec<Value>>,
    /// A `tool` turn: the call it answers.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StopInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// Parameters shared by chat and completions requests. Unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct CommonParams {
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub top_p: Option<f32>,
    #[serde(default)]
    pub presence_penalty: Option<f32>,
    #[serde(default)]
    pub frequency_penalty: Option<f32>,
    #[serde(default)]
    pub seed: Option<serde_json::Number>,
    #[serde(default)]
    pub stop: Option<StopInput>,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub logit_bias: Option<HashMap<String, f32>>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    /// Accepted and ignored (serde skips it): with `auto` the model may make several
    /// calls; a reply forced to call (`required`, a named function) makes one.
    #[serde(default)]
    pub response_format: Option<Value>,
    /// Chat: `true`/`false`; completions: how many alternatives (0-20).
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Chat: how many alternatives (0-20), with `logprobs: true`.
    #[serde(default)]
    pub top_logprobs: Option<i64>,
    // Extensions (llama.cpp-style).
    #[serde(default)]
    pub top_k: Option<u32>,
    #[serde(default)]
    pub min_p: Option<f32>,
    #[serde(default)]
    pub repeat_penalty: Option<f32>,
    #[serde(default)]
    pub ignore_eos: Option<bool>,
}

/// What [`CommonParams`] turn into after validation.
#[derive(Debug, Clone)]
pub struct Settings {
    pub stream: bool,
    pub include_usage: bool,
    pub max_tokens: Option<usize>,
    pub sampling: SamplingParams,
    pub stop: Vec<String>,
    pub ignore_eos: bool,
    /// Each token's log-probability with this many alternatives.
    pub logprobs: Option<usize>,
    /// `response_format`: the reply must be JSON (of a schema).
    pub format: Option<Constraint>,
    pub tools: Tools,
    pub tool_choice: ToolChoice,
}

fn check_range(value: Option<f32>, lo: f32, hi: f32, name: &str) -> Result<(), ApiError> {
    match value {
        Some(v) if !(lo..=hi).contains(&v) => Err(ApiError::invalid(
            format!("{v} is not a valid value for `{name}`: it must be between {lo} and {hi}"),
            Some(name),
        )),
        _ => Ok(()),
    }
}

impl CommonParams {
    pub fn validate(&self, kind: Kind) -> Result<Settings, ApiError> {
        check_range(self.temperature, 0.0, 2.0, "temperature")?;
        check_range(self.top_p, 0.0, 1.0, "top_p")?;
        check_range(self.presence_penalty, -2.0, 2.0, "presence_penalty")?;
        check_range(self.frequency_penalty, -2.0, 2.0, "frequency_penalty")?;
        check_range(self.min_p, 0.0, 1.0, "min_p")?;
        check_range(self.repeat_penalty, 0.0, 10.0, "repeat_penalty")?;
        if let Some(n) = self.n {
            if n != 1 {
                return Err(ApiError::invalid("Only `n` = 1 is supported", Some("n")));
            }
        }
        let (tools, tool_choice) = match kind {
            Kind::Chat => tools::validate(self.tools.as_deref(), self.tool_choice.as_ref())?,
            Kind::Completion => (Tools::default(), ToolChoice::None),
        };
        let format = response_format(self.response_format.as_ref())?;
        if format.is_some() && matches!(tool_choice, ToolChoice::Required | ToolChoice::Function(_))
        {
            return Err(ApiError::invalid(
                "`response_format` cannot be combined with a `tool_choice` that forces a call",
                Some("response_format"),
            ));
        }
        let logprobs = self.logprobs(kind)?;
        let (max_tokens, max_param) = match (self.max_completion_tokens, self.max_tokens) {
            (Some(n), _) => (Some(n), "max_completion_tokens"),
            (None, n) => (n, "max_tokens"),
        };
        let max_tokens = match max_tokens {
            Some(n) if n < 1 => {
                return Err(ApiError::invalid(
                    format!("{n} is not a valid value for `{max_param}`: it must be at least 1"),
                    Some(max_param),
                ))
            }
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None => None,
        };
        let stop: Vec<String> = match &self.stop {
            None => Vec::new(),
            Some(StopInput::One(s)) => vec![s.clone()],
            Some(StopInput::Many(v)) => v.clone(),
        };
        let stop: Vec<String> = stop.into_iter().filter(|s| !s.is_empty()).collect();
        if stop.len() > MAX_STOP_SEQUENCES {
            return Err(ApiError::invalid(
                format!("At most {MAX_STOP_SEQUENCES} stop sequences are supported"),
                Some("stop"),
            ));
        }
        let mut sampling = SamplingParams::default();
        if let Some(t) = self.temperature {
            sampling.temperature = t;
        }
        if let Some(p) = self.top_p {
            sampling.top_p = p;
        }
        if let Some(k) = self.top_k {
            sampling.top_k = k as usize;
        }
        if let Some(p) = self.min_p {
            sampling.min_p = p;
        }
        if let Some(r) = self.repeat_penalty {
            sampling.repeat_penalty = r;
        }
        sampling.presence_penalty = self.presence_penalty.unwrap_or(0.0);
        sampling.frequency_penalty = self.frequency_penalty.unwrap_or(0.0);
        if let Some(seed) = &self.seed {
            let seed = seed
                .as_u64()
                .or_else(|| seed.as_i64().map(|s| s as u64))
                .ok_or_else(|| ApiError::invalid("`seed` must be an integer", Some("seed")))?;
            sampling.seed = Some(seed);
        }
        if let Some(bias) = &self.logit_bias {
            for (token, b) in bias {
                let id: u32 = token.parse().map_err(|_| {
                    ApiError::invalid(
                        format!("Invalid token id in `logit_bias`: {token:?}"),
                        Some("logit_bias"),
                    )
                })?;
                check_range(Some(*b), -100.0, 100.0, "logit_bias")?;
                sampling.logit_bias.push((id, *b));
            }
            sampling.logit_bias.sort_by_key(|(id, _)| *id);
        }
        let stream = self.stream.unwrap_or(false);
        Ok(Settings {
            stream,
            include_usage: stream
                && self
                    .stream_options
                    .as_ref()
                    .is_some_and(|o| o.include_usage),
            max_tokens,
            sampling,
            stop,
            ignore_eos: self.ignore_eos.unwrap_or(false),
            logprobs,
            format,
            tools,
            tool_choice,
        })
    }

    /// Chat: `logprobs: true` with `top_logprobs` 0-20; completions: `logprobs` 0-20.
    fn logprobs(&self, kind: Kind) -> Result<Option<usize>, ApiError> {
        let count = |n: i64, name: &str| {
            usize::try_from(n)
                .ok()
                .filter(|&n| n <= MAX_TOP_LOGPROBS)
                .ok_or_else(|| {
                    ApiError::invalid(
                        format!("{n} is not a valid value for `{name}`: it must be between 0 and {MAX_TOP_LOGPROBS}"),
                        Some(name),
                    )
                })
        };
        match kind {
            Kind::Chat => {
                let on = match &self.logprobs {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => {
                        return Err(ApiError::invalid(
                            "`logprobs` must be true or false",
                            Some("logprobs"),
                        ))
                    }
                };
                match (on, self.top_logprobs) {
                    (false, Some(_)) => Err(ApiError::invalid(
                        "`top_logprobs` needs `logprobs` set to true",
                        Some("top_logprobs"),
                    )),
                    (false, None) => Ok(None),
                    (true, n) => count(n.unwrap_or(0), "top_logprobs").map(Some),
                }
            }
            Kind::Completion => match &self.logprobs {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(n) => count(n, "logprobs").map(Some),
                    None => Err(ApiError::invalid(
                        "`logprobs` must be an integer",
                        Some("logprobs"),
                    )),
                },
                Some(_) => Err(ApiError::invalid(
                    "`logprobs` must be an integer between 0 and 20",
                    Some("logprobs"),
                )),
            },
        }
    }
}

/// `response_format`: `text`, `json_object`, or `json_schema` with its `schema`.
fn response_format(format: Option<&Value>) -> Result<Option<Constraint>, ApiError> {
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let bad = |msg: &str| ApiError::invalid(msg.to_owned(), Some("response_format"));
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Constraint::JsonObject)),
        Some("json_schema") => {
            let spec = format
                .get("json_schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    bad("`response_format.json_schema` must be an object with a `schema`")
                })?;
            match spec.get("schema") {
                None | Some(Value::Null) => Ok(Some(Constraint::JsonObject)),
                Some(schema @ Value::Object(_)) => Ok(Some(Constraint::JsonSchema(schema.clone()))),
                Some(_) => Err(bad(
                    "`response_format.json_schema.schema` must be a JSON schema object",
                )),
            }
        }
        _ => Err(bad(
            "`response_format.type` must be \"text\", \"json_object\" or \"json_schema\"",
        )),
    }
}

/// Chat messages for the template. Text parts are joined; other parts are refused.
pub fn chat_messages(messages: Vec<InMessage>) -> Result<Vec<ChatMessage>, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "`messages` must contain at least one message",
            Some("messages"),
        ));
    }
    messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let content = match m.content {
                None => String::new(),
                Some(MessageContent::Text(t)) => t,
                Some(MessageContent::Parts(parts)) => {
                    let mut text = String::new();
                    for (j, part) in parts.into_iter().enumerate() {
                        match (part.kind.as_str(), part.text) {
                            ("text", Some(t)) => text.push_str(&t),
                            (kind, _) => {
                                return Err(ApiError::invalid(
                                    format!("Content parts of type {kind:?} are not supported (only \"text\")"),
                                    Some(&format!("messages[{i}].content[{j}]")),
                                ))
                            }
                        }
                    }
                    text
                }
            };
            // "developer" is the newer name for "system"; templates know "system".
            let role = if m.role == "developer" { "system".to_owned() } else { m.role };
            let mut message = ChatMessage::new(role, content);
            message.tool_calls = m
                .tool_calls
                .unwrap_or_default()
                .into_iter()
                .map(template_call)
                .collect();
            message.tool_call_id = m.tool_call_id;
            message.name = m.name;
            Ok(message)
        })
        .collect()
}

/// A call as templates read it: arguments as an object (OpenAI sends them as JSON text).
fn template_call(mut call: Value) -> Value {
    if let Some(args) = call.pointer_mut("/function/arguments") {
        if let Some(parsed) = args
            .as_str()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
        {
            *args = parsed;
        }
    }
    call
}

/// A generation's `usage` object.
pub fn usage(stats: &GenerationStats) -> Value {
    json!({
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.generated_tokens,
        "total_tokens": stats.prompt_tokens + stats.generated_tokens,
        "prompt_tokens_details": {"cached_tokens": stats.cached_tokens},
    })
}

/// Woolly's extension: engine timings (queueing not included).
pub fn timings(stats: &GenerationStats) -> Value {
    json!({
        "prompt_tokens": stats.prompt_tokens,
        "cached_tokens": stats.cached_tokens,
        "prefill_tok_s": stats.prefill_tok_s,
        "decode_tok_s": stats.decode_tok_s,
        "time_to_first_token_ms": stats.time_to_first_token_ms,
        "total_ms": stats.total_ms,
    })
}

/// The two response flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Completion,
}
