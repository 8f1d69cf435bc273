//! Every value that crosses the IPC, mirroring `ui/src/api/types.ts` (the source of truth):
//! structs camelCase, string enums snake_case, events adjacently tagged.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SamplingParams {
    pub temperature: f32,
    pub top_p: f32,
    pub top_k: u32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub seed: Option<u64>,
    pub max_tokens: u32,
    pub context_length: u32,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_p: 0.9,
            top_k: 40,
            min_p: 0.05,
            repeat_penalty: 1.1,
            seed: None,
            max_tokens: 1024,
            context_length: 4096,
        }
    }
}

impl SamplingParams {
    /// Rejects values the engine cannot use.
    pub fn validate(&self) -> Result<(), String> {
        let finite = [
            self.temperature,
            self.top_p,
            self.min_p,
            self.repeat_penalty,
        ]
        .iter()
        .all(|v| v.is_finite());
        if !finite {
            return Err("Sampling parameters must be numbers.".into());
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err("Temperature must be between 0 and 2.".into());
        }
        if !(0.0..=1.0).contains(&self.top_p) || !(0.0..=1.0).contains(&self.min_p) {
            return Err("Top-p and min-p must be between 0 and 1.".into());
        }
        if !(0.5..=2.0).contains(&self.repeat_penalty) {
            return Err("Repeat penalty must be between 0.5 and 2.".into());
        }
        if self.max_tokens == 0 {
            return Err("Max tokens must be at least 1.".into());
        }
        if !(128..=1 << 20).contains(&self.context_length) {
            return Err("Context length must be between 128 and 1048576 tokens.".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub id: String,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub system_prompt: String,
    pub params: SamplingParams,
    pub model_id: Option<String>,
    pub message_count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    pub conversation: Conversation,
    pub snippet: Option<String>,
    /// The message the snippet is from (in any branch): `switch_branch` to it shows the
    /// branch that holds it. Null when only the title matched.
    #[serde(default)]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Eos,
    MaxTokens,
    ContextFull,
    Cancelled,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationStats {
    pub prompt_tokens: u32,
    pub generated_tokens: u32,
    pub tokens_per_second: f64,
    pub time_to_first_token_ms: u64,
    pub stop_reason: StopReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u32>,
    /// How many of the oldest messages were left out of the prompt, when the user chose
    /// to drop them (`allow_drop_oldest`) to fit the context window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_messages: Option<u32>,
}

/// Why a turn failed with `context_full`: the prompt and the reply budget do not fit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextOverflow {
    /// Tokens of the whole conversation as a prompt (system prompt, every message, template).
    pub prompt_tokens: u32,
    /// Tokens kept free for the reply: min(maxTokens, context / 4).
    pub reply_reserve: u32,
    /// `prompt_tokens + reply_reserve`.
    pub tokens_needed: u32,
    /// The context window of the turn.
    pub context_length: u32,
    /// The fewest oldest messages to leave out so the rest fits (a question and its answer
    /// go together); None when even the last message alone does not fit.
    pub drop_messages: Option<u32>,
    /// The attachments in the prompt (the thread answered) with their tokens: dropping one
    /// is another way out.
    #[serde(default)]
    pub attachments: Vec<crate::attachments::AttachmentTokens>,
}

/// What the context meter shows: the conversation (and the draft) counted with the loaded
/// model's tokenizer and template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextUsage {
    pub prompt_tokens: u32,
    pub reply_reserve: u32,
    pub context_length: u32,
    /// `prompt_tokens` by part: the system prompt (with the template around it), the
    /// attachments (their blocks), and the rest (messages, draft, template).
    #[serde(default)]
    pub system_tokens: u32,
    #[serde(default)]
    pub history_tokens: u32,
    #[serde(default)]
    pub attachment_tokens: u32,
    /// Each attachment counted (sent ones, then the pending ones the draft carries).
    #[serde(default)]
    pub attachments: Vec<crate::attachments::AttachmentTokens>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub conversation_id: String,
    pub role: Role,
    pub content: String,
    pub created_at: i64,
    pub stats: Option<GenerationStats>,
    #[serde(default)]
    pub model_id: Option<String>,
    /// The message this one follows (null: a first message). Messages form a tree: an
    /// edit or a regenerated reply is a sibling of the version it replaces.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Which of its siblings (same parent, oldest first) this is, from 1: the `‹ 2/3 ›`.
    #[serde(default = "one")]
    pub version: u32,
    /// How many siblings (versions) there are, this one included.
    #[serde(default = "one")]
    pub versions: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnResult {
    pub user_message: Option<Message>,
    pub assistant_message: Message,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    content = "data",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum ChatEvent {
    ModelLoading {
        model_id: String,
        progress: f32,
        stage: String,
    },
    Started {
        message_id: String,
        user_message_id: Option<String>,
        prompt_tokens: Option<u32>,
    },
    Token {
        text: String,
    },
    Finished {
        stats: GenerationStats,
    },
    Error {
        message: String,
        code: Option<String>,
        /// With code `context_full`: the numbers, for the choice the UI offers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<ContextOverflow>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    Light,
    Dark,
    #[default]
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DevicePref {
    #[default]
    Auto,
    Gpu,
    Cpu,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub theme: Theme,
    pub default_model_id: Option<String>,
    pub device: DevicePref,
    pub threads: Option<u32>,
    pub memory_limit_bytes: Option<u64>,
    /// Unload the model after this many minutes without a turn, giving its memory back
    /// (`None`: keep it loaded). The next message loads it again.
    pub unload_after_minutes: Option<u32>,
    pub default_system_prompt: String,
    pub default_params: SamplingParams,
    /// Opt-in: look for a new version of Woolly and of the model catalog once a week.
    #[serde(default)]
    pub check_updates_weekly: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            theme: Theme::System,
            default_model_id: None,
            device: DevicePref::Auto,
            threads: None,
            memory_limit_bytes: None,
            unload_after_minutes: None,
            default_system_prompt:
                "You are Woolly, a helpful assistant running locally on this computer.".into(),
            default_params: SamplingParams::default(),
            check_updates_weekly: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    Unloaded,
    Loading,
    Loaded,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadedModel {
    pub id: String,
    pub name: String,
    pub architecture: String,
    pub quantization: String,
    pub context_length: u32,
    pub size_bytes: u64,
    pub load_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    pub kind: String,
    pub name: String,
    /// Why the engine runs there (auto's choice, or a GPU failure that moved it to the CPU).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryInfo {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub process_bytes: u64,
    pub gpu_total_bytes: Option<u64>,
    pub gpu_available_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemInfo {
    pub app_version: String,
    pub model_state: ModelState,
    pub model: Option<LoadedModel>,
    pub model_error: Option<String>,
    pub device: DeviceInfo,
    pub threads: u32,
    pub memory: MemoryInfo,
    /// Problems start-up recovered from (e.g. an unreadable history database kept aside and
    /// replaced by a fresh one), each a sentence for the user.
    pub notices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    content = "data",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum LoadEvent {
    Progress {
        progress: f32,
        stage: String,
    },
    Loaded {
        model: LoadedModel,
    },
    Error {
        message: String,
        code: Option<String>,
    },
}

// ───────────── local API server ─────────────

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    pub running: bool,
    /// The port it runs on, else the port it will use (saved in `server.json`).
    pub port: u16,
    /// `127.0.0.1:<port>` while running.
    pub address: Option<String>,
    /// What OpenAI clients take as `base_url`: `http://127.0.0.1:<port>/v1`.
    pub base_url: Option<String>,
    /// Whether a key is stored in the keychain (the key itself never leaves Rust).
    pub has_api_key: bool,
    /// The model it serves.
    pub model_id: Option<String>,
    /// Why it is not running, when a start failed or it was stopped for a reason.
    pub error: Option<String>,
}

// ───────────── remote providers ─────────────

/// An OpenAI-compatible endpoint the user added (its key stays in the keychain).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub base_url: String,
    pub has_api_key: bool,
}

/// A model a provider offers (`GET {base}/models`). A conversation uses it with the model
/// id `remote:<provider id>:<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderModel {
    pub id: String,
    pub owned_by: Option<String>,
}

// ───────────── models ─────────────

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FitVerdict {
    Fits,
    Tight,
    TooBig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FitReport {
    pub verdict: FitVerdict,
    pub required_bytes: u64,
    pub available_bytes: u64,
    pub context_length: u32,
    pub detail: String,
}

/// Hugging Face search order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HubSort {
    Downloads,
    Recent,
}

/// A GGUF repository found on the Hugging Face Hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubModel {
    /// `owner/name`.
    pub id: String,
    pub downloads: u64,
    pub likes: u64,
    /// Unix ms; null when the Hub did not say.
    pub last_modified: Option<i64>,
    /// Downloads need the repository's terms accepted on the Hub (and a token).
    pub gated: bool,
    pub private: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubSplit {
    pub parts: u32,
    pub present: u32,
}

/// A GGUF model in a Hub repository: one file, or a split one (all its parts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubFile {
    /// Path in the repository (for a split model: its first part).
    pub path: String,
    /// The name it gets in the model store.
    pub file_name: String,
    pub quantization: Option<String>,
    pub size_bytes: u64,
    /// The Hub's LFS SHA-256; null when it lists none.
    pub sha256: Option<String>,
    pub split: Option<HubSplit>,
    /// By size (weights + 10%): the attention shape is only known once downloaded.
    pub fit: FitReport,
    pub installed_id: Option<String>,
    /// False for split models and files without a SHA-256; `note` says why.
    pub downloadable: bool,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    pub id: String,
    pub name: String,
    pub family: String,
    pub parameters: String,
    pub quantization: String,
    pub size_bytes: u64,
    pub context_length: u32,
    pub license: String,
    pub url: String,
    pub sha256: String,
    pub description: String,
    pub fit: FitReport,
    pub installed_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSourceKind {
    Catalog,
    Url,
    Import,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    Store,
    Reference,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledModel {
    pub id: String,
    pub name: String,
    pub path: String,
    pub architecture: String,
    pub parameters: String,
    pub quantization: String,
    pub context_length: u32,
    pub size_bytes: u64,
    pub sha256: String,
    pub source: ModelSourceKind,
    pub storage: Storage,
    pub catalog_id: Option<String>,
    pub added_at: i64,
    pub fit: FitReport,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadStatus {
    Queued,
    Downloading,
    Verifying,
    Paused,
    Retrying,
    Failed,
    Completed,
    Cancelled,
}

impl DownloadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Downloading => "downloading",
            Self::Verifying => "verifying",
            Self::Paused => "paused",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "queued" => Self::Queued,
            "downloading" => Self::Downloading,
            "verifying" => Self::Verifying,
            "paused" => Self::Paused,
            "retrying" => Self::Retrying,
            "completed" => Self::Completed,
            "cancelled" => Self::Cancelled,
            _ => Self::Failed,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadInfo {
    pub id: String,
    pub catalog_id: Option<String>,
    pub name: String,
    pub url: String,
    pub status: DownloadStatus,
    pub downloaded_bytes: u64,
    pub total_bytes: u64,
    pub bytes_per_second: f64,
    pub eta_seconds: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum DownloadSource {
    Catalog {
        catalog_id: String,
    },
    Url {
        url: String,
        sha256: String,
        #[serde(default)]
        name: Option<String>,
    },
    /// A file of a Hugging Face repository (from `hub_files`): the SHA-256 and size come
    /// from the Hub's LFS metadata, looked up again when the download starts.
    Hub {
        repo: String,
        file: String,
    },
}

// Sent a few times per download, never stored: the size of the largest variant is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    content = "data",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum DownloadEvent {
    Started {
        id: String,
        total_bytes: u64,
        resumed_from: u64,
    },
    Progress {
        id: String,
        downloaded_bytes: u64,
        total_bytes: u64,
        bytes_per_second: f64,
        eta_seconds: Option<f64>,
    },
    Retrying {
        id: String,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    Verifying {
        id: String,
    },
    Paused {
        id: String,
        downloaded_bytes: u64,
    },
    Finished {
        id: String,
        model: InstalledModel,
    },
    Cancelled {
        id: String,
    },
    Error {
        id: String,
        message: String,
        code: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    Copy,
    Reference,
}

/// Settings → Updates: the app's version, an update found by the last check, and the model
/// catalog in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateStatus {
    pub current_version: String,
    /// Unix ms of the last successful check (on request or weekly); null = never.
    pub last_checked_at: Option<i64>,
    /// The newer version the last check found; null = none found (or no check yet).
    pub available: Option<UpdateInfo>,
    /// The available update is downloaded and its signature verified: ready to install.
    pub downloaded: bool,
    pub catalog: CatalogInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInfo {
    pub version: String,
    /// Release notes as published (plain text / Markdown source; shown as text).
    pub notes: String,
    /// Unix ms; null when the manifest gives no date.
    pub date: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CatalogOrigin {
    /// The catalog compiled into this version.
    Builtin,
    /// A signed catalog fetched later.
    Refreshed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogInfo {
    pub origin: CatalogOrigin,
    pub models: u32,
    /// Unix ms when the refreshed catalog was fetched; null for the built-in one.
    pub refreshed_at: Option<i64>,
}

/// Progress of `download_update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "event",
    content = "data",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum UpdateEvent {
    Progress {
        downloaded: u64,
        total: Option<u64>,
    },
    /// Every byte is in and the signature verified.
    Verified,
}
