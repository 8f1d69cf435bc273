//! Files in a chat: text, Markdown, source code and PDF files the user attaches (the native
//! open dialog, `commands::attachments::attach_files`) or drops on the window (the window's
//! drag-drop event, read here in Rust). The WebView never names a path.
//!
//! A file becomes an [`Attachment`]: its text (UTF-8, read lossily with a note saying how
//! many bytes were not valid; a PDF's text layer extracted with `pdf-extract`), kept in
//! memory ([`Pending`]) until the message it goes with is sent, then saved with that user
//! message (table `attachments`). In the prompt each attachment is a fenced block with the
//! file name before the user's text ([`prompt_content`]; the format is documented in
//! `src-tauri/docs/attachments.md`). Nothing is cut: a file over the limits is refused
//! whole, and a prompt that outgrows the window fails with `context_full`, naming the
//! attachments so the user can drop one.

use crate::error::{AppError, AppResult};
use crate::types::Message;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Files larger than this are not read (a PDF's size; text files have the lower limit).
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// The most text one attachment may hold (a text file's size, a PDF's extracted text).
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachmentKind {
    Text,
    Pdf,
}

impl AttachmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Pdf => "pdf",
        }
    }

    pub fn parse(s: &str) -> Self {
        if s == "pdf" {
            Self::Pdf
        } else {
            Self::Text
        }
    }
}

/// One attached file. `text` is what goes into the prompt; the UI gets the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub id: String,
    /// The file's name (no directory).
    pub name: String,
    pub kind: AttachmentKind,
    /// The file's size on disk.
    pub size_bytes: u64,
    /// Characters of text it adds.
    pub chars: u32,
    /// Something the user should know (bytes that were not UTF-8, …).
    pub note: Option<String>,
    /// The user message it was sent with; None while pending.
    pub message_id: Option<String>,
    #[serde(skip)]
    pub text: String,
}

/// An attachment's share of the prompt, counted with the loaded model's tokenizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentTokens {
    pub id: String,
    pub name: String,
    pub tokens: u32,
    /// Already sent with a message (false: pending in the composer).
    pub sent: bool,
}

/// What reading files gave: the attachments, and one line per file that was refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachOutcome {
    pub attachments: Vec<Attachment>,
    pub errors: Vec<String>,
}

fn size_text(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// UTF-8 text of a file's bytes: a BOM is skipped; invalid bytes become U+FFFD and the note
/// says how many there were.
pub fn decode_text(bytes: &[u8]) -> (String, Option<String>) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), None),
        Err(_) => {
            let mut invalid = 0usize;
            for chunk in bytes.utf8_chunks() {
                invalid += chunk.invalid().len();
            }
            let note = format!(
                "Not valid UTF-8: {invalid} byte{} shown as \u{FFFD}.",
                if invalid == 1 { " was" } else { "s were" }
            );
            (String::from_utf8_lossy(bytes).into_owned(), Some(note))
        }
    }
}

/// The text layer of a PDF. A PDF without one (a scan) is refused: there is nothing to send.
pub fn pdf_text(bytes: &[u8]) -> AppResult<String> {
    let extracted = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes))
        .map_err(|_| {
            AppError::invalid("This PDF could not be read (the PDF reader failed on it).")
        })?;
    let text =
        extracted.map_err(|e| AppError::invalid(format!("This PDF could not be read: {e}")))?;
    // Page breaks come out as form feeds; keep the text, lose trailing blank runs.
    let text = text.replace('\u{c}', "\n");
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let out = out.trim().to_string();
    if out.is_empty() {
        return Err(AppError::invalid(
            "This PDF has no text layer (a scanned document?): there is no text to attach.",
        ));
    }
    Ok(out)
}

fn is_pdf(name: &str, bytes: &[u8]) -> bool {
    bytes.starts_with(b"%PDF-") || name.to_ascii_lowercase().ends_with(".pdf")
}

/// An attachment from a file's name and bytes (see the module's doc).
pub fn from_bytes(name: &str, bytes: &[u8]) -> AppResult<Attachment> {
    let (kind, text, note) = if is_pdf(name, bytes) {
        (AttachmentKind::Pdf, pdf_text(bytes)?, None)
    } else {
        if bytes.len() > MAX_TEXT_BYTES {
            return Err(AppError::invalid(format!(
                "Too large: {} of text (the limit is {}).",
                size_text(bytes.len()),
                size_text(MAX_TEXT_BYTES)
            )));
        }
        // NUL bytes do not occur in text: an image, an archive, an office document.
        if bytes.iter().take(8192).any(|&b| b == 0) {
            return Err(AppError::invalid(
                "Not a text file: attach text, Markdown, source code or PDF files.",
            ));
        }
        let (text, note) = decode_text(bytes);
        (AttachmentKind::Text, text, note)
    };
    if text.len() > MAX_TEXT_BYTES {
        return Err(AppError::invalid(format!(
            "Too large: {} of text (the limit is {}).",
            size_text(text.len()),
            size_text(MAX_TEXT_BYTES)
        )));
    }
    if text.trim().is_empty() {
        return Err(AppError::invalid("The file is empty."));
    }
    Ok(Attachment {
        id: crate::db::new_id(),
        name: name.to_string(),
        kind,
        size_bytes: bytes.len() as u64,
        chars: text.chars().count() as u32,
        note,
        message_id: None,
        text,
    })
}

/// Reads a file the user chose or dropped.
pub fn read(path: &Path) -> AppResult<Attachment> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let meta = std::fs::metadata(path)
        .map_err(|e| AppError::invalid(format!("{name}: cannot be read: {e}")))?;
    if !meta.is_file() {
        return Err(AppError::invalid(format!("{name}: not a file.")));
    }
    let limit = if name.to_ascii_lowercase().ends_with(".pdf") {
        MAX_FILE_BYTES
    } else {
        MAX_TEXT_BYTES as u64
    };
    if meta.len() > limit {
        return Err(AppError::invalid(format!(
            "{name}: too large ({}; the limit is {}).",
            size_text(meta.len() as usize),
            size_text(limit as usize)
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| AppError::invalid(format!("{name}: cannot be read: {e}")))?;
    from_bytes(&name, &bytes).map_err(|mut e| {
        e.message = format!("{name}: {}", e.message);
        e
    })
}

/// Reads several files: the ones that could be read, and why the others could not.
pub fn read_all(paths: &[PathBuf]) -> AttachOutcome {
    let mut outcome = AttachOutcome::default();
    for path in paths {
        match read(path) {
            Ok(a) => outcome.attachments.push(a),
            Err(e) => outcome.errors.push(e.message),
        }
    }
    outcome
}

/// The info string of an attachment's fence: the language its extension says, else "text".
pub fn language(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "md" | "markdown" => "markdown",
        "rs" => "rust",
        "py" => "python",
        "js" | "mjs" | "cjs" => "javascript",
        "ts" | "tsx" => "typescript",
        "jsx" => "jsx",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" => "cpp",
        "cs" => "csharp",
        "go" => "go",
        "java" => "java",
        "kt" | "kts" => "kotlin",
        "swift" => "swift",
        "rb" => "ruby",
        "php" => "php",
        "sh" | "bash" | "zsh" => "bash",
        "json" => "json",
        "toml" => "toml",
        "yaml" | "yml" => "yaml",
        "xml" => "xml",
        "html" | "htm" => "html",
        "css" => "css",
        "sql" => "sql",
        "csv" => "csv",
        _ => "text",
    }
}

/// One attachment as the model reads it:
///
/// ````text
/// File: notes.md
/// ```markdown
/// …the file's text…
/// ```
/// ````
///
/// The fence is one backtick longer than the longest run of backticks in the text (at
/// least three), so nothing in the file can close it early.
pub fn render(a: &Attachment) -> String {
    let longest = a.text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let label = match a.kind {
        AttachmentKind::Pdf => format!("File: {} (text extracted from the PDF)", a.name),
        AttachmentKind::Text => format!("File: {}", a.name),
    };
    let lang = match a.kind {
        AttachmentKind::Pdf => "text",
        AttachmentKind::Text => language(&a.name),
    };
    format!(
        "{label}\n{fence}{lang}\n{}\n{fence}",
        a.text.trim_end_matches(['\n', '\r'])
    )
}

/// A user message as the model reads it: each attachment's block, in order, a blank line
/// after each, then the user's text.
pub fn prompt_content(text: &str, attachments: &[&Attachment]) -> String {
    if attachments.is_empty() {
        return text.to_string();
    }
    let mut out = String::new();
    for a in attachments {
        out.push_str(&render(a));
        out.push_str("\n\n");
    }
    out.push_str(text);
    out.trim_end().to_string()
}

/// The history with each message's attachments put into its content.
pub fn expand(history: Vec<Message>, saved: &[Attachment]) -> Vec<Message> {
    if saved.is_empty() {
        return history;
    }
    history
        .into_iter()
        .map(|mut m| {
            let own: Vec<&Attachment> = saved
                .iter()
                .filter(|a| a.message_id.as_deref() == Some(m.id.as_str()))
                .collect();
            if !own.is_empty() {
                m.content = prompt_content(&m.content, &own);
            }
            m
        })
        .collect()
}

/// The attachments of `thread`'s messages (the path a prompt is built from), in their
/// order: a conversation's other branches may hold files this prompt does not send.
pub fn in_thread(saved: Vec<Attachment>, thread: &[Message]) -> Vec<Attachment> {
    saved
        .into_iter()
        .filter(|a| {
            a.message_id
                .as_deref()
                .is_some_and(|id| thread.iter().any(|m| m.id == id))
        })
        .collect()
}

/// An attachment's tokens: its block, with the model's tokenizer.
pub fn tokens(engine: &woolly_core::engine::Engine, a: &Attachment) -> u32 {
    engine.tokenizer().encode(&render(a), false, false).len() as u32
}

pub fn token_list(
    engine: &woolly_core::engine::Engine,
    list: &[&Attachment],
) -> Vec<AttachmentTokens> {
    list.iter()
        .map(|a| AttachmentTokens {
            id: a.id.clone(),
            name: a.name.clone(),
            tokens: tokens(engine, a),
            sent: a.message_id.is_some(),
        })
        .collect()
}

/// The context meter's numbers (see `prompt::usage`), split by part: the system prompt,
/// the attachments (sent with earlier messages, and `pending` ones going with the draft),
/// and the rest of the history with the draft. The parts add up to `prompt_tokens`.
#[allow(clippy::too_many_arguments)]
pub fn usage(
    engine: &woolly_core::engine::Engine,
    system_prompt: &str,
    history: Vec<Message>,
    saved: &[Attachment],
    pending: &[Attachment],
    draft: &str,
    ctx: u32,
    max_tokens: u32,
) -> AppResult<crate::types::ContextUsage> {
    let history = expand(history, saved);
    let pending: Vec<&Attachment> = pending.iter().collect();
    let draft = prompt_content(draft, &pending);
    let mut usage = crate::prompt::usage(engine, system_prompt, &history, &draft, ctx, max_tokens)?;
    let system = if system_prompt.trim().is_empty() {
        0
    } else {
        crate::prompt::count(
            engine,
            &[woolly_core::chat::ChatMessage::system(system_prompt)],
        )?
    };
    let all: Vec<&Attachment> = saved.iter().chain(pending.iter().copied()).collect();
    let list = token_list(engine, &all);
    let attached: u32 = list.iter().map(|t| t.tokens).sum();
    usage.system_tokens = system.min(usage.prompt_tokens);
    usage.attachment_tokens = attached.min(usage.prompt_tokens - usage.system_tokens);
    usage.history_tokens = usage.prompt_tokens - usage.system_tokens - usage.attachment_tokens;
    usage.attachments = list;
    Ok(usage)
}

type DropSink = Arc<dyn Fn(AttachOutcome) + Send + Sync>;

/// Attachments read but not sent yet, and where dropped files are announced.
#[derive(Default)]
pub struct Pending {
    files: Mutex<HashMap<String, Attachment>>,
    sink: Mutex<Option<DropSink>>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Attachment>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, a: Attachment) {
        self.lock().insert(a.id.clone(), a);
    }

    /// Copies of the pending attachments `ids` names (in that order); unknown ids are an
    /// error (sent already, or removed).
    pub fn get(&self, ids: &[String]) -> AppResult<Vec<Attachment>> {
        let files = self.lock();
        ids.iter()
            .map(|id| {
                files.get(id).cloned().ok_or_else(|| {
                    AppError::not_found("This attachment is gone: attach the file again.")
                })
            })
            .collect()
    }

    /// Takes them out (they are being sent).
    pub fn take(&self, ids: &[String]) -> AppResult<Vec<Attachment>> {
        let out = self.get(ids)?;
        let mut files = self.lock();
        ids.iter().for_each(|id| {
            files.remove(id);
        });
        Ok(out)
    }

    /// Puts attachments back (a send that failed before saving them).
    pub fn restore(&self, list: Vec<Attachment>) {
        list.into_iter().for_each(|a| self.insert(a));
    }

    pub fn remove(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    /// Where the attachments of dropped files go (the UI's channel; the last one wins).
    pub fn watch_drops(&self, sink: DropSink) {
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    /// Reads files the user chose and keeps what could be read pending.
    pub fn read(&self, paths: &[PathBuf]) -> AttachOutcome {
        let outcome = read_all(paths);
        outcome
            .attachments
            .iter()
            .for_each(|a| self.insert(a.clone()));
        outcome
    }

    /// Files dropped on the window: read, kept pending and announced.
    pub fn dropped(&self, paths: &[PathBuf]) -> AttachOutcome {
        let outcome = self.read(paths);
        let sink = self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(sink) = sink {
            sink(outcome.clone());
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_attachment(name: &str, text: &str) -> Attachment {
        from_bytes(name, text.as_bytes()).unwrap()
    }

    #[test]
    fn lossy_utf8_with_a_note() {
        let (text, note) = decode_text(b"caf\xe9 ok \xff\xfe!");
        assert_eq!(text, "caf\u{FFFD} ok \u{FFFD}\u{FFFD}!");
        assert_eq!(
            note.as_deref(),
            Some("Not valid UTF-8: 3 bytes were shown as \u{FFFD}.")
        );
        assert_eq!(
            decode_text("\u{FEFF}héllo".as_bytes()),
            ("héllo".into(), None)
        );
    }

    #[test]
    fn refuses_binary_empty_and_oversized() {
        assert!(from_bytes("a.png", b"\x89PNG\r\n\x1a\n\0\0\0")
            .unwrap_err()
            .message
            .contains("Not a text file"));
        assert!(from_bytes("a.txt", b"  \n")
            .unwrap_err()
            .message
            .contains("empty"));
        let big = vec![b'a'; MAX_TEXT_BYTES + 1];
        assert!(from_bytes("a.txt", &big)
            .unwrap_err()
            .message
            .contains("Too large"));
        assert!(from_bytes("a.pdf", b"%PDF-1.4 garbage").is_err());
    }

    #[test]
    fn fence_outlasts_backticks_in_the_file() {
        let a = text_attachment("notes.md", "Use:\n````\n```rust\nfn x() {}\n```\n````\n");
        assert_eq!(
            render(&a),
            "File: notes.md\n`````markdown\nUse:\n````\n```rust\nfn x() {}\n```\n````\n`````"
        );
    }
}
