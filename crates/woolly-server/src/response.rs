//! Response bodies and stream chunks in OpenAI's shapes: text, tool calls, log-probabilities.

use crate::openai::{timings, usage, Kind};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use woolly_core::chat::ToolCall;
use woolly_core::engine::{Engine, Generation, TokenLogprob};

/// Builds response bodies and stream chunks for one request.
#[derive(Clone)]
pub struct Responder {
    pub kind: Kind,
    pub id: String,
    pub created: u64,
    pub model: String,
    pub include_usage: bool,
    /// Token texts for log-probabilities.
    engine: Arc<Engine>,
}

impl Responder {
    pub fn new(kind: Kind, engine: &Arc<Engine>, include_usage: bool) -> Self {
        let prefix = match kind {
            Kind::Chat => "chatcmpl",
            Kind::Completion => "cmpl",
        };
        Self {
            kind,
            id: format!("{prefix}-{}", crate::unique_id()),
            created: crate::unix_now(),
            model: engine.info().model_id.clone(),
            include_usage,
            engine: engine.clone(),
        }
    }

    /// The whole (non-streaming) response. `calls`: the tool calls found in the reply, with
    /// the text beside them.
    pub fn complete(
        &self,
        generation: &Generation,
        prefix: &str,
        calls: Option<(String, Vec<ToolCall>)>,
    ) -> Value {
        let stats = &generation.stats;
        let lp = &generation.logprobs;
        let choice = match self.kind {
            Kind::Chat => {
                let (message, finish) = match calls {
                    Some((text, calls)) => (
                        json!({
                            "role": "assistant",
                            "content": if text.is_empty() { Value::Null } else { json!(text) },
                            "refusal": null,
                            "tool_calls": crate::tools::tool_calls_json(&calls),
                        }),
                        "tool_calls",
                    ),
                    None => (
                        json!({
                            "role": "assistant",
                            "content": format!("{prefix}{}", generation.text),
                            "refusal": null,
                        }),
                        stats.stop_reason.as_str(),
                    ),
                };
                json!({
                    "index": 0,
                    "message": message,
                    "logprobs": self.logprobs_value(lp, None, prefix),
                    "finish_reason": finish,
                })
            }
            Kind::Completion => json!({
                "index": 0,
                "text": format!("{prefix}{}", generation.text),
                "logprobs": self.logprobs_value(lp, None, prefix),
                "finish_reason": stats.stop_reason.as_str(),
            }),
        };
        json!({
            "id": self.id,
            "object": match self.kind { Kind::Chat => "chat.completion", Kind::Completion => "text_completion" },
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": [choice],
            "usage": usage(stats),
            "timings": timings(stats),
        })
    }

    fn chunk(&self, choices: Value) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": match self.kind { Kind::Chat => "chat.completion.chunk", Kind::Completion => "text_completion" },
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": choices,
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    /// The first chunk (chat: the assistant role), if any.
    pub fn head_chunk(&self) -> Option<Value> {
        match self.kind {
            Kind::Chat => Some(self.chunk(json!([{
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": null,
                "finish_reason": null,
            }]))),
            Kind::Completion => None,
        }
    }

    /// A chunk carrying generated text and, when asked for, its tokens' log-probabilities.
    /// `offset`: where the text starts in the completion (for `text_offset`).
    pub fn text_chunk(
        &self,
        text: &str,
        logprobs: Option<&[TokenLogprob]>,
        offset: usize,
    ) -> Value {
        let lp = match logprobs {
            Some(lp) => self.logprobs_value(lp, Some(offset), ""),
            None => Value::Null,
        };
        self.chunk(match self.kind {
            Kind::Chat => json!([{"index": 0, "delta": {"content": text}, "logprobs": lp, "finish_reason": null}]),
            Kind::Completion => json!([{"index": 0, "text": text, "logprobs": lp, "finish_reason": null}]),
        })
    }

    /// One chunk per call: its id, type and name, and its arguments whole.
    pub fn tool_call_chunks(&self, calls: &[ToolCall]) -> Vec<Value> {
        let Value::Array(calls) = crate::tools::tool_calls_json(calls) else {
            return Vec::new();
        };
        calls
            .into_iter()
            .enumerate()
            .map(|(index, mut call)| {
                call["index"] = json!(index);
                self.chunk(json!([{
                    "index": 0,
                    "delta": {"tool_calls": [call]},
                    "logprobs": null,
                    "finish_reason": null,
                }]))
            })
            .collect()
    }

    /// The last chunks: the finish reason, then usage when asked for.
    pub fn tail_chunks(&self, generation: &Generation, finish: &str) -> Vec<Value> {
        let stats = &generation.stats;
        let mut last = self.chunk(match self.kind {
            Kind::Chat => {
                json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish}])
            }
            Kind::Completion => {
                json!([{"index": 0, "text": "", "logprobs": null, "finish_reason": finish}])
            }
        });
        last["timings"] = timings(stats);
        let mut chunks = vec![last];
        if self.include_usage {
            let mut u = self.chunk(json!([]));
            u["usage"] = usage(stats);
            chunks.push(u);
        }
        chunks
    }

    fn piece(&self, id: u32) -> (String, Vec<u8>) {
        let bytes = self.engine.tokenizer().token_bytes(id).to_vec();
        (String::from_utf8_lossy(&bytes).into_owned(), bytes)
    }

    /// Chat: `{"content": [{token, logprob, bytes, top_logprobs}]}`; completions: `{tokens,
    /// token_logprobs, top_logprobs, text_offset}`. Null when none were asked for.
    fn logprobs_value(&self, lp: &[TokenLogprob], offset: Option<usize>, prefix: &str) -> Value {
        if lp.is_empty() && offset.is_none() {
            return Value::Null;
        }
        match self.kind {
            Kind::Chat => {
                let entry = |id: u32, logprob: f32| {
                    let (token, bytes) = self.piece(id);
                    json!({"token": token, "logprob": logprob, "bytes": bytes})
                };
                let content: Vec<Value> = lp
                    .iter()
                    .map(|t| {
                        let mut e = entry(t.token_id, t.logprob);
                        e["top_logprobs"] = t.top.iter().map(|&(id, l)| entry(id, l)).collect();
                        e
                    })
                    .collect();
                json!({"content": content, "refusal": null})
            }
            Kind::Completion => {
                let mut at = offset.unwrap_or(prefix.chars().count());
                let (mut tokens, mut logprobs, mut tops, mut offsets) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for t in lp {
                    let token = self.piece(t.token_id).0;
                    offsets.push(at);
                    at += token.chars().count();
                    tokens.push(token);
                    logprobs.push(t.logprob);
                    let mut top = Map::new();
                    for &(id, l) in &t.top {
                        top.entry(self.piece(id).0).or_insert(json!(l));
                    }
                    tops.push(Value::Object(top));
                }
                json!({"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": tops, "text_offset": offsets})
            }
        }
    }
}
