/**
 * Typed functions over the command table: what the views call. Each one is a thin
 * wrapper: the command name and argument object here are exactly what the Rust side
 * receives (see ./commands.ts and ./README.md).
 */
import type { ArgsOf, CommandName, ResultOf } from "./commands";
import { ApiError, getTransport, toAppError } from "./transport";
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

export async function call<K extends CommandName>(
  command: K,
  args: ArgsOf<K>,
): Promise<ResultOf<K>> {
  try {
    return await getTransport().invoke(command, args);
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new ApiError(command, toAppError(error));
  }
}

const channel = <E>(onEvent: (event: E) => void) => getTransport().channel(onEvent);
const none = {} as Record<string, never>;

// ── conversations ──
export const listConversations = (): Promise<Conversation[]> => call("list_conversations", none);
export const createConversation = (title: string | null = null): Promise<Conversation> =>
  call("create_conversation", { title });
export const renameConversation = (conversationId: string, title: string): Promise<Conversation> =>
  call("rename_conversation", { conversationId, title });
export const updateConversation = (
  conversationId: string,
  update: { systemPrompt: string; params: SamplingParams; modelId: string | null },
): Promise<Conversation> => call("update_conversation", { conversationId, ...update });
export const deleteConversation = (conversationId: string): Promise<null> =>
  call("delete_conversation", { conversationId });
export const searchConversations = (query: string): Promise<SearchHit[]> =>
  call("search_conversations", { query });
export const getMessages = (conversationId: string): Promise<Message[]> =>
  call("get_messages", { conversationId });
export const switchBranch = (conversationId: string, messageId: string, version?: number): Promise<Message[]> =>
  call("switch_branch", version === undefined ? { conversationId, messageId } : { conversationId, messageId, version });
export const exportConversation = (conversationId: string, format: ExportFormat): Promise<string | null> =>
  call("export_conversation", { conversationId, format });
export const exportAll = (format: ExportFormat): Promise<string | null> => call("export_all", { format });
export const importConversations = (): Promise<Conversation[] | null> => call("import_conversations", none);

// ── chat turns ──
/** The flag is sent only when the user chose to drop (the default is false). */
const drop = (allowDropOldest: boolean) => (allowDropOldest ? { allowDropOldest } : {});
export const sendMessage = (
  conversationId: string,
  content: string,
  onEvent: (event: ChatEvent) => void,
  allowDropOldest = false,
  attachmentIds: string[] = [],
): Promise<TurnResult> =>
  call("send_message", {
    conversationId,
    content,
    ...drop(allowDropOldest),
    ...(attachmentIds.length > 0 ? { attachmentIds } : {}),
    onEvent: channel(onEvent),
  });
export const stopGeneration = (conversationId: string): Promise<boolean> =>
  call("stop_generation", { conversationId });
export const regenerate = (
  conversationId: string,
  onEvent: (event: ChatEvent) => void,
  allowDropOldest = false,
  messageId?: string,
): Promise<TurnResult> =>
  call("regenerate", {
    conversationId,
    ...(messageId ? { messageId } : {}),
    ...drop(allowDropOldest),
    onEvent: channel(onEvent),
  });
export const editAndResend = (
  conversationId: string,
  messageId: string,
  content: string,
  onEvent: (event: ChatEvent) => void,
  allowDropOldest = false,
): Promise<TurnResult> =>
  call("edit_and_resend", { conversationId, messageId, content, ...drop(allowDropOldest), onEvent: channel(onEvent) });
export const contextUsage = (
  conversationId: string,
  draft: string,
  attachmentIds: string[] = [],
): Promise<ContextUsage | null> =>
  call("context_usage", { conversationId, draft, ...(attachmentIds.length > 0 ? { attachmentIds } : {}) });

// ── files in a chat ──
export const attachFiles = (): Promise<AttachOutcome> => call("attach_files", none);
export const watchDrops = (onDrop: (outcome: AttachOutcome) => void): Promise<null> =>
  call("watch_drops", { onDrop: channel(onDrop) });
export const removeAttachment = (attachmentId: string): Promise<null> => call("remove_attachment", { attachmentId });
export const listAttachments = (conversationId: string): Promise<Attachment[]> =>
  call("list_attachments", { conversationId });

// ── settings, system, engine ──
export const getSettings = (): Promise<Settings> => call("get_settings", none);
export const saveSettings = (settings: Settings): Promise<Settings> =>
  call("save_settings", { settings });
export const systemInfo = (): Promise<SystemInfo> => call("system_info", none);
export const loadModel = (
  modelId: string | null,
  onProgress: (event: LoadEvent) => void,
): Promise<LoadedModel> => call("load_model", { modelId, onProgress: channel(onProgress) });
export const unloadModel = (): Promise<null> => call("unload_model", none);
export const openExternal = (url: string): Promise<null> => call("open_external", { url });

// ── models ──
export const catalog = (contextLength: number | null = null): Promise<CatalogEntry[]> =>
  call("catalog", { contextLength });
export const installedModels = (): Promise<InstalledModel[]> => call("installed_models", none);
export const listDownloads = (): Promise<DownloadInfo[]> => call("list_downloads", none);
export const downloadModel = (
  source: DownloadSource,
  onProgress: (event: DownloadEvent) => void,
): Promise<DownloadInfo> => call("download_model", { source, onProgress: channel(onProgress) });
export const pauseDownload = (downloadId: string): Promise<null> =>
  call("pause_download", { downloadId });
export const resumeDownload = (
  downloadId: string,
  onProgress: (event: DownloadEvent) => void,
): Promise<DownloadInfo> =>
  call("resume_download", { downloadId, onProgress: channel(onProgress) });
export const cancelDownload = (downloadId: string): Promise<null> =>
  call("cancel_download", { downloadId });
export const pickModelFile = (): Promise<string | null> => call("pick_model_file", none);
export const importModel = (path: string, mode: ImportMode): Promise<InstalledModel> =>
  call("import_model", { path, mode });
export const deleteModel = (modelId: string): Promise<null> => call("delete_model", { modelId });
export const setHfToken = (token: string | null): Promise<null> => call("set_hf_token", { token });
export const hasHfToken = (): Promise<boolean> => call("has_hf_token", none);
export const hubSearch = (query: string, sort: HubSort, limit: number | null = null): Promise<HubModel[]> =>
  call("hub_search", { query, sort, limit });
export const hubFiles = (repo: string): Promise<HubFile[]> => call("hub_files", { repo });

// ── local OpenAI-compatible server ──
export const serverStatus = (): Promise<ServerStatus> => call("server_status", none);
export const startServer = (port: number): Promise<ServerStatus> => call("start_server", { port });
export const stopServer = (): Promise<ServerStatus> => call("stop_server", none);
export const setServerApiKey = (apiKey: string | null): Promise<ServerStatus> =>
  call("set_server_api_key", { apiKey });

// ── remote providers ──
export const listProviders = (): Promise<Provider[]> => call("list_providers", none);
export const addProvider = (name: string, baseUrl: string, apiKey: string | null): Promise<Provider> =>
  call("add_provider", { name, baseUrl, apiKey });
export const updateProvider = (providerId: string, name: string, baseUrl: string): Promise<Provider> =>
  call("update_provider", { providerId, name, baseUrl });
export const setProviderKey = (providerId: string, apiKey: string | null): Promise<Provider> =>
  call("set_provider_key", { providerId, apiKey });
export const removeProvider = (providerId: string): Promise<null> => call("remove_provider", { providerId });
export const providerModels = (providerId: string): Promise<ProviderModel[]> =>
  call("provider_models", { providerId });

// ── updates ──
export const updateStatus = (): Promise<UpdateStatus> => call("update_status", none);
export const checkForUpdate = (): Promise<UpdateStatus> => call("check_for_update", none);
export const downloadUpdate = (onProgress: (event: UpdateEvent) => void): Promise<UpdateStatus> =>
  call("download_update", { onProgress: channel(onProgress) });
export const installUpdate = (): Promise<null> => call("install_update", none);
export const refreshCatalog = (): Promise<UpdateStatus> => call("refresh_catalog", none);
