//! Constrained decoding: a reply that must match a JSON schema or a grammar. llguidance
//! compiles the constraint and computes token masks over a trie of the model's vocabulary.
//!
//! Checking one token is cheap; masking the whole vocabulary is not. So each step samples as
//! usual, checks the token, and only when it breaks the grammar masks every logit and samples
//! again (llama.cpp's order). Most steps cost one check.

mod vocab;

pub use vocab::GrammarVocab;

use llguidance::api::TopLevelGrammar;
use llguidance::Matcher;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// What the reply must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    /// Any JSON object.
    JsonObject,
    /// JSON valid against this schema (a JSON Schema document; `$ref`s within it).
    JsonSchema(Value),
    /// A grammar in llguidance's Lark syntax; `%json { schema }` embeds a schema.
    Lark(String),
}

impl Constraint {
    /// The grammar llguidance compiles. JSON comes out compact with `", "` and `": "`
    /// separators: no free whitespace, so a small model cannot wander into endless blanks.
    fn to_grammar(&self) -> Result<TopLevelGrammar, GrammarError> {
        Ok(match self {
            Constraint::JsonObject => TopLevelGrammar::from_json_schema(with_layout(
                serde_json::json!({"type": "object"}),
            )),
            Constraint::JsonSchema(schema) => {
                if !schema.is_object() {
                    return Err(GrammarError(format!(
                        "a JSON schema must be an object, not {}",
                        kind_of(schema)
                    )));
                }
                TopLevelGrammar::from_json_schema(with_layout(schema.clone()))
            }
            Constraint::Lark(source) => TopLevelGrammar::from_lark(source.clone()),
        })
    }
}

/// A constraint that could not be compiled: the message names what is wrong or unsupported.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct GrammarError(pub String);

/// JSON's layout options, as llguidance reads them from the schema.
fn with_layout(mut schema: Value) -> Value {
    if let Some(map) = schema.as_object_mut() {
        map.insert(
            "x-guidance".into(),
            serde_json::json!({
                "whitespace_flexible": false,
                "item_separator": ", ",
                "key_separator": ": ",
            }),
        );
    }
    schema
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A compiled constraint, ready to guide any number of generations. Cheap to clone.
#[derive(Clone)]
pub struct Grammar {
    /// Never advanced: each generation starts from a copy.
    start: Arc<Mutex<Matcher>>,
}

impl std::fmt::Debug for Grammar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Grammar")
    }
}

impl Grammar {
    /// Compiles `constraint` for `vocab`'s tokens.
    pub fn compile(vocab: &GrammarVocab, constraint: &Constraint) -> Result<Self, GrammarError> {
        let grammar = constraint.to_grammar()?;
        let parser = vocab
            .factory()
            .create_parser(grammar)
            .map_err(|e| GrammarError(clean_message(&e.to_string())))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(GrammarError(clean_message(&e)));
        }
        Ok(Self {
            start: Arc::new(Mutex::new(matcher)),
        })
    }

    /// A guide for one generation, at the start of the reply.
    pub fn guide(&self) -> Guide {
        let start = self.start.lock().unwrap_or_else(|p| p.into_inner());
        Guide {
            matcher: start.deep_clone(),
        }
    }
}

/// llguidance's messages span lines (a regex error draws a pointer under the pattern).
fn clean_message(msg: &str) -> String {
    msg.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where one reply stands in its grammar.
pub struct Guide {
    matcher: Matcher,
}

impl Guide {
    /// Whether `token` may come next (an end-of-generation token only once the reply is complete).
    pub fn allows(&mut self, token: u32) -> bool {
        self.matcher.validate_tokens(&[token]).is_ok_and(|n| n == 1)
    }

    /// Sets every logit the grammar forbids to -inf; false when it allows nothing.
    pub fn mask(&mut self, logits: &mut [f32]) -> Result<bool, GrammarError> {
        let mask = self
            .matcher
            .compute_mask()
            .map_err(|e| GrammarError(e.to_string()))?;
        let mut any = false;
        for (id, l) in logits.iter_mut().enumerate() {
            if mask.is_allowed(id as u32) {
                any |= *l > f32::NEG_INFINITY;
            } else {
                *l = f32::NEG_INFINITY;
            }
        }
        Ok(any)
    }

    /// Moves past `token`, which [`Guide::allows`].
    pub fn accept(&mut self, token: u32) -> Result<(), GrammarError> {
        self.matcher
            .consume_token(token)
            .map_err(|e| GrammarError(e.to_string()))
    }

    /// True when the reply is complete and nothing may follow.
    pub fn is_finished(&self) -> bool {
        self.matcher.is_stopped()
    }
}
