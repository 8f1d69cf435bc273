//! Export and import of conversations.
//!
//! Two formats: Markdown (readable: title, model, dates, each message under a role header,
//! its text verbatim so code blocks stay intact) and JSON, complete and versioned, which
//! [`parse`] reads back into new conversations (see `docs/conversation-export.md` next to
//! this crate's manifest for the schema):
//!
//! ```json
//! { "format": "woolly.conversations", "version": 2, "exportedAt": 1714567890123,
//!   "app": "woolly-desktop 0.1.0",
//!   "conversations": [ { "title": "…", "createdAt": 0, "updatedAt": 0,
//!       "modelId": "…" | null, "systemPrompt": "…", "params": { …SamplingParams },
//!       "currentId": "m3" | null,
//!       "messages": [ { "id": "m1", "parentId": null, "role": "user" | "assistant",
//!                       "content": "…", "createdAt": 0, "modelId": "…" | null,
//!                       "stats": { …GenerationStats } | null,
//!                       "attachments": [ { "name": "…", "kind": "text" | "pdf",
//!                                          "sizeBytes": 0, "note": "…" | null,
//!                                          "text": "…" } ] } ] } ] }
//! ```
//!
//! Version 2 carries the whole message tree (every version of every message, `parentId`
//! links, `currentId` the end of the shown thread); version 1 files (one linear thread, no
//! ids) still import. `attachments` (the files sent with a user message, their text as the
//! prompt got it) is optional: absent, a message has none. Reading checks everything before anything is written: a file that is
//! not JSON, is cut short, has another `format`, a newer `version`, an unknown role,
//! invalid parameters, duplicate ids, a parent that is not there or a cycle gets a clear
//! error, and the history is left as it was.

mod markdown;
mod tree;

use crate::attachments::{Attachment, AttachmentKind, MAX_TEXT_BYTES};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::types::{Conversation, GenerationStats, Message, Role, SamplingParams};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

pub use markdown::to_markdown;

/// The `format` field of every JSON export.
pub const FORMAT: &str = "woolly.conversations";
/// The newest `version` this app writes and reads.
pub const VERSION: u32 = 2;
/// Largest file [`read_file`] reads.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Markdown,
    Json,
}

impl ExportFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Markdown => "md",
            Self::Json => "json",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportFile {
    pub format: String,
    pub version: u32,
    /// Unix ms.
    pub exported_at: i64,
    /// What wrote it (`woolly-desktop <version>`); informative.
    #[serde(default)]
    pub app: String,
    pub conversations: Vec<ExportedConversation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedConversation {
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub model_id: Option<String>,
    pub system_prompt: String,
    pub params: SamplingParams,
    /// Version 2: the id of the last message of the shown thread (null: the newest).
    #[serde(default)]
    pub current_id: Option<String>,
    /// Every message, a parent before its children, siblings oldest first.
    pub messages: Vec<ExportedMessage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedMessage {
    /// Version 2: unique within its conversation (an import gives new ids).
    #[serde(default)]
    pub id: Option<String>,
    /// Version 2: the message this one follows; null for a first message.
    #[serde(default)]
    pub parent_id: Option<String>,
    pub role: Role,
    pub content: String,
    pub created_at: i64,
    #[serde(default)]
    pub model_id: Option<String>,
    #[serde(default)]
    pub stats: Option<GenerationStats>,
    /// Files sent with a user message, in the order they were attached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<ExportedAttachment>,
}

/// A file sent with a message: what the prompt got from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedAttachment {
    /// The file's name, no directory.
    pub name: String,
    pub kind: AttachmentKind,
    /// The file's size on disk when it was attached.
    #[serde(default)]
    pub size_bytes: u64,
    #[serde(default)]
    pub note: Option<String>,
    /// Its text (a PDF's extracted text), at most `MAX_TEXT_BYTES`.
    pub text: String,
}

impl ExportedAttachment {
    fn of(a: &Attachment) -> Self {
        Self {
            name: a.name.clone(),
            kind: a.kind,
            size_bytes: a.size_bytes,
            note: a.note.clone(),
            text: a.text.clone(),
        }
    }

    /// Why it cannot be imported, if it cannot.
    fn check(&self) -> Result<(), String> {
        let name = &self.name;
        if name.trim().is_empty()
            || name.chars().count() > 255
            || name.contains(['/', '\\'])
            || name.chars().any(char::is_control)
        {
            return Err(format!("an attached file has an invalid name {name:?}"));
        }
        if self.text.len() > MAX_TEXT_BYTES {
            return Err(format!(
                "the attached file {name:?} holds more than {} MiB of text",
                MAX_TEXT_BYTES >> 20
            ));
        }
        Ok(())
    }
}

/// A conversation to export.
#[derive(Debug, Clone)]
pub struct Thread {
    pub conversation: Conversation,
    /// The shown thread, oldest first (the Markdown).
    pub messages: Vec<Message>,
    /// Every message of every branch, oldest first (the JSON).
    pub all: Vec<Message>,
    /// The files sent with its messages, in the order they were attached.
    pub attachments: Vec<Attachment>,
}

impl Thread {
    /// The files sent with message `id`.
    pub fn attachments_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Attachment> {
        self.attachments
            .iter()
            .filter(move |a| a.message_id.as_deref() == Some(id))
    }
}

/// The threads of `ids` (every conversation when None), newest first as the sidebar lists
/// them.
pub fn threads(db: &Db, ids: Option<&[String]>) -> AppResult<Vec<Thread>> {
    let conversations = match ids {
        Some(ids) => ids
            .iter()
            .map(|id| db.get_conversation(id))
            .collect::<AppResult<Vec<_>>>()?,
        None => db.list_conversations()?,
    };
    conversations
        .into_iter()
        .map(|conversation| {
            let messages = db.messages(&conversation.id)?;
            let all = db.all_messages(&conversation.id)?;
            let attachments = db.attachments(&conversation.id)?;
            Ok(Thread {
                conversation,
                messages,
                all,
                attachments,
            })
        })
        .collect()
}

pub fn to_file(threads: &[Thread], exported_at: i64) -> ExportFile {
    ExportFile {
        format: FORMAT.into(),
        version: VERSION,
        exported_at,
        app: format!("woolly-desktop {}", env!("CARGO_PKG_VERSION")),
        conversations: threads
            .iter()
            .map(|t| {
                let (c, messages, all) = (&t.conversation, &t.messages, &t.all);
                ExportedConversation {
                    title: c.title.clone(),
                    created_at: c.created_at,
                    updated_at: c.updated_at,
                    model_id: c.model_id.clone(),
                    system_prompt: c.system_prompt.clone(),
                    params: c.params.clone(),
                    current_id: messages.last().map(|m| m.id.clone()),
                    messages: all
                        .iter()
                        .map(|m| ExportedMessage {
                            id: Some(m.id.clone()),
                            parent_id: m.parent_id.clone(),
                            role: m.role,
                            content: m.content.clone(),
                            created_at: m.created_at,
                            model_id: m.model_id.clone(),
                            stats: m.stats.clone(),
                            attachments: t
                                .attachments_of(&m.id)
                                .map(ExportedAttachment::of)
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

pub fn to_json(threads: &[Thread], exported_at: i64) -> AppResult<String> {
    serde_json::to_string_pretty(&to_file(threads, exported_at))
        .map_err(|e| AppError::internal(format!("Cannot write the export: {e}")))
}

/// The bytes of an export in `format`.
pub fn render(threads: &[Thread], format: ExportFormat, exported_at: i64) -> AppResult<String> {
    match format {
        ExportFormat::Json => to_json(threads, exported_at),
        ExportFormat::Markdown => Ok(to_markdown(threads, exported_at)),
    }
}

/// Writes the export to `path` (one the user chose in the save dialog), replacing it
/// atomically.
pub fn write(path: &Path, threads: &[Thread], format: ExportFormat) -> AppResult<()> {
    let text = render(threads, format, crate::db::now_ms())?;
    crate::settings::write_atomic(path, text.as_bytes()).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, e: std::io::Error) -> AppError {
    AppError::new(
        crate::error::ErrorCode::Io,
        format!("{}: {e}", path.display()),
    )
}

fn bad(why: impl std::fmt::Display) -> AppError {
    AppError::invalid(format!(
        "This file is not a Woolly conversation export: {why}. Nothing was imported."
    ))
}

/// Parses and checks a JSON export (nothing is written). Every conversation comes back as
/// a version 2 tree, ids set, parents before children (see [`tree::normalize`]).
pub fn parse(bytes: &[u8]) -> AppResult<ExportFile> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad("it is not UTF-8 text"))?;
    // The header first, so a file of another kind or a newer version says so.
    #[derive(Deserialize)]
    struct Header {
        format: Option<String>,
        version: Option<u32>,
    }
    if let Ok(h) = serde_json::from_str::<Header>(text) {
        if h.format.as_deref() != Some(FORMAT) {
            return Err(bad(format!("its \"format\" is not \"{FORMAT}\"")));
        }
        match h.version {
            Some(v) if v > VERSION => {
                return Err(AppError::invalid(format!(
                    "This export is version {v}, newer than this app reads ({VERSION}); update Woolly. Nothing was imported."
                )))
            }
            Some(0) | None => return Err(bad("it has no valid \"version\"")),
            Some(_) => {}
        }
    }
    let mut file: ExportFile = serde_json::from_str(text).map_err(|e| {
        if e.is_eof() {
            bad("it is cut short (the file is incomplete)")
        } else {
            bad(e)
        }
    })?;
    if file.format != FORMAT {
        return Err(bad(format!("its \"format\" is not \"{FORMAT}\"")));
    }
    let version = file.version;
    for (i, c) in file.conversations.iter_mut().enumerate() {
        c.params
            .validate()
            .map_err(|e| bad(format!("conversation {}: {e}", i + 1)))?;
        if c.title.trim().is_empty() || c.title.chars().count() > 200 {
            return Err(bad(format!(
                "conversation {} has no title or one over 200 characters",
                i + 1
            )));
        }
        tree::normalize(c, version).map_err(|e| bad(format!("conversation {}: {e}", i + 1)))?;
        for (j, m) in c.messages.iter().enumerate() {
            if !m.attachments.is_empty() && m.role != Role::User {
                return Err(bad(format!(
                    "conversation {}, message {}: only a user's message has attached files",
                    i + 1,
                    j + 1
                )));
            }
            for a in &m.attachments {
                a.check()
                    .map_err(|e| bad(format!("conversation {}, message {}: {e}", i + 1, j + 1)))?;
            }
        }
    }
    Ok(file)
}

/// Reads a file the user chose in the open dialog (at most [`MAX_FILE_BYTES`]).
pub fn read_file(path: &Path) -> AppResult<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(bad(format!(
            "it is larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// Imports every conversation of a JSON export as new conversations, all or none.
pub fn import(db: &Db, bytes: &[u8]) -> AppResult<Vec<Conversation>> {
    let file = parse(bytes)?;
    db.import_conversations(&file.conversations)
}

/// A file name for an export: the title without characters file systems refuse.
pub fn file_name(title: &str, format: ExportFormat) -> String {
    let clean: String = title
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '-',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    let clean = clean.trim_matches('.').chars().take(80).collect::<String>();
    let stem = if clean.is_empty() {
        "conversation".into()
    } else {
        clean
    };
    format!("{stem}.{}", format.extension())
}
