/**
 * Woolly UI ⇄ Rust contract: every value type that crosses the Tauri IPC.
 *
 * Conventions (the Rust side must match them with serde):
 * - Struct fields are camelCase (`#[serde(rename_all = "camelCase")]`).
 * - String enums are snake_case (`#[serde(rename_all = "snake_case")]`).
 * - Streamed events are adjacently tagged: `{ "event": "<name>", "data": { ... } }`
 *   (`#[serde(tag = "event", content = "data", rename_all = "snake_case")]`, with the
 *   variant fields camelCase, e.g. `#[serde(rename_all_fields = "camelCase")]`).
 * - Timestamps are Unix epoch milliseconds (`i64`), sizes are bytes (`u64`), ids are strings.
 * - `T | null` is `Option<T>`; an optional field (`field?: T`) may also be absent.
 * - Errors: a failed command rejects with an {@link AppError} object.
 *
 * The command table (names, arguments, results) is in ./commands.ts; see ./README.md.
 */

// ───────────────────────────── errors ─────────────────────────────

/** Machine-readable error kinds. Unknown codes must be treated like `internal`. */
export type ErrorCode =
  | "not_found" // conversation, message, model or download id unknown
  | "invalid_argument" // bad input (empty message, path outside the store, bad URL…)
  | "busy" // a generation is already running for this conversation
  | "no_model" // no model installed / selected / loadable
  | "insufficient_memory" // the model does not fit the memory budget
  | "model_load_failed" // GGUF invalid, unsupported architecture…
  | "generation_failed"
  | "download_failed"
  | "hash_mismatch"
  | "disk_full"
  | "cancelled"
  | "io"
  | "keychain" // the OS keychain is unavailable or refused
  | "server_failed" // the local API server could not start (port in use…)
  | "unreachable" // a remote provider could not be reached
  | "unauthorized" // a remote provider refused the API key
  | "bad_response" // a remote provider answered something that is not the OpenAI API
  | "context_full" // the conversation no longer fits the context window (see ContextOverflow)
  | "internal";

/** What every command rejects with (Rust: `Result<T, AppError>`, AppError: Serialize). */
export interface AppError {
  code: ErrorCode | (string & {});
  /** Human-readable, shown to the user as is. */
  message: string;
  /** With code `context_full`: the numbers. */
  context?: ContextOverflow;
}

/**
 * Why a turn failed with `context_full`: the prompt (system prompt + every message, chat
 * template applied) plus the reply budget exceed the context window. Nothing was dropped;
 * the user chooses: resend with `allowDropOldest` (regenerate), a new chat, or a larger
 * context length.
 */
export interface ContextOverflow {
  promptTokens: number;
  /** Tokens kept for the reply: min(params.maxTokens, contextLength / 4). */
  replyReserve: number;
  /** promptTokens + replyReserve. */
  tokensNeeded: number;
  contextLength: number;
  /** The fewest oldest messages to leave out so the rest fits (a question and its answer
   *  go together); null when even the last message alone does not fit. */
  dropMessages: number | null;
  /** The conversation's attached files with their tokens: removing one is another way out. */
  attachments?: AttachmentTokens[];
}

// ───────────────────────────── files in a chat ─────────────────────────────

/** A file attached to a message (src-tauri/docs/attachments.md). Its text stays in Rust. */
export interface Attachment {
  id: string;
  name: string;
  kind: "text" | "pdf";
  sizeBytes: number;
  /** Characters of text it adds to the prompt. */
  chars: number;
  /** e.g. "Not valid UTF-8: 3 bytes were shown as �." */
  note: string | null;
  /** The user message it was sent with; null while pending in the composer. */
  messageId: string | null;
}

/** attach_files and dropped files: what could be read, and one line per file that could not. */
export interface AttachOutcome {
  attachments: Attachment[];
  errors: string[];
}

/** An attachment counted with the loaded model's tokenizer. */
export interface AttachmentTokens {
  id: string;
  name: string;
  tokens: number;
  /** Sent with an earlier message (false: pending in the composer). */
  sent: boolean;
}

/** export_conversation / export_all: the file's format. JSON is complete and versioned
 *  (`format: "woolly.conversations"`, `version: 1`) and import_conversations reads it back. */
export type ExportFormat = "markdown" | "json";

/** context_usage: the conversation (and the draft) counted with the loaded model. */
export interface ContextUsage {
  promptTokens: number;
  replyReserve: number;
  contextLength: number;
  /** promptTokens by part (they add up to it): the system prompt, attached files, the rest. */
  systemTokens?: number;
  historyTokens?: number;
  attachmentTokens?: number;
  attachments?: AttachmentTokens[];
}

// ───────────────────────────── sampling / conversations ─────────────────────────────

/** Per-conversation generation parameters (defaults come from Settings.defaultParams). */
export interface SamplingParams {
  /** 0 = greedy. Range 0–2. */
  temperature: number;
  /** Nucleus sampling, 0–1 (1 disables). */
  topP: number;
  /** 0 disables. */
  topK: number;
  /** 0–1 (0 disables). */
  minP: number;
  /** 1 disables. Range 1–2. */
  repeatPenalty: number;
  /** null = random seed per turn. */
  seed: number | null;
  /** Maximum tokens generated per reply. */
  maxTokens: number;
  /** Context window (tokens) used for this conversation. */
  contextLength: number;
}

export interface Conversation {
  id: string;
  title: string;
  /** Unix ms. */
  createdAt: number;
  /** Unix ms; list_conversations sorts by this, newest first. */
  updatedAt: number;
  /** Empty string = no system prompt. */
  systemPrompt: string;
  params: SamplingParams;
  /** Model used for this conversation; null = Settings.defaultModelId. */
  modelId: string | null;
  messageCount: number;
}

/** One hit of search_conversations (full-text search over titles and message text). */
export interface SearchHit {
  conversation: Conversation;
  /** Plain-text excerpt of the best matching message (no markup), null for a title match. */
  snippet: string | null;
  /** That message (in any branch; `switch_branch` to it shows it), null for a title match. */
  messageId?: string | null;
}

export type Role = "user" | "assistant";

export type StopReason =
  | "eos" // the model ended its reply
  | "max_tokens" // params.maxTokens reached
  | "context_full" // the context window is full
  | "cancelled" // stop_generation, or the app was closed mid-reply
  | "error";

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  tokensPerSecond: number;
  timeToFirstTokenMs: number;
  stopReason: StopReason | (string & {});
  /** Context window the turn ran with (defaults to the conversation's params.contextLength). */
  contextLength?: number;
  /** Oldest messages left out of the prompt because the user chose to drop them
   *  (allowDropOldest); absent when none were. */
  droppedMessages?: number;
}

export interface Message {
  id: string;
  conversationId: string;
  role: Role;
  /** Markdown text. For a reply cut short (stop, crash) this is the partial text. */
  content: string;
  /** Unix ms. */
  createdAt: number;
  /** Assistant messages only: null while unknown (e.g. a reply saved by a crash). */
  stats: GenerationStats | null;
  /** Assistant messages only: the model that wrote it. */
  modelId?: string | null;
  /** Messages form a tree: the message this one follows (null: a first message). An
   *  edit or a regenerated reply is a sibling of the version it replaces. */
  parentId?: string | null;
  /** Which of its siblings (oldest first) this is, from 1: the `‹ 2/3 ›`. */
  version?: number;
  /** How many versions (siblings) there are, this one included. */
  versions?: number;
}

/** What send_message / regenerate / edit_and_resend resolve with once the turn is over. */
export interface TurnResult {
  /** The user message of the turn (new or edited); null for regenerate. */
  userMessage: Message | null;
  /** The saved reply (possibly partial when stopped). */
  assistantMessage: Message;
}

/**
 * Streamed through the `onEvent` Channel of send_message / regenerate / edit_and_resend.
 * Order: [model_loading…] started token* (finished | error). Exactly one of finished / error
 * ends every turn (a stopped turn ends with `finished` and stopReason "cancelled").
 */
export type ChatEvent =
  | {
      event: "model_loading";
      /** Sent while a model is lazily loaded before the first token. */
      data: { modelId: string; progress: number; stage: string };
    }
  | {
      event: "started";
      data: {
        /** Id of the assistant message being generated (same as TurnResult.assistantMessage.id). */
        messageId: string;
        /** Id of the user message of this turn; null for regenerate. */
        userMessageId?: string | null;
        /** Tokens in the prompt (chat template applied), for the context meter. */
        promptTokens?: number;
      };
    }
  | { event: "token"; data: { text: string } }
  | { event: "finished"; data: { stats: GenerationStats } }
  | {
      event: "error";
      data: {
        message: string;
        code?: ErrorCode | (string & {});
        /** With code `context_full`: the numbers for the user's choice. */
        context?: ContextOverflow;
      };
    };

// ───────────────────────────── settings / system ─────────────────────────────

export type Theme = "light" | "dark" | "system";
export type DevicePreference = "auto" | "gpu" | "cpu";

/** App settings (persisted by Rust as a versioned file in the OS config dir). */
export interface Settings {
  theme: Theme;
  /** Installed model id used by new conversations and lazy loading; null = first installed. */
  defaultModelId: string | null;
  device: DevicePreference;
  /** CPU threads; null = automatic. */
  threads: number | null;
  /** Memory budget for model + KV cache in bytes; null = automatic. */
  memoryLimitBytes: number | null;
  /** Unload the model after this many minutes without a turn (memory back to the OS);
   *  null = keep it loaded. Optional for settings saved before it existed. */
  unloadAfterMinutes?: number | null;
  /** System prompt given to new conversations. */
  defaultSystemPrompt: string;
  /** Sampling parameters given to new conversations. */
  defaultParams: SamplingParams;
  /** Opt-in: look for a new Woolly and a new model catalog once a week. */
  checkUpdatesWeekly: boolean;
}

export type ModelState = "unloaded" | "loading" | "loaded" | "error";

export interface LoadedModel {
  /** Installed model id. */
  id: string;
  name: string;
  architecture: string;
  quantization: string;
  contextLength: number;
  sizeBytes: number;
  loadMs: number;
}

export interface SystemInfo {
  appVersion: string;
  modelState: ModelState;
  /** The loaded (or loading) model; null when none. */
  model: LoadedModel | null;
  /** Error message of the last failed load when modelState = "error". */
  modelError: string | null;
  device: {
    /** The device the engine uses (or would use) given Settings.device. */
    kind: "cpu" | "gpu";
    /** e.g. "AMD Ryzen 7 7840U (8 threads)" or "NVIDIA RTX 4070 (Vulkan)". */
    name: string;
    /** Why the engine runs there: auto's choice, or a GPU failure that moved it to the CPU. */
    reason?: string | null;
  };
  threads: number;
  memory: {
    totalBytes: number;
    availableBytes: number;
    /** Resident memory of the app process. */
    processBytes: number;
    gpuTotalBytes: number | null;
    gpuAvailableBytes: number | null;
  };
  /** Problems start-up recovered from (an unreadable history database or settings file
   *  kept aside and replaced), each a sentence to show the user. */
  notices: string[];
}

/** Streamed through the `onProgress` Channel of load_model. */
export type LoadEvent =
  | { event: "progress"; data: { progress: number; stage: string } }
  | { event: "loaded"; data: { model: LoadedModel } }
  | {
      event: "error";
      data: {
        message: string;
        code?: ErrorCode | (string & {});
        /** With code `context_full`: the numbers for the user's choice. */
        context?: ContextOverflow;
      };
    };

// ───────────────────────────── local API server ─────────────────────────────

/** The local OpenAI-compatible server (woolly-server) on 127.0.0.1, sharing the loaded model. */
export interface ServerStatus {
  running: boolean;
  /** The port it runs on, else the port it will use next (remembered). */
  port: number;
  /** "127.0.0.1:8080" while running. */
  address: string | null;
  /** What OpenAI clients take as base_url: "http://127.0.0.1:8080/v1". */
  baseUrl: string | null;
  /** Whether an API key is stored in the keychain (the key never comes back to the UI). */
  hasApiKey: boolean;
  /** The model it serves. */
  modelId: string | null;
  /** Why it is not running: a failed start, or it was stopped for a reason. */
  error: string | null;
}

// ───────────────────────────── remote providers ─────────────────────────────

/** An OpenAI-compatible endpoint the user added. Its API key stays in the OS keychain. */
export interface Provider {
  id: string;
  name: string;
  /** Normalized (no trailing "/"): the app calls {baseUrl}/models and {baseUrl}/chat/completions. */
  baseUrl: string;
  hasApiKey: boolean;
}

/** A model a provider offers. A conversation uses it with modelId `remote:<providerId>:<id>`. */
export interface ProviderModel {
  id: string;
  ownedBy: string | null;
}

// ───────────────────────────── models ─────────────────────────────

export type FitVerdict = "fits" | "tight" | "too_big";

/** Memory-fit estimate: weights + KV cache at contextLength vs RAM / GPU memory. */
export interface FitReport {
  verdict: FitVerdict;
  requiredBytes: number;
  availableBytes: number;
  /** Context length the estimate was made for. */
  contextLength: number;
  /** Short explanation, e.g. "needs 5.1 GB, 3.2 GB free". */
  detail: string;
}

export interface CatalogEntry {
  /** Stable catalog id, e.g. "qwen2.5-1.5b-instruct-q4_k_m". */
  id: string;
  name: string;
  family: string;
  /** Human label, e.g. "1.5B". */
  parameters: string;
  quantization: string;
  sizeBytes: number;
  contextLength: number;
  license: string;
  url: string;
  sha256: string;
  description: string;
  fit: FitReport;
  /** Id of the installed model made from this entry, if any. */
  installedId: string | null;
}

export interface InstalledModel {
  id: string;
  name: string;
  /** Absolute path of the GGUF file. */
  path: string;
  architecture: string;
  /** e.g. "135M" (from GGUF metadata or the catalog). */
  parameters: string;
  quantization: string;
  contextLength: number;
  sizeBytes: number;
  sha256: string;
  source: "catalog" | "url" | "import";
  /** For imports: copied into the store or referenced in place. */
  storage: "store" | "reference";
  catalogId: string | null;
  /** Unix ms. */
  addedAt: number;
  fit: FitReport;
}

export type DownloadStatus =
  | "queued"
  | "downloading"
  | "verifying"
  | "paused"
  | "retrying"
  | "failed"
  | "completed"
  | "cancelled";

export interface DownloadInfo {
  id: string;
  catalogId: string | null;
  name: string;
  url: string;
  status: DownloadStatus;
  downloadedBytes: number;
  totalBytes: number;
  bytesPerSecond: number;
  etaSeconds: number | null;
  error: string | null;
}

/** What to download: a catalog entry, a URL with its expected SHA-256, or a file of a
 *  Hugging Face repository (its SHA-256 and size come from the Hub's LFS metadata). */
export type DownloadSource =
  | { kind: "catalog"; catalogId: string }
  | { kind: "url"; url: string; sha256: string; name?: string | null }
  | { kind: "hub"; repo: string; file: string };

// ── Hugging Face search ──

/** hub_search order: most downloaded, or most recently updated. */
export type HubSort = "downloads" | "recent";

/** A GGUF repository on the Hugging Face Hub. */
export interface HubModel {
  /** "owner/name". */
  id: string;
  downloads: number;
  likes: number;
  /** Unix ms; null when the Hub did not say. */
  lastModified: number | null;
  /** Downloads need the repository's terms accepted on the Hub and a token. */
  gated: boolean;
  private: boolean;
}

/** A GGUF model in a Hub repository: one file, or a split one (all its parts). */
export interface HubFile {
  /** Path in the repository (a split model: its first part). */
  path: string;
  /** The name it gets among the installed models. */
  fileName: string;
  /** From the file name, e.g. "Q4_K_M"; null when it names none. */
  quantization: string | null;
  sizeBytes: number;
  /** The Hub's LFS SHA-256; null when it lists none (then it is not downloadable). */
  sha256: string | null;
  split: { parts: number; present: number } | null;
  /** By file size (weights + 10%): the model's shape is only known once downloaded. */
  fit: FitReport;
  installedId: string | null;
  /** False for split models and files without a SHA-256; `note` says why. */
  downloadable: boolean;
  note: string | null;
}

/**
 * Streamed through the `onProgress` Channel of download_model / resume_download.
 * Every event carries the download id.
 */
export type DownloadEvent =
  | { event: "started"; data: { id: string; totalBytes: number; resumedFrom: number } }
  | {
      event: "progress";
      data: {
        id: string;
        downloadedBytes: number;
        totalBytes: number;
        bytesPerSecond: number;
        etaSeconds: number | null;
      };
    }
  | { event: "retrying"; data: { id: string; attempt: number; delayMs: number; reason: string } }
  | { event: "verifying"; data: { id: string } }
  | { event: "paused"; data: { id: string; downloadedBytes: number } }
  | { event: "finished"; data: { id: string; model: InstalledModel } }
  | { event: "cancelled"; data: { id: string } }
  | { event: "error"; data: { id: string; message: string; code?: ErrorCode | (string & {}) } };

export type ImportMode = "copy" | "reference";

// ── updates ──

/** A newer Woolly the last check found. */
export interface UpdateInfo {
  version: string;
  /** Release notes as published: shown as plain text. */
  notes: string;
  /** Unix ms; null when the update manifest gives no date. */
  date: number | null;
}

export interface CatalogInfo {
  /** "builtin": the catalog of this version; "refreshed": a signed catalog fetched later. */
  origin: "builtin" | "refreshed";
  models: number;
  /** Unix ms of the refresh; null for the built-in catalog. */
  refreshedAt: number | null;
}

export interface UpdateStatus {
  currentVersion: string;
  /** Unix ms of the last successful check; null = never. */
  lastCheckedAt: number | null;
  available: UpdateInfo | null;
  /** The available update is downloaded and its signature verified. */
  downloaded: boolean;
  catalog: CatalogInfo;
}

/** Streamed by download_update. */
export type UpdateEvent =
  | { event: "progress"; data: { downloaded: number; total: number | null } }
  | { event: "verified"; data?: undefined };
