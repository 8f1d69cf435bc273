//! Chat templates: renders a model's `tokenizer.chat_template` (Jinja) with minijinja,
//! configured like Hugging Face's `apply_chat_template` (trim/lstrip blocks, Python-style
//! string methods, `raise_exception`), with tool definitions and tool turns when asked.

pub mod tools;

use crate::gguf::GgufFile;
use serde::{Deserialize, Serialize};
use serde_json::Value;
pub use tools::{ToolCall, ToolSyntax};

/// Used when a model ships no template: ChatML, which most small instruct models accept.
pub const FALLBACK_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
    /// An assistant turn's calls, as templates read them:
    /// `{"id", "type": "function", "function": {"name", "arguments": {...}}}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<Value>,
    /// A `tool` turn: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A `tool` turn: the function that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("chat template is invalid: {0}")]
    Compile(String),
    #[error("chat template failed to render: {0}")]
    Render(String),
}

/// A compiled chat template with the special-token strings it may reference.
pub struct ChatTemplate {
    env: minijinja::Environment<'static>,
    bos_token: String,
    eos_token: String,
    is_fallback: bool,
    /// The template reads a `tools` variable (it shows tool definitions itself).
    knows_tools: bool,
    tool_syntax: ToolSyntax,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("is_fallback", &self.is_fallback)
            .finish()
    }
}

const NAME: &str = "chat";

/// Instructions one rendering may execute: templates come inside downloaded model files,
/// so a looping one must fail in well under a second rather than hang the app. Real
/// templates spend a few hundred per message.
const FUEL: u64 = 20_000_000;

/// Bytes one rendering may produce: far beyond any context window.
const MAX_OUTPUT: usize = 64 << 20;

impl ChatTemplate {
    /// Compiles `source`; an invalid template is an error, never a panic.
    pub fn new(
        source: &str,
        bos_token: impl Into<String>,
        eos_token: impl Into<String>,
    ) -> Result<Self, ChatError> {
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_fuel(Some(FUEL));
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| ChatError::Compile(describe(&e)))?;
        let knows_tools = env
            .get_template(NAME)
            .map_err(|e| ChatError::Compile(describe(&e)))?
            .undeclared_variables(false)
            .contains("tools");
        Ok(Self {
            env,
            bos_token: bos_token.into(),
            eos_token: eos_token.into(),
            is_fallback: false,
            knows_tools,
            tool_syntax: ToolSyntax::of_template(source),
        })
    }

    /// The model's own template, or [`FALLBACK_TEMPLATE`] when it has none.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, ChatError> {
        let token = |key: &str| -> String {
            let tokens = file.get_array("tokenizer.ggml.tokens");
            file.get_u64(key)
                .and_then(|id| tokens?.get(id as usize)?.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let (bos, eos) = (
            token("tokenizer.ggml.bos_token_id"),
            token("tokenizer.ggml.eos_token_id"),
        );
        match file.get_str("tokenizer.chat_template") {
            Some(source) => Self::new(source, bos, eos),
            None => {
                let mut t = Self::new(FALLBACK_TEMPLATE, bos, eos)?;
                t.is_fallback = true;
                Ok(t)
            }
        }
    }

    /// True when the model had no template of its own.
    pub fn is_fallback(&self) -> bool {
        self.is_fallback
    }

    /// How the model writes tool calls.
    pub fn tool_syntax(&self) -> ToolSyntax {
        self.tool_syntax
    }

    /// Renders the conversation; with `add_generation_prompt` the text ends where the
    /// assistant's reply begins.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        self.render_with_tools(messages, &[], add_generation_prompt)
    }

    /// [`ChatTemplate::render`] with tool definitions (OpenAI's `{"type": "function",
    /// "function": {...}}`). A template that reads `tools` gets them and the tool turns as
    /// they are; any other gets [`tools::fallback_prompt`] in its system message, calls as
    /// `<tool_call>` blocks and results as `<tool_response>` blocks (in `user` turns if it
    /// refuses a `tool` role).
    pub fn render_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[Value],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        let has_tool_turns = messages
            .iter()
            .any(|m| !m.tool_calls.is_empty() || m.role == "tool");
        if self.knows_tools || (tools.is_empty() && !has_tool_turns) {
            let tools = (!tools.is_empty()).then_some(tools);
            return self.render_context(messages, tools, add_generation_prompt);
        }
        let mut plain = plain_turns(messages, tools);
        self.render_context(&plain, None, add_generation_prompt)
            .or_else(|e| {
                for m in plain.iter_mut().filter(|m| m.role == "tool") {
                    m.role = "user".into();
                }
                self.render_context(&plain, None, add_generation_prompt)
                    .map_err(|_| e)
            })
    }

    fn render_context(
        &self,
        messages: &[ChatMessage],
        tools: Option<&[Value]>,
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| ChatError::Render(describe(&e)))?;
        let mut out = Capped {
            bytes: Vec::new(),
            overflowed: false,
        };
        let context = minijinja::context! {
            messages => messages,
            tools => tools,
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        };
        match template.render_captured_to(context, &mut out) {
            Ok(_) => String::from_utf8(out.bytes)
                .map_err(|_| ChatError::Render("the output is not UTF-8".into())),
            Err(_) if out.overflowed => Err(ChatError::Render(format!(
                "the output exceeds {} MiB",
                MAX_OUTPUT >> 20
            ))),
            Err(e) => Err(ChatError::Render(describe(&e))),
        }
    }
}

/// A rendering's output, refused past [`MAX_OUTPUT`] bytes.
struct Capped {
    bytes: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT {
            self.overflowed = true;
            return Err(std::io::Error::other("template output too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Tool turns as plain text, for templates that know no tools: the fallback prompt in the
/// system message, calls as `<tool_call>` blocks, results as `<tool_response>` blocks.
fn plain_turns(messages: &[ChatMessage], tools: &[Value]) -> Vec<ChatMessage> {
    let mut plain: Vec<ChatMessage> = messages
        .iter()
        .map(|m| {
            let mut content = m.content.clone();
            for call in &m.tool_calls {
                let f = call.get("function").unwrap_or(call);
                let call =
                    serde_json::json!({"name": f.get("name"), "arguments": f.get("arguments")});
                if !content.is_empty() {
                    content.push('\n');
                }
                content.push_str(&format!("<tool_call>\n{call}\n</tool_call>"));
            }
            if m.role == "tool" {
                content = format!("<tool_response>\n{content}\n</tool_response>");
            }
            ChatMessage::new(m.role.clone(), content)
        })
        .collect();
    if !tools.is_empty() {
        let prompt = tools::fallback_prompt(tools);
        match plain.first_mut() {
            Some(first) if first.role == "system" => {
                first.content = format!("{}\n\n{prompt}", first.content);
            }
            _ => plain.insert(0, ChatMessage::system(prompt)),
        }
    }
    plain
}

/// minijinja's error with its chain of causes, on one line.
fn describe(e: &minijinja::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Templates call `raise_exception("...")` to reject conversations they cannot format.
fn raise_exception(message: String) -> Result<minijinja::Value, minijinja::Error> {
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        message,
    ))
}

/// Llama 3.x templates print today's date with `strftime_now("%d %b %Y")`.
fn strftime_now(format: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const FULL: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    format
        .replace("%d", &format!("{d:02}"))
        .replace("%m", &format!("{m:02}"))
        .replace("%Y", &y.to_string())
        .replace("%b", MONTHS[(m - 1) as usize])
        .replace("%B", FULL[(m - 1) as usize])
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_416), (2025, 11, 24));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn fallback_is_chatml() {
        let t = ChatTemplate::new(FALLBACK_TEMPLATE, "", "").unwrap();
        let out = t.render(&[ChatMessage::user("Hi")], true).unwrap();
        assert_eq!(
            out,
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn python_string_methods_work() {
        let t = ChatTemplate::new("{{ messages[0].content.strip().upper() }}", "", "").unwrap();
        assert_eq!(
            t.render(&[ChatMessage::user("  hi ")], false).unwrap(),
            "HI"
        );
    }

    #[test]
    fn raise_exception_is_an_error() {
        let t = ChatTemplate::new(
            "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}",
            "",
            "",
        )
        .unwrap();
        let err = t.render(&[ChatMessage::assistant("x")], false).unwrap_err();
        assert!(err.to_string().contains("first must be user"), "{err}");
    }

    #[test]
    fn broken_template_is_an_error() {
        let err = ChatTemplate::new("{% for m in messages %}", "", "").unwrap_err();
        assert!(matches!(err, ChatError::Compile(_)), "{err}");
    }

    #[test]
    fn bos_and_lstrip_blocks() {
        let t = ChatTemplate::new(
            "{{ bos_token }}\n  {% for m in messages %}\n[{{ m.role }}]\n  {% endfor %}",
            "<s>",
            "</s>",
        )
        .unwrap();
        assert_eq!(
            t.render(&[ChatMessage::user("a"), ChatMessage::user("b")], false)
                .unwrap(),
            "<s>\n[user]\n[user]\n"
        );
    }
}
