/**
 * The command table: the one list of Tauri commands the UI calls.
 *
 * Each key is the Rust `#[tauri::command]` function name (snake_case); `args` is the object
 * given to `invoke(name, args)`: Tauri maps each camelCase key to the snake_case Rust
 * parameter of the same name (`conversationId` → `conversation_id: String`). `result` is
 * the command's `Ok` value (`null` for `()`); failures reject with an `AppError`.
 *
 * `StreamChannel<E>` arguments are `tauri::ipc::Channel<E>` on the Rust side: the command
 * sends events (see ./types.ts) through them while it runs, or, for downloads, after it
 * returned.
 */
import type {
  AttachOutcome,
  Attachment,
  CatalogEntry,
  ChatEvent,
  ContextUsage,
  Conversation,
  DownloadEvent,
  DownloadInfo,
  DownloadSource,
  ExportFormat,
  HubFile,
  HubModel,
  HubSort,
  ImportMode,
  InstalledModel,
  LoadEvent,
  LoadedModel,
  Message,
  Provider,
  ProviderModel,
  SamplingParams,
  SearchHit,
  ServerStatus,
  Settings,
  SystemInfo,
  TurnResult,
  UpdateEvent,
  UpdateStatus,
} from "./types";

/** A Tauri `Channel<E>` (or the mock backend's stand-in) passed as a command argument. */
export interface StreamChannel<E> {
  /** Phantom marker; never read. */
  readonly __event?: (event: E) => void;
}

type NoArgs = Record<string, never>;

export interface Commands {
  // ── conversations (SQLite) ──
  /** All conversations, newest `updatedAt` first. */
  list_conversations: { args: NoArgs; result: Conversation[] };
  /** New empty conversation with Settings.defaultSystemPrompt / defaultParams / defaultModelId.
   *  `title` null → "New chat" (the first user message then renames it, see send_message). */
  create_conversation: { args: { title: string | null }; result: Conversation };
  rename_conversation: { args: { conversationId: string; title: string }; result: Conversation };
  /** Replace the per-conversation system prompt, sampling parameters and model. */
  update_conversation: {
    args: {
      conversationId: string;
      systemPrompt: string;
      params: SamplingParams;
      modelId: string | null;
    };
    result: Conversation;
  };
  /** Deletes the conversation and its messages (stops its generation first). */
  delete_conversation: { args: { conversationId: string }; result: null };
  /** Full-text search (FTS5) over titles and message text; best match first. Empty query → []. */
  search_conversations: { args: { query: string }; result: SearchHit[] };
  /** The shown thread of a conversation (one branch of its message tree), oldest first
   *  (system prompt not included). */
  get_messages: { args: { conversationId: string }; result: Message[] };
  /** Shows another branch: the one holding `messageId` (a search hit) or, with `version`,
   *  that version (from 1) of `messageId` (the `‹ n/m ›` switcher), down to the newest
   *  message under it. Resolves with the thread now shown; `busy` while generating. */
  switch_branch: { args: { conversationId: string; messageId: string; version?: number }; result: Message[] };
  /** Native save dialog, then writes the conversation there (Markdown or JSON). Resolves
   *  with the path written, null when the dialog was cancelled. */
  export_conversation: { args: { conversationId: string; format: ExportFormat }; result: string | null };
  /** Every conversation into one file (save dialog); the path, or null when cancelled. */
  export_all: { args: { format: ExportFormat }; result: string | null };
  /** Native open dialog for a JSON export; its conversations become new ones (all or none;
   *  a bad file rejects with `invalid_argument` and changes nothing). null when cancelled. */
  import_conversations: { args: NoArgs; result: Conversation[] | null };

  // ── chat turns (stream through onEvent; resolve when the turn is over) ──
  /** Appends a user message, generates the reply. If the conversation is still titled
   *  "New chat", its title becomes the start of this message. Rejects with `busy` if the
   *  conversation is already generating; a partial reply is saved when stopped. */
  send_message: {
    args: {
      conversationId: string;
      content: string;
      /** Leave out the oldest messages that do not fit the context window (default false:
       *  the turn fails with `context_full` and nothing is dropped). */
      allowDropOldest?: boolean;
      /** Pending attachments (attach_files / dropped files) sent with this message. */
      attachmentIds?: string[];
      onEvent: StreamChannel<ChatEvent>;
    };
    result: TurnResult;
  };
  /** Cancels the running turn of that conversation (its stream then ends with `finished`,
   *  stopReason "cancelled"). Resolves true if a turn was running. */
  stop_generation: { args: { conversationId: string }; result: boolean };
  /** A new version of reply `messageId` (default: the last message shown): a sibling
   *  answering the same user message, sent exactly the path to it. The earlier reply stays
   *  (‹ 1/2 ›). A user message as `messageId` is answered (a turn that failed). */
  regenerate: {
    args: {
      conversationId: string;
      messageId?: string;
      allowDropOldest?: boolean;
      onEvent: StreamChannel<ChatEvent>;
    };
    result: TurnResult;
  };
  /** A new version of user message `messageId` with `content` (a sibling; the original
   *  and everything after it stay reachable) and a reply to it. */
  edit_and_resend: {
    args: {
      conversationId: string;
      messageId: string;
      content: string;
      allowDropOldest?: boolean;
      onEvent: StreamChannel<ChatEvent>;
    };
    result: TurnResult;
  };
  /** The context meter: the conversation plus `draft` (as the next user message, when not
   *  blank) counted with the loaded model's tokenizer and template. null when that model is
   *  not loaded (it never loads one) or the conversation uses a remote provider. */
  context_usage: {
    args: { conversationId: string; draft: string; attachmentIds?: string[] };
    result: ContextUsage | null;
  };

  // ── files in a chat (src-tauri/docs/attachments.md) ──
  /** Opens the native open dialog; the files read become pending attachments. */
  attach_files: { args: NoArgs; result: AttachOutcome };
  /** Files dropped on the window arrive on this channel (read in Rust; no paths here). */
  watch_drops: { args: { onDrop: StreamChannel<AttachOutcome> }; result: null };
  /** Removes a pending attachment, or a sent one (to make the conversation fit). */
  remove_attachment: { args: { attachmentId: string }; result: null };
  /** The attachments sent in a conversation. */
  list_attachments: { args: { conversationId: string }; result: Attachment[] };

  // ── settings, system, engine ──
  get_settings: { args: NoArgs; result: Settings };
  /** Validates, persists (atomic replace) and applies; resolves with the stored settings. */
  save_settings: { args: { settings: Settings }; result: Settings };
  system_info: { args: NoArgs; result: SystemInfo };
  /** Loads `modelId` (null = Settings.defaultModelId), unloading the current one.
   *  Progress through onProgress; resolves once loaded. */
  load_model: {
    args: { modelId: string | null; onProgress: StreamChannel<LoadEvent> };
    result: LoadedModel;
  };
  unload_model: { args: NoArgs; result: null };
  /** Opens an http(s)/mailto link in the system browser (links never navigate the app). */
  open_external: { args: { url: string }; result: null };

  // ── model manager (woolly-hub) ──
  /** The curated catalog with a fit check at `contextLength` (null = default settings). */
  catalog: { args: { contextLength: number | null }; result: CatalogEntry[] };
  installed_models: { args: NoArgs; result: InstalledModel[] };
  /** Downloads known to the store: running, paused (also from before a restart), failed. */
  list_downloads: { args: NoArgs; result: DownloadInfo[] };
  /** Starts a download and resolves at once; progress flows through onProgress until
   *  finished / paused / cancelled / error. */
  download_model: {
    args: { source: DownloadSource; onProgress: StreamChannel<DownloadEvent> };
    result: DownloadInfo;
  };
  pause_download: { args: { downloadId: string }; result: null };
  /** Resumes a paused or failed download (HTTP Range), or re-attaches a new channel to a
   *  running one (e.g. after the UI reloaded). */
  resume_download: {
    args: { downloadId: string; onProgress: StreamChannel<DownloadEvent> };
    result: DownloadInfo;
  };
  /** Stops and deletes the partial file. */
  cancel_download: { args: { downloadId: string }; result: null };
  /** Native "open file" dialog filtered to *.gguf; null when cancelled. */
  pick_model_file: { args: NoArgs; result: string | null };
  /** Validates the GGUF, then copies it into the store or references it in place. */
  import_model: { args: { path: string; mode: ImportMode }; result: InstalledModel };
  /** Removes from the store (deletes the file unless it was imported by reference). */
  delete_model: { args: { modelId: string }; result: null };
  /** Hugging Face token for gated models, kept in the OS keychain. null clears it. */
  set_hf_token: { args: { token: string | null }; result: null };
  has_hf_token: { args: NoArgs; result: boolean };
  /** Searches GGUF repositories on the Hugging Face Hub (the stored token is sent, so gated
   *  and private ones the user may see show up). Rejects with `unreachable`,
   *  `unauthorized` or `bad_response`. `limit` defaults to 30 (at most 100). */
  hub_search: { args: { query: string; sort: HubSort; limit?: number | null }; result: HubModel[] };
  /** The GGUF models of repository `repo` ("owner/name") with quantization, size, SHA-256
   *  and a fit badge; split models are listed with `downloadable: false`. Rejects with
   *  `not_found`, `unauthorized`, `unreachable`, `bad_response` or `invalid_argument`. */
  hub_files: { args: { repo: string }; result: HubFile[] };

  // ── local OpenAI-compatible server ──
  server_status: { args: NoArgs; result: ServerStatus };
  /** Starts the server on 127.0.0.1:`port` (or moves it there), loading the default model
   *  first when none is loaded. Rejects with `server_failed` when the port is taken. */
  start_server: { args: { port: number }; result: ServerStatus };
  stop_server: { args: NoArgs; result: ServerStatus };
  /** Stores the server's API key in the OS keychain (null clears it); a running server
   *  switches to it at once. */
  set_server_api_key: { args: { apiKey: string | null }; result: ServerStatus };

  // ── remote providers (OpenAI-compatible endpoints; keys in the OS keychain) ──
  list_providers: { args: NoArgs; result: Provider[] };
  /** Validates the base URL (http/https, no credentials or query) and stores the key. */
  add_provider: { args: { name: string; baseUrl: string; apiKey: string | null }; result: Provider };
  /** Renames or moves a provider; its id (and the conversations using it) stay. */
  update_provider: { args: { providerId: string; name: string; baseUrl: string }; result: Provider };
  /** null clears the key. */
  set_provider_key: { args: { providerId: string; apiKey: string | null }; result: Provider };
  /** Forgets the provider and deletes its key. */
  remove_provider: { args: { providerId: string }; result: null };
  /** GET {baseUrl}/models. Rejects with `unreachable`, `unauthorized` or `bad_response`. */
  provider_models: { args: { providerId: string }; result: ProviderModel[] };

  // ── updates (Settings → Updates) ──
  update_status: { args: NoArgs; result: UpdateStatus };
  /** Asks the update server. Rejects with `unreachable` or `bad_response`. */
  check_for_update: { args: NoArgs; result: UpdateStatus };
  /** Downloads the offered update and verifies its signature; a package that does not
   *  verify rejects with `bad_response` and nothing is kept. */
  download_update: { args: { onProgress: StreamChannel<UpdateEvent> }; result: UpdateStatus };
  /** Installs the verified update and restarts the app (never resolves on success). */
  install_update: { args: NoArgs; result: null };
  /** Fetches the signed model catalog; a tampered or unsigned one rejects with
   *  `bad_response` and the catalog in use is kept. */
  refresh_catalog: { args: NoArgs; result: UpdateStatus };
}

export type CommandName = keyof Commands;
export type ArgsOf<K extends CommandName> = Commands[K]["args"];
export type ResultOf<K extends CommandName> = Commands[K]["result"];

/** Every command name, for documentation checks and the Rust `AppManifest::commands` list. */
export const COMMAND_NAMES = [
  "list_conversations",
  "create_conversation",
  "rename_conversation",
  "update_conversation",
  "delete_conversation",
  "search_conversations",
  "get_messages",
  "switch_branch",
  "export_conversation",
  "export_all",
  "import_conversations",
  "send_message",
  "stop_generation",
  "regenerate",
  "edit_and_resend",
  "context_usage",
  "attach_files",
  "watch_drops",
  "remove_attachment",
  "list_attachments",
  "get_settings",
  "save_settings",
  "system_info",
  "load_model",
  "unload_model",
  "open_external",
  "catalog",
  "installed_models",
  "list_downloads",
  "download_model",
  "pause_download",
  "resume_download",
  "cancel_download",
  "pick_model_file",
  "import_model",
  "delete_model",
  "set_hf_token",
  "has_hf_token",
  "hub_search",
  "hub_files",
  "server_status",
  "start_server",
  "stop_server",
  "set_server_api_key",
  "list_providers",
  "add_provider",
  "update_provider",
  "set_provider_key",
  "remove_provider",
  "provider_models",
  "update_status",
  "check_for_update",
  "download_update",
  "install_update",
  "refresh_catalog",
] as const satisfies readonly CommandName[];

// Compile-time check that COMMAND_NAMES lists every command.
type Missing = Exclude<CommandName, (typeof COMMAND_NAMES)[number]>;
const _allListed: Missing extends never ? true : Missing = true;
void _allListed;
