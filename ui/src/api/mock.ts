/**
 * In-memory mock backend: implements every command of ./commands.ts so the UI runs in a
 * plain browser (`npm run dev`) and in Vitest without the Rust side. It mimics the
 * documented behaviour (ordering of events, errors, titles, partial replies on stop),
 * so it doubles as an executable description of the contract.
 */
import type { ArgsOf, CommandName, Commands, ResultOf, StreamChannel } from "./commands";
import type { Transport } from "./transport";
import { MockAttachments, type MockFile } from "./mockAttachments";
import type {
  AppError,
  AttachOutcome,
  CatalogEntry,
  ChatEvent,
  Conversation,
  DownloadEvent,
  DownloadInfo,
  FitReport,
  HubFile,
  HubModel,
  InstalledModel,
  LoadEvent,
  LoadedModel,
  Message,
  Provider,
  ProviderModel,
  SamplingParams,
  ServerStatus,
  Settings,
  SystemInfo,
  TurnResult,
  UpdateEvent,
  UpdateInfo,
  UpdateStatus,
} from "./types";

export const DEFAULT_PARAMS: SamplingParams = {
  temperature: 0.7,
  topP: 0.9,
  topK: 40,
  minP: 0.05,
  repeatPenalty: 1.1,
  seed: null,
  maxTokens: 1024,
  contextLength: 4096,
};

export const DEFAULT_SETTINGS: Settings = {
  theme: "system",
  defaultModelId: null,
  device: "auto",
  threads: null,
  memoryLimitBytes: null,
  unloadAfterMinutes: null,
  defaultSystemPrompt: "You are Woolly, a helpful assistant running locally on this computer.",
  defaultParams: DEFAULT_PARAMS,
  checkUpdatesWeekly: false,
};

const GB = 1024 ** 3;
const MB = 1024 ** 2;

export interface ReplyContext {
  conversation: Conversation;
  /** History including the new user message. */
  messages: Message[];
  /** The user message being answered. */
  prompt: string;
}

export interface MockOptions {
  /** Delay between streamed tokens (ms). Default 25. */
  tokenDelayMs?: number;
  /** Delay before each command answers (ms). Default 0. */
  latencyMs?: number;
  /** Produces the reply as a sequence of token texts. Default: canned Markdown replies. */
  reply?: (ctx: ReplyContext) => Iterable<string> | AsyncIterable<string>;
  /** "demo" adds sample conversations; "empty" starts with none. Default "demo". */
  seed?: "demo" | "empty";
  /** Whether a model starts loaded. Default false (the first message loads it lazily). */
  modelLoaded?: boolean;
  /** Simulated download speed in bytes/s. Default 40 MB/s. */
  downloadBytesPerSecond?: number;
  /** Clock (ms). Default Date.now. */
  now?: () => number;
  /** The file the open-file dialog returns. Default null (the dialog was cancelled). */
  pickedFile?: string | null;
  /** Where the save dialog points (export); null = cancelled. Default "/home/user/Documents". */
  saveDir?: string | null;
  /** The text of the JSON file the import dialog picks; null = cancelled. Default null. */
  importText?: string | null;
  /** The Hugging Face Hub cannot be reached (hub_search / hub_files → unreachable). */
  hubOffline?: boolean;
  /** The files the attach dialog returns. Default none (the dialog was cancelled). */
  attachFiles?: MockFile[];
}

/** A repository of the mock's Hugging Face Hub: what hub_search lists and hub_files reads. */
export interface MockHubRepo {
  model: HubModel;
  files: { path: string; sizeBytes: number; sha256: string | null }[];
}

const DAY = 86_400_000;

/** The mock Hub: a few GGUF repositories, one gated, one private, one with a split model. */
export function mockHubRepos(now: number): MockHubRepo[] {
  const sha = (n: number) => n.toString(16).padStart(64, "0");
  return [
    {
      model: { id: "bartowski/Qwen2.5-7B-Instruct-GGUF", downloads: 184_213, likes: 112, lastModified: now - 90 * DAY, gated: false, private: false },
      files: [
        { path: "Qwen2.5-7B-Instruct-IQ4_XS.gguf", sizeBytes: 4_218_832_160, sha256: sha(1) },
        { path: "Qwen2.5-7B-Instruct-Q4_K_M.gguf", sizeBytes: 4_683_073_888, sha256: sha(2) },
        { path: "Qwen2.5-7B-Instruct-Q8_0/Qwen2.5-7B-Instruct-Q8_0-00001-of-00002.gguf", sizeBytes: 4_997_340_032, sha256: sha(3) },
        { path: "Qwen2.5-7B-Instruct-Q8_0/Qwen2.5-7B-Instruct-Q8_0-00002-of-00002.gguf", sizeBytes: 3_098_850_176, sha256: sha(4) },
        { path: "Qwen2.5-7B-Instruct-f16.gguf", sizeBytes: 15_237_853_600, sha256: sha(5) },
      ],
    },
    {
      model: { id: "Qwen/Qwen2.5-0.5B-Instruct-GGUF", downloads: 97_530, likes: 164, lastModified: now - 2 * DAY, gated: false, private: false },
      files: [
        { path: "qwen2.5-0.5b-instruct-q4_k_m.gguf", sizeBytes: 491_400_032, sha256: sha(6) },
        { path: "qwen2.5-0.5b-instruct-q8_0.gguf", sizeBytes: 675_710_816, sha256: sha(7) },
      ],
    },
    {
      model: { id: "google/gemma-2-2b-it-GGUF", downloads: 15_021, likes: 201, lastModified: now - 30 * DAY, gated: true, private: false },
      files: [{ path: "gemma-2-2b-it.gguf", sizeBytes: 10_460_000_000, sha256: sha(8) }],
    },
    {
      model: { id: "me/private-qwen-GGUF", downloads: 3, likes: 0, lastModified: now - DAY, gated: false, private: true },
      files: [{ path: "private-qwen-Q4_0.gguf", sizeBytes: 300 * 1024 ** 2, sha256: sha(9) }],
    },
  ];
}

const QUANT_RE = /(?:^|[^A-Za-z0-9])((?:I?Q\d_[A-Z0-9_]*?)|BF16|F16|F32)(?=[^A-Za-z0-9_]|$)/i;

type Handler<K extends CommandName> = (args: ArgsOf<K>) => Promise<ResultOf<K>> | ResultOf<K>;
type Handlers = { [K in CommandName]: Handler<K> };

/** The mock's stand-in for a Tauri Channel. */
export class MockChannel<E> implements StreamChannel<E> {
  declare readonly __event?: (event: E) => void;
  readonly received: E[] = [];
  constructor(private readonly onMessage: (event: E) => void) {}
  send(event: E): void {
    this.received.push(event);
    this.onMessage(event);
  }
}

const fail = (code: AppError["code"], message: string): AppError => ({ code, message });

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}

/** Splits text into word-ish tokens ("Hello", " world", "!"), as a tokenizer would stream. */
export function tokenize(text: string): string[] {
  return text.match(/\s*[\w'’]+|\s*[^\w\s]|\s+/gu) ?? [];
}

function titleFrom(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 48 ? `${line.slice(0, 47).trimEnd()}…` : line || "New chat";
}

function cannedReply({ prompt }: ReplyContext): string {
  const p = prompt.toLowerCase();
  if (/\b(code|rust|python|function|script|program)\b/.test(p)) {
    return [
      "Here is a small, idiomatic example:",
      "",
      "```rust",
      "fn fibonacci(n: u32) -> u64 {",
      "    let (mut a, mut b) = (0u64, 1u64);",
      "    for _ in 0..n {",
      "        (a, b) = (b, a + b);",
      "    }",
      "    a",
      "}",
      "```",
      "",
      "It runs in **O(n)** time and constant memory. Call `fibonacci(10)` to get `55`.",
    ].join("\n");
  }
  if (/\b(list|steps|how)\b/.test(p)) {
    return [
      "Sure! Here are the steps:",
      "",
      "1. **Download** a model from the *Models* page.",
      "2. **Pick** it as the default in *Settings*.",
      "3. **Chat** — everything stays on your machine.",
      "",
      "| Model | Size | Fit |",
      "|---|---|---|",
      "| SmolLM2 360M | 386 MB | fits |",
      "| Qwen2.5 7B | 4.7 GB | tight |",
    ].join("\n");
  }
  return [
    `You said: *${prompt.trim().slice(0, 200)}*`,
    "",
    "I'm the **mock backend** of Woolly's UI, so I can only echo. In the desktop app the",
    "reply comes from a real model running locally on your computer — nothing leaves it.",
  ].join("\n");
}

const CATALOG: Omit<CatalogEntry, "fit" | "installedId">[] = [
  entry("smollm2-135m-instruct-q4_1", "SmolLM2 135M Instruct", "SmolLM2", "135M", "Q4_1", 98 * MB, 8192, "Apache-2.0", "Tiny and fast; good for trying Woolly out."),
  entry("smollm2-360m-instruct-q8_0", "SmolLM2 360M Instruct", "SmolLM2", "360M", "Q8_0", 386 * MB, 8192, "Apache-2.0", "Small model for quick answers on any machine."),
  entry("smollm2-1.7b-instruct-q4_k_m", "SmolLM2 1.7B Instruct", "SmolLM2", "1.7B", "Q4_K_M", 1.06 * GB, 8192, "Apache-2.0", "Capable small model for everyday questions."),
  entry("qwen2.5-0.5b-instruct-q4_k_m", "Qwen2.5 0.5B Instruct", "Qwen2.5", "0.5B", "Q4_K_M", 398 * MB, 32768, "Apache-2.0", "Multilingual, long context, very light."),
  entry("qwen2.5-1.5b-instruct-q4_k_m", "Qwen2.5 1.5B Instruct", "Qwen2.5", "1.5B", "Q4_K_M", 986 * MB, 32768, "Apache-2.0", "Strong multilingual small model."),
  entry("qwen2.5-3b-instruct-q4_k_m", "Qwen2.5 3B Instruct", "Qwen2.5", "3B", "Q4_K_M", 1.93 * GB, 32768, "Qwen Research", "Good balance of quality and speed."),
  entry("qwen2.5-7b-instruct-q4_k_m", "Qwen2.5 7B Instruct", "Qwen2.5", "7B", "Q4_K_M", 4.68 * GB, 32768, "Apache-2.0", "High quality answers and code; needs 8 GB+ RAM."),
  entry("llama-3.2-1b-instruct-q4_k_m", "Llama 3.2 1B Instruct", "Llama 3.2", "1B", "Q4_K_M", 808 * MB, 131072, "Llama 3.2 Community", "Meta's compact assistant model."),
  entry("llama-3.2-3b-instruct-q4_k_m", "Llama 3.2 3B Instruct", "Llama 3.2", "3B", "Q4_K_M", 2.02 * GB, 131072, "Llama 3.2 Community", "Meta's small model with solid reasoning."),
  entry("mistral-7b-instruct-v0.3-q4_k_m", "Mistral 7B Instruct v0.3", "Mistral", "7B", "Q4_K_M", 4.37 * GB, 32768, "Apache-2.0", "Popular 7B generalist."),
  entry("qwen2.5-14b-instruct-q4_k_m", "Qwen2.5 14B Instruct", "Qwen2.5", "14B", "Q4_K_M", 8.99 * GB, 32768, "Apache-2.0", "Large; needs a workstation with 16 GB+ free."),
];

function entry(
  id: string,
  name: string,
  family: string,
  parameters: string,
  quantization: string,
  sizeBytes: number,
  contextLength: number,
  license: string,
  description: string,
): Omit<CatalogEntry, "fit" | "installedId"> {
  const file = `${name.replace(/ /g, "-")}-${quantization}.gguf`;
  return {
    id,
    name,
    family,
    parameters,
    quantization,
    sizeBytes: Math.round(sizeBytes),
    contextLength,
    license,
    url: `https://huggingface.co/example/${id}/resolve/main/${file}`,
    sha256: "0".repeat(64),
    description,
  };
}

interface DownloadJob {
  info: DownloadInfo;
  channel: MockChannel<DownloadEvent> | null;
  abort: AbortController | null;
  /** A Hub file: installed under its file name. */
  hubFile?: { fileName: string; quantization: string | null; sha256: string };
}

export class MockBackend {
  readonly options: Required<Omit<MockOptions, "reply">> & Pick<MockOptions, "reply">;
  /** Every command call, in order (tests assert on it). */
  readonly calls: { command: CommandName; args: Record<string, unknown> }[] = [];
  settings: Settings = structuredClone(DEFAULT_SETTINGS);
  conversations = new Map<string, Conversation>();
  /** Every message of each conversation, every branch, oldest first (a tree through
   *  `parentId`, as the app's SQLite history). */
  messages = new Map<string, Message[]>();
  /** The last message of each conversation's shown thread (as `current_leaf_id`). */
  leaves = new Map<string, string>();
  installed: InstalledModel[] = [];
  downloads = new Map<string, DownloadJob>();
  loaded: LoadedModel | null = null;
  modelState: SystemInfo["modelState"] = "unloaded";
  hfToken: string | null = null;
  /** The mock Hugging Face Hub (hub_search, hub_files, downloads of kind "hub"). */
  hubRepos: MockHubRepo[];
  /** The local API server (no sockets: a state machine with the documented answers). */
  server = { port: 8080, running: false, apiKey: null as string | null, error: null as string | null, modelId: null as string | null };
  /** Ports the mock treats as taken by another program (start_server → server_failed). */
  busyPorts = new Set<number>();
  /** Remote providers and their keys (the keys stand in for the OS keychain). */
  providers = new Map<string, Provider>();
  providerKeys = new Map<string, string>();
  /** What each provider's GET /models answers; a base URL containing "unreachable" is
   *  unreachable, and the key "bad-key" is refused. */
  remoteModels: ProviderModel[] = [
    { id: "gpt-4o-mini", ownedBy: "openai" },
    { id: "llama3.1:8b", ownedBy: "library" },
  ];
  /** Updates: what the "update server" publishes (`published`), whether its package or
   *  catalog was tampered with, and what the app knows (as update_status reports it). */
  updates = {
    currentVersion: "0.1.0",
    published: null as UpdateInfo | null,
    tampered: false,
    catalogTampered: false,
    available: null as UpdateInfo | null,
    downloaded: false,
    lastCheckedAt: null as number | null,
    /** install_update was called: the app would restart into the new version. */
    restarted: false,
    catalog: { origin: "builtin" as "builtin" | "refreshed", refreshedAt: null as number | null },
  };
  openedUrls: string[] = [];
  /** What start-up recovered from (system_info.notices). */
  notices: string[] = [];
  /** Files "written" by export_conversation / export_all: path and text. */
  exported: { path: string; format: string; text: string }[] = [];
  /** Files picked in the dialog: the only paths import_model accepts (as the app). */
  picked = new Set<string>();
  /** Files in a chat (./mockAttachments.ts). */
  readonly files = new MockAttachments((text) => tokenize(text).length);
  private running = new Map<string, AbortController>();
  private nextId = 1;

  constructor(options: MockOptions = {}) {
    this.options = {
      tokenDelayMs: 25,
      latencyMs: 0,
      seed: "demo",
      modelLoaded: false,
      downloadBytesPerSecond: 40 * MB,
      now: () => Date.now(),
      pickedFile: null,
      saveDir: "/home/user/Documents",
      importText: null,
      hubOffline: false,
      attachFiles: [],
      ...options,
    };
    this.hubRepos = mockHubRepos(this.options.now());
    const tiny = CATALOG[0];
    this.installed.push({
      id: "smollm2-135m-instruct-q4_1",
      name: tiny.name,
      path: "~/.local/share/woolly/models/SmolLM2-135M-Instruct.Q4_1.gguf",
      architecture: "llama",
      parameters: tiny.parameters,
      quantization: tiny.quantization,
      contextLength: tiny.contextLength,
      sizeBytes: tiny.sizeBytes,
      sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
      source: "catalog",
      storage: "store",
      catalogId: tiny.id,
      addedAt: this.options.now() - 86_400_000,
      fit: this.fit(tiny.sizeBytes, DEFAULT_PARAMS.contextLength),
    });
    this.settings.defaultModelId = this.installed[0].id;
    if (this.options.modelLoaded) this.setLoaded(this.installed[0]);
    if (this.options.seed === "demo") this.seedDemo();
  }

  // ── helpers usable from tests ──

  id(prefix: string): string {
    return `${prefix}-${this.nextId++}`;
  }

  /** Adds a conversation with messages (role, content) and returns it. */
  addConversation(title: string, turns: [Message["role"], string][] = [], ageMs = 0): Conversation {
    const now = this.options.now() - ageMs;
    const conversation: Conversation = {
      id: this.id("c"),
      title,
      createdAt: now,
      updatedAt: now,
      systemPrompt: this.settings.defaultSystemPrompt,
      params: { ...this.settings.defaultParams },
      modelId: null,
      messageCount: 0,
    };
    this.conversations.set(conversation.id, conversation);
    this.messages.set(conversation.id, []);
    for (const [role, content] of turns) {
      this.pushMessage(conversation, role, content, role === "assistant" ? this.demoStats(content) : null);
    }
    conversation.updatedAt = now;
    return conversation;
  }

  transport(): Transport {
    return {
      kind: "mock",
      invoke: <K extends CommandName>(command: K, args: ArgsOf<K>) => this.invoke(command, args),
      channel: <E>(onMessage: (event: E) => void) => new MockChannel<E>(onMessage),
    };
  }

  async invoke<K extends CommandName>(command: K, args: ArgsOf<K>): Promise<ResultOf<K>> {
    this.calls.push({ command, args: (args ?? {}) as Record<string, unknown> });
    if (this.options.latencyMs > 0) await sleep(this.options.latencyMs);
    const handler = this.handlers[command] as Handler<K> | undefined;
    if (!handler) throw fail("not_found", `unknown command ${command}`);
    const result = await handler(args);
    return structuredClone(result);
  }

  callsOf(command: CommandName) {
    return this.calls.filter((c) => c.command === command);
  }

  // ── internals ──

  private seedDemo() {
    const hour = 3_600_000;
    this.addConversation(
      "Welcome to Woolly",
      [
        ["user", "What can you do?"],
        [
          "assistant",
          "Hi! I'm **Woolly**, an assistant that runs *entirely on your computer*.\n\n- Chat with local models — nothing leaves this machine\n- Download and manage models on the **Models** page\n- Tune temperature, top-p and more per conversation\n\n```python\nprint(\"Hello from a local model\")\n```",
        ],
      ],
      2 * hour,
    );
    this.addConversation(
      "Rust iterator tips",
      [
        ["user", "How do I sum the squares of even numbers in Rust?"],
        ["assistant", "Use an iterator chain:\n\n```rust\nlet total: i64 = nums.iter().filter(|n| *n % 2 == 0).map(|n| n * n).sum();\n```"],
      ],
      30 * hour,
    );
    this.addConversation(
      "Trip packing list",
      [
        ["user", "Packing list for a weekend hike"],
        ["assistant", "1. Water (2 L)\n2. Rain jacket\n3. Snacks\n4. Map and compass"],
      ],
      5 * 24 * hour,
    );
  }

  private demoStats(content: string): Message["stats"] {
    const generated = tokenize(content).length;
    return {
      promptTokens: 42,
      generatedTokens: generated,
      tokensPerSecond: 48.2,
      timeToFirstTokenMs: 85,
      stopReason: "eos",
      contextLength: DEFAULT_PARAMS.contextLength,
    };
  }

  /** Adds a message under `parentId` (default: the end of the shown thread), which it
   *  then ends. */
  private pushMessage(
    conversation: Conversation,
    role: Message["role"],
    content: string,
    stats: Message["stats"],
    parentId: string | null = this.leafOf(conversation.id),
  ): Message {
    const message: Message = {
      id: this.id("m"),
      conversationId: conversation.id,
      role,
      content,
      createdAt: this.options.now(),
      stats,
      modelId: role === "assistant" ? (this.loaded?.id ?? this.settings.defaultModelId) : undefined,
      parentId,
    };
    this.messages.get(conversation.id)!.push(message);
    this.leaves.set(conversation.id, message.id);
    conversation.messageCount = this.messages.get(conversation.id)!.length;
    conversation.updatedAt = this.options.now();
    return message;
  }

  /** The end of the shown thread: the saved leaf while it exists, else the newest message. */
  leafOf(conversationId: string): string | null {
    const all = this.messages.get(conversationId) ?? [];
    const leaf = this.leaves.get(conversationId);
    return all.find((m) => m.id === leaf)?.id ?? all.at(-1)?.id ?? null;
  }

  /** The messages from a root down to `messageId`, each with its version among its siblings. */
  pathTo(conversationId: string, messageId: string | null): Message[] {
    const all = this.messages.get(conversationId) ?? [];
    const path: Message[] = [];
    for (let m = all.find((x) => x.id === messageId); m; m = all.find((x) => x.id === m!.parentId)) {
      path.unshift(m);
    }
    return path.map((m) => {
      const siblings = all.filter((x) => (x.parentId ?? null) === (m.parentId ?? null));
      return { ...m, version: siblings.indexOf(m) + 1, versions: siblings.length };
    });
  }

  /** The shown thread of a conversation. */
  thread(conversationId: string): Message[] {
    return this.pathTo(conversationId, this.leafOf(conversationId));
  }

  /** The newest message under `messageId` (itself included): a leaf. */
  private latestLeaf(conversationId: string, messageId: string): string {
    const all = this.messages.get(conversationId) ?? [];
    const under = new Set([messageId]);
    let latest = messageId;
    for (const m of all) {
      if (m.parentId && under.has(m.parentId)) {
        under.add(m.id);
        latest = m.id;
      }
    }
    return latest;
  }

  private conversation(id: string): Conversation {
    const c = this.conversations.get(id);
    if (!c) throw fail("not_found", `No conversation ${id}`);
    return c;
  }

  private fit(sizeBytes: number, contextLength: number): FitReport {
    const totalRam = 16 * GB;
    const available = this.settings.memoryLimitBytes ?? 9 * GB;
    const kv = (sizeBytes / GB) * 0.09 * GB * (contextLength / 4096);
    const required = Math.round(sizeBytes * 1.08 + kv + 200 * MB);
    const verdict = required <= available * 0.6 ? "fits" : required <= available ? "tight" : "too_big";
    const gb = (n: number) => `${(n / GB).toFixed(1)} GB`;
    void totalRam;
    return {
      verdict,
      requiredBytes: required,
      availableBytes: available,
      contextLength,
      detail: `needs ~${gb(required)} at ${contextLength} context, ${gb(available)} available`,
    };
  }

  private setLoaded(model: InstalledModel) {
    this.loaded = {
      id: model.id,
      name: model.name,
      architecture: model.architecture,
      quantization: model.quantization,
      contextLength: model.contextLength,
      sizeBytes: model.sizeBytes,
      loadMs: 240,
    };
    this.modelState = "loaded";
  }

  private async ensureLoaded(
    modelId: string | null,
    progress: (p: number, stage: string, id: string) => void,
    signal?: AbortSignal,
  ): Promise<LoadedModel> {
    const id = modelId ?? this.settings.defaultModelId ?? this.installed[0]?.id;
    const model = this.installed.find((m) => m.id === id);
    if (!model) throw fail("no_model", "No model installed. Download one on the Models page.");
    if (this.loaded?.id === model.id) return this.loaded;
    if (model.fit.verdict === "too_big") {
      throw fail("insufficient_memory", `${model.name} does not fit in memory (${model.fit.detail}).`);
    }
    this.modelState = "loading";
    this.loaded = { id: model.id, name: model.name, architecture: model.architecture, quantization: model.quantization, contextLength: model.contextLength, sizeBytes: model.sizeBytes, loadMs: 0 };
    const stages = ["Reading GGUF metadata", "Mapping weights", "Preparing KV cache"];
    for (let i = 0; i < stages.length; i++) {
      progress((i + 1) / (stages.length + 1), stages[i], model.id);
      await sleep(this.options.tokenDelayMs * 2, signal);
    }
    progress(1, "Ready", model.id);
    this.setLoaded(model);
    return this.loaded!;
  }

  /** Runs one chat turn: streams into `channel`, saves the (possibly partial) reply. */
  private exportTo(list: Conversation[], format: "markdown" | "json", name: string): string | null {
    const dir = this.options.saveDir;
    if (dir === null) return null;
    const path = `${dir}/${name.replace(/[\\/:*?"<>|]/g, "-")}.${format === "json" ? "json" : "md"}`;
    const text =
      format === "json"
        ? JSON.stringify({
            format: "woolly.conversations",
            version: 2,
            exportedAt: this.options.now(),
            app: "woolly-desktop (mock)",
            conversations: list.map((c) => ({
              title: c.title,
              createdAt: c.createdAt,
              updatedAt: c.updatedAt,
              modelId: c.modelId,
              systemPrompt: c.systemPrompt,
              params: c.params,
              currentId: this.leafOf(c.id),
              messages: (this.messages.get(c.id) ?? []).map(({ id, parentId, role, content, createdAt, modelId, stats }) => ({
                id,
                parentId: parentId ?? null,
                role,
                content,
                createdAt,
                modelId: modelId ?? null,
                stats,
              })),
            })),
          }, null, 2)
        : list
            .map(
              (c) =>
                `# ${c.title}\n\n` +
                this.thread(c.id)
                  .map((m) => {
                    const note = (m.versions ?? 1) > 1 ? ` · version ${m.version} of ${m.versions}` : "";
                    return `## ${m.role === "user" ? "User" : "Assistant"}${note}\n\n${m.content}\n`;
                  })
                  .join("\n"),
            )
            .join("\n---\n\n");
    this.exported.push({ path, format, text });
    return path;
  }

  /** Mock prompt size: the system prompt and messages `from..` of the history (with their
   *  attachments), and the draft. */
  private promptTokens(conversation: Conversation, history: Message[], from = 0, draft = "", pending = 0): number {
    const messages = history.slice(from).filter((m) => m.content);
    const attached = this.files.tokens(this.files.of(messages.map((m) => m.id))).reduce((n, a) => n + a.tokens, 0);
    return (
      tokenize(conversation.systemPrompt).length +
      messages.reduce((n, m) => n + tokenize(m.content).length + 4, 0) +
      attached +
      (draft.trim() || pending ? tokenize(draft).length + 4 + pending : 0)
    );
  }

  /** Stands for files dropped on the window (read "in Rust", announced on watch_drops). */
  dropFiles(files: MockFile[]): AttachOutcome {
    return this.files.drop(files);
  }

  /** As the app: the fewest oldest messages to drop so the prompt fits (a question stays
   *  with its answer), or a context_full error when not allowed or no drop helps. */
  private fitPrompt(conversation: Conversation, history: Message[], allowDropOldest: boolean) {
    const ctx = conversation.params.contextLength;
    const reserve = Math.max(1, Math.min(conversation.params.maxTokens, Math.floor(ctx / 4)));
    const full = this.promptTokens(conversation, history);
    if (full + reserve <= ctx) return { promptTokens: full, dropped: 0 };
    const list = history.filter((m) => m.content);
    let best: { promptTokens: number; dropped: number } | null = null;
    for (let i = 1; i < list.length; i++) {
      if (list[i].role !== "user" && i + 1 !== list.length) continue;
      const n = this.promptTokens(conversation, list, i);
      if (n + reserve <= ctx) {
        best = { promptTokens: n, dropped: i };
        break;
      }
    }
    if (best && allowDropOldest) return best;
    const context = {
      promptTokens: full,
      replyReserve: reserve,
      tokensNeeded: full + reserve,
      contextLength: ctx,
      dropMessages: best?.dropped ?? null,
      attachments: this.files.tokens(this.files.of(history.map((m) => m.id))),
    };
    const message = best
      ? `This conversation no longer fits the model's context window: it needs ${full + reserve} tokens of ${ctx}.`
      : `The last message is too long for the model's context window: it needs ${full + reserve} tokens of ${ctx}.`;
    return { error: { code: "context_full", message, context } as AppError };
  }

  private async runTurn(
    conversation: Conversation,
    userMessage: Message | null,
    channel: MockChannel<ChatEvent>,
    allowDropOldest = false,
    parentId: string | null = userMessage?.id ?? null,
  ): Promise<TurnResult> {
    if (this.running.has(conversation.id)) {
      throw fail("busy", "This conversation is already generating a reply.");
    }
    const abort = new AbortController();
    this.running.set(conversation.id, abort);
    // As the app: the prompt is the path to the message answered, never another branch.
    const history = this.pathTo(conversation.id, parentId);
    const prompt = [...history].reverse().find((m) => m.role === "user")?.content ?? "";
    const remote = conversation.modelId?.startsWith("remote:") ? conversation.modelId.slice(7).split(":")[0] : null;
    try {
      // A remote provider's model: no local load, but the provider must answer.
      if (remote !== null) {
        this.reachProvider(this.provider(remote));
      } else {
        await this.ensureLoaded(
          conversation.modelId,
          (progress, stage, modelId) => channel.send({ event: "model_loading", data: { modelId, progress, stage } }),
          abort.signal,
        );
      }
    } catch (error) {
      this.running.delete(conversation.id);
      if (remote === null) this.modelState = "error";
      const e = error as AppError;
      channel.send({ event: "error", data: { message: e.message, code: e.code } });
      throw e;
    }
    let promptTokens = this.promptTokens(conversation, history);
    let dropped = 0;
    if (remote === null) {
      const fit = this.fitPrompt(conversation, history, allowDropOldest);
      if ("error" in fit) {
        this.running.delete(conversation.id);
        const e = fit.error!;
        channel.send({ event: "error", data: { message: e.message, code: e.code, context: e.context } });
        throw e;
      }
      ({ promptTokens, dropped } = fit);
    }
    const assistant = this.pushMessage(conversation, "assistant", "", null, parentId);
    channel.send({
      event: "started",
      data: { messageId: assistant.id, userMessageId: userMessage?.id ?? null, promptTokens },
    });
    const started = this.options.now();
    let firstTokenAt: number | null = null;
    let generated = 0;
    let stopReason: string = "eos";
    const source = (this.options.reply ?? ((ctx) => tokenize(cannedReply(ctx))))({
      conversation,
      messages: history.slice(0, -1),
      prompt,
    });
    const iterator =
      Symbol.asyncIterator in source
        ? (source as AsyncIterable<string>)[Symbol.asyncIterator]()
        : (source as Iterable<string>)[Symbol.iterator]();
    const aborted = new Promise<"aborted">((resolve) =>
      abort.signal.addEventListener("abort", () => resolve("aborted")),
    );
    try {
      for (;;) {
        if (abort.signal.aborted) {
          stopReason = "cancelled";
          break;
        }
        const next = await Promise.race([Promise.resolve(iterator.next()), aborted]);
        if (next === "aborted") {
          stopReason = "cancelled";
          break;
        }
        if (next.done) break;
        if (generated >= conversation.params.maxTokens) {
          stopReason = "max_tokens";
          break;
        }
        firstTokenAt ??= this.options.now();
        generated++;
        assistant.content += next.value;
        channel.send({ event: "token", data: { text: next.value } });
        if (this.options.tokenDelayMs > 0) await sleep(this.options.tokenDelayMs, abort.signal);
      }
    } finally {
      this.running.delete(conversation.id);
    }
    const elapsed = Math.max(1, this.options.now() - (firstTokenAt ?? started));
    assistant.stats = {
      promptTokens,
      generatedTokens: generated,
      tokensPerSecond: generated > 0 ? (generated * 1000) / elapsed : 0,
      timeToFirstTokenMs: (firstTokenAt ?? this.options.now()) - started,
      stopReason,
      contextLength: conversation.params.contextLength,
      ...(dropped > 0 ? { droppedMessages: dropped } : {}),
    };
    conversation.updatedAt = this.options.now();
    channel.send({ event: "finished", data: { stats: assistant.stats } });
    const versioned = (m: Message) => this.pathTo(conversation.id, m.id).at(-1) ?? m;
    return { userMessage: userMessage && versioned(userMessage), assistantMessage: versioned(assistant) };
  }

  private startDownload(job: DownloadJob) {
    const abort = new AbortController();
    job.abort = abort;
    job.info.status = "downloading";
    job.info.error = null;
    const send = (e: DownloadEvent) => job.channel?.send(e);
    send({ event: "started", data: { id: job.info.id, totalBytes: job.info.totalBytes, resumedFrom: job.info.downloadedBytes } });
    const tickMs = 200;
    const step = Math.max(1, Math.round((this.options.downloadBytesPerSecond * tickMs) / 1000));
    void (async () => {
      while (job.info.downloadedBytes < job.info.totalBytes) {
        await sleep(tickMs, abort.signal);
        if (abort.signal.aborted) return;
        job.info.downloadedBytes = Math.min(job.info.totalBytes, job.info.downloadedBytes + step);
        job.info.bytesPerSecond = this.options.downloadBytesPerSecond;
        job.info.etaSeconds = Math.ceil((job.info.totalBytes - job.info.downloadedBytes) / job.info.bytesPerSecond);
        send({
          event: "progress",
          data: {
            id: job.info.id,
            downloadedBytes: job.info.downloadedBytes,
            totalBytes: job.info.totalBytes,
            bytesPerSecond: job.info.bytesPerSecond,
            etaSeconds: job.info.etaSeconds,
          },
        });
      }
      job.info.status = "verifying";
      send({ event: "verifying", data: { id: job.info.id } });
      await sleep(tickMs, abort.signal);
      if (abort.signal.aborted) return;
      const cat = CATALOG.find((c) => c.id === job.info.catalogId);
      const hub = job.hubFile;
      const model: InstalledModel = {
        id: cat?.id ?? hub?.fileName ?? this.id("model"),
        name: job.info.name,
        path: `~/.local/share/woolly/models/${job.info.name.replace(/ /g, "-")}.gguf`,
        architecture: "llama",
        parameters: cat?.parameters ?? "?",
        quantization: cat?.quantization ?? hub?.quantization ?? "?",
        contextLength: cat?.contextLength ?? 4096,
        sizeBytes: job.info.totalBytes,
        sha256: cat?.sha256 ?? hub?.sha256 ?? "0".repeat(64),
        source: cat ? "catalog" : "url",
        storage: "store",
        catalogId: cat?.id ?? null,
        addedAt: this.options.now(),
        fit: this.fit(job.info.totalBytes, this.settings.defaultParams.contextLength),
      };
      this.installed.push(model);
      job.info.status = "completed";
      this.downloads.delete(job.info.id);
      send({ event: "finished", data: { id: job.info.id, model } });
    })();
  }

  /** The repository as the Hub shows it to this user (private ones only with a token). */
  private hubRepo(id: string): MockHubRepo {
    if (this.options.hubOffline) throw fail("unreachable", "Hugging Face Hub: could not reach the Hub: connection refused (https://huggingface.co/api/models)");
    const repo = this.hubRepos.find((r) => r.model.id === id.trim());
    if (!repo || (repo.model.private && !this.hfToken)) {
      throw fail("not_found", `Hugging Face Hub: HTTP 404 Not Found: no such repository (or it is private) (https://huggingface.co/api/models/${id}/tree/main)`);
    }
    return repo;
  }

  /** hub_files for one repository: split parts grouped, as the app lists them. */
  private hubFiles(repo: MockHubRepo): HubFile[] {
    const out: HubFile[] = [];
    const splits = new Map<string, HubFile>();
    for (const f of [...repo.files].sort((a, b) => a.path.localeCompare(b.path))) {
      const fileName = f.path.split("/").pop()!;
      const split = /^(.*)-(\d{1,5})-of-(\d{1,5})\.gguf$/i.exec(f.path);
      const quantization = QUANT_RE.exec(fileName)?.[1].toUpperCase() ?? null;
      if (split) {
        const group = splits.get(split[1]);
        if (group) {
          group.sizeBytes += f.sizeBytes;
          group.split!.present += 1;
          group.fit = this.fit(group.sizeBytes, this.settings.defaultParams.contextLength);
          continue;
        }
        const parts = Number(split[3]);
        const file: HubFile = {
          path: f.path,
          fileName,
          quantization,
          sizeBytes: f.sizeBytes,
          sha256: f.sha256,
          split: { parts, present: 1 },
          fit: this.fit(f.sizeBytes, this.settings.defaultParams.contextLength),
          installedId: null,
          downloadable: false,
          note: `Split into ${parts} files: Woolly loads single-file GGUF models only, so it does not download split ones. Choose a single-file quantization, or merge the parts with llama.cpp's gguf-split --merge and import the result.`,
        };
        splits.set(split[1], file);
        out.push(file);
        continue;
      }
      out.push({
        path: f.path,
        fileName,
        quantization,
        sizeBytes: f.sizeBytes,
        sha256: f.sha256,
        split: null,
        fit: this.fit(f.sizeBytes, this.settings.defaultParams.contextLength),
        installedId: this.installed.find((m) => m.id === fileName)?.id ?? null,
        downloadable: f.sha256 !== null,
        note: f.sha256 === null ? "The Hub lists no SHA-256 for this file (it is not stored in LFS), so Woolly does not download it unverified." : null,
      });
    }
    return out;
  }

  private updateStatus(): UpdateStatus {
    const u = this.updates;
    return {
      currentVersion: u.currentVersion,
      lastCheckedAt: u.lastCheckedAt,
      available: u.available ? { ...u.available } : null,
      downloaded: u.downloaded,
      catalog: { origin: u.catalog.origin, models: CATALOG.length, refreshedAt: u.catalog.refreshedAt },
    };
  }

  private serverStatus(): ServerStatus {
    const { port, running, apiKey, error, modelId } = this.server;
    return {
      running,
      port,
      address: running ? `127.0.0.1:${port}` : null,
      baseUrl: running ? `http://127.0.0.1:${port}/v1` : null,
      hasApiKey: apiKey !== null,
      modelId: running ? modelId : null,
      error,
    };
  }

  private provider(id: string): Provider {
    const p = this.providers.get(id);
    if (!p) throw fail("not_found", "No such provider. It may have been removed; choose another model.");
    return p;
  }

  /** What a request to the provider would run into before any token. */
  private reachProvider(p: Provider): void {
    if (p.baseUrl.includes("unreachable")) {
      throw fail("unreachable", `${p.baseUrl}/models could not be reached: Connection refused (os error 111)`);
    }
    if (this.providerKeys.get(p.id) === "bad-key") {
      throw fail("unauthorized", `${p.baseUrl}/models refused the API key (HTTP 401). Check the provider's key in Settings.`);
    }
  }

  private static baseUrl(input: string): string {
    let url: URL;
    try {
      url = new URL(input.trim());
    } catch {
      throw fail("invalid_argument", "Enter the API's base URL, like http://localhost:11434/v1.");
    }
    if (!/^https?:$/.test(url.protocol)) throw fail("invalid_argument", "The base URL must start with http:// or https://.");
    if (url.username || url.password) throw fail("invalid_argument", "Put the API key in the key field, not in the URL.");
    const loopback = /^(localhost|127(\.\d+){3}|\[::1\])$/i.test(url.hostname);
    if (url.protocol === "http:" && !loopback) {
      throw fail(
        "invalid_argument",
        "Use https:// for a provider on another machine (http:// is only for this computer: localhost, 127.0.0.1, ::1).",
      );
    }
    return url.href.replace(/\/+$/, "");
  }

  private static providerName(name: string): string {
    const clean = name.split(/\s+/).filter(Boolean).join(" ");
    if (!clean || clean.length > 64) throw fail("invalid_argument", "Give the provider a name of 1 to 64 characters.");
    return clean;
  }

  private readonly handlers: Handlers = {
    list_conversations: () =>
      [...this.conversations.values()].sort((a, b) => b.updatedAt - a.updatedAt),
    create_conversation: ({ title }) => {
      const c = this.addConversation(title?.trim() || "New chat");
      c.modelId = null;
      return c;
    },
    rename_conversation: ({ conversationId, title }) => {
      const c = this.conversation(conversationId);
      if (!title.trim()) throw fail("invalid_argument", "The title cannot be empty.");
      c.title = title.trim();
      return c;
    },
    update_conversation: ({ conversationId, systemPrompt, params, modelId }) => {
      const c = this.conversation(conversationId);
      c.systemPrompt = systemPrompt;
      c.params = { ...params };
      c.modelId = modelId;
      return c;
    },
    delete_conversation: ({ conversationId }) => {
      this.conversation(conversationId);
      this.running.get(conversationId)?.abort();
      this.conversations.delete(conversationId);
      this.messages.delete(conversationId);
      return null;
    },
    search_conversations: ({ query }) => {
      const q = query.trim().toLowerCase();
      if (!q) return [];
      const hits = [];
      for (const c of [...this.conversations.values()].sort((a, b) => b.updatedAt - a.updatedAt)) {
        if (c.title.toLowerCase().includes(q)) {
          hits.push({ conversation: c, snippet: null });
          continue;
        }
        // Every branch, as the app.
        const m = this.messages.get(c.id)!.find((m) => m.content.toLowerCase().includes(q));
        if (m) {
          const at = m.content.toLowerCase().indexOf(q);
          const start = Math.max(0, at - 30);
          const snippet = (start > 0 ? "…" : "") + m.content.slice(start, at + q.length + 50).replace(/\s+/g, " ");
          hits.push({ conversation: c, snippet, messageId: m.id });
        }
      }
      return hits;
    },
    get_messages: ({ conversationId }) => {
      this.conversation(conversationId);
      return this.thread(conversationId);
    },
    switch_branch: ({ conversationId, messageId, version }) => {
      this.conversation(conversationId);
      if (this.running.has(conversationId)) throw fail("busy", "This conversation is already generating a reply.");
      const all = this.messages.get(conversationId)!;
      const message = all.find((m) => m.id === messageId);
      if (!message) throw fail("not_found", "This message no longer exists.");
      let target = message;
      if (version !== undefined && version !== null) {
        const siblings = all.filter((m) => (m.parentId ?? null) === (message.parentId ?? null));
        const chosen = siblings[Math.max(1, version) - 1];
        if (!chosen) throw fail("invalid_argument", `There is no version ${version} of this message.`);
        target = chosen;
      }
      this.leaves.set(conversationId, this.latestLeaf(conversationId, target.id));
      return this.thread(conversationId);
    },
    export_conversation: ({ conversationId, format }) =>
      this.exportTo([this.conversation(conversationId)], format, this.conversation(conversationId).title),
    export_all: ({ format }) => this.exportTo([...this.conversations.values()], format, "Woolly conversations"),
    import_conversations: () => {
      const text = this.options.importText;
      if (text === null) return null;
      let file: { format?: unknown; version?: unknown; conversations?: unknown };
      try {
        file = JSON.parse(text);
      } catch {
        throw fail("invalid_argument", "This file is not a Woolly conversation export: it is cut short or not JSON. Nothing was imported.");
      }
      if (file.format !== "woolly.conversations" || (file.version !== 1 && file.version !== 2) || !Array.isArray(file.conversations)) {
        throw fail("invalid_argument", "This file is not a Woolly conversation export. Nothing was imported.");
      }
      type FileMessage = { id?: string; parentId?: string | null; role: Message["role"]; content: string };
      const list = file.conversations as { title: string; systemPrompt: string; params: SamplingParams; modelId: string | null; currentId?: string | null; messages: FileMessage[] }[];
      // Check every tree before adding anything (all or none, as the app).
      if (file.version === 2) {
        for (const c of list) {
          const ids = new Set(c.messages.map((m) => m.id));
          if (ids.size !== c.messages.length || ids.has(undefined)) {
            throw fail("invalid_argument", "This file is not a Woolly conversation export: its message ids are missing or repeated. Nothing was imported.");
          }
          const parent = new Map(c.messages.map((m) => [m.id!, m.parentId ?? null]));
          for (const m of c.messages) {
            if (m.parentId && !ids.has(m.parentId)) {
              throw fail("invalid_argument", `This file is not a Woolly conversation export: a message follows "${m.parentId}", which is not in the file. Nothing was imported.`);
            }
            const seen = new Set<string>();
            for (let at: string | null = m.id!; at; at = parent.get(at) ?? null) {
              if (seen.has(at)) {
                throw fail("invalid_argument", "This file is not a Woolly conversation export: its messages' \"parentId\" links form a cycle. Nothing was imported.");
              }
              seen.add(at);
            }
          }
        }
      }
      return list.map((c) => {
        const created = this.addConversation(c.title);
        const idOf = new Map<string, string>();
        // Parents first; siblings keep their order.
        const depth = (m: FileMessage): number => {
          let d = 0;
          for (let p = m.parentId; p; p = c.messages.find((x) => x.id === p)?.parentId) d++;
          return d;
        };
        const ordered = file.version === 2 ? [...c.messages].sort((a, b) => depth(a) - depth(b)) : c.messages;
        let previous: string | null = null;
        for (const m of ordered) {
          const parent: string | null = file.version === 2 ? (m.parentId ? idOf.get(m.parentId)! : null) : previous;
          const added = this.pushMessage(created, m.role, m.content, m.role === "assistant" ? this.demoStats(m.content) : null, parent);
          if (m.id) idOf.set(m.id, added.id);
          previous = added.id;
        }
        const current = c.currentId ? idOf.get(c.currentId) : undefined;
        if (current) this.leaves.set(created.id, current);
        created.systemPrompt = c.systemPrompt;
        created.params = { ...c.params };
        created.modelId = c.modelId;
        return created;
      });
    },
    send_message: async ({ conversationId, content, allowDropOldest, attachmentIds, onEvent }) => {
      const c = this.conversation(conversationId);
      if (!content.trim() && !attachmentIds?.length) throw fail("invalid_argument", "The message is empty.");
      if (this.running.has(conversationId)) throw fail("busy", "This conversation is already generating a reply.");
      this.files.pendingOf(attachmentIds);
      const user = this.pushMessage(c, "user", content, null);
      this.files.send(attachmentIds, user.id);
      if (c.title === "New chat") c.title = titleFrom(content);
      return this.runTurn(c, user, onEvent as MockChannel<ChatEvent>, allowDropOldest);
    },
    stop_generation: ({ conversationId }) => {
      const running = this.running.get(conversationId);
      running?.abort();
      return Boolean(running);
    },
    regenerate: async ({ conversationId, messageId, allowDropOldest, onEvent }) => {
      const c = this.conversation(conversationId);
      if (this.running.has(conversationId)) throw fail("busy", "This conversation is already generating a reply.");
      // As the app: a new version of the reply (a sibling); the earlier one stays.
      const all = this.messages.get(conversationId)!;
      const at = all.find((m) => m.id === (messageId ?? this.leafOf(conversationId)));
      const target = at?.role === "user" ? at : all.find((m) => m.id === at?.parentId);
      if (!target || target.role !== "user") throw fail("invalid_argument", "There is no message to answer again.");
      return this.runTurn(c, null, onEvent as MockChannel<ChatEvent>, allowDropOldest, target.id);
    },
    edit_and_resend: async ({ conversationId, messageId, content, allowDropOldest, onEvent }) => {
      const c = this.conversation(conversationId);
      if (this.running.has(conversationId)) throw fail("busy", "This conversation is already generating a reply.");
      if (!content.trim()) throw fail("invalid_argument", "The message is empty.");
      const original = this.messages.get(conversationId)!.find((m) => m.id === messageId);
      if (!original) throw fail("not_found", "This message no longer exists.");
      if (original.role !== "user") throw fail("invalid_argument", "Only your own messages can be edited.");
      // As the app: a new version (a sibling) of the message, with copies of its files;
      // the original stays.
      const user = this.pushMessage(c, "user", content, null, original.parentId ?? null);
      // The new version keeps the original's files.
      this.files.copy(original.id, user.id);
      return this.runTurn(c, user, onEvent as MockChannel<ChatEvent>, allowDropOldest);
    },
    context_usage: ({ conversationId, draft, attachmentIds }) => {
      const c = this.conversation(conversationId);
      if (!this.loaded || c.modelId?.startsWith("remote:")) return null;
      const ctx = c.params.contextLength;
      // As the app: the shown thread and its messages' attachments (the draft continues it).
      const history = this.thread(conversationId);
      const attachments = [
        ...this.files.tokens(this.files.of(history.map((m) => m.id))),
        ...this.files.tokens(this.files.pendingOf(attachmentIds)),
      ];
      const pending = attachments.filter((a) => !a.sent).reduce((n, a) => n + a.tokens, 0);
      const promptTokens = this.promptTokens(c, history, 0, draft ?? "", pending);
      const systemTokens = tokenize(c.systemPrompt).length;
      const attachmentTokens = attachments.reduce((n, a) => n + a.tokens, 0);
      return {
        promptTokens,
        replyReserve: Math.max(1, Math.min(c.params.maxTokens, Math.floor(ctx / 4))),
        contextLength: ctx,
        systemTokens,
        attachmentTokens,
        historyTokens: promptTokens - systemTokens - attachmentTokens,
        attachments,
      };
    },
    attach_files: () => this.files.read(this.options.attachFiles ?? []),
    watch_drops: ({ onDrop }) => {
      const channel = onDrop as MockChannel<AttachOutcome>;
      this.files.watch((outcome) => channel.send(outcome));
      return null;
    },
    remove_attachment: ({ attachmentId }) => {
      this.files.remove(attachmentId);
      return null;
    },
    list_attachments: ({ conversationId }) => {
      const history = this.messages.get(this.conversation(conversationId).id) ?? [];
      return this.files.shown(this.files.of(history.map((m) => m.id)));
    },
    get_settings: () => this.settings,
    save_settings: ({ settings }) => {
      if (settings.threads !== null && (!Number.isInteger(settings.threads) || settings.threads < 1)) {
        throw fail("invalid_argument", "Threads must be a positive whole number.");
      }
      this.settings = structuredClone(settings);
      return this.settings;
    },
    system_info: () => ({
      appVersion: "0.1.0-preview",
      modelState: this.modelState,
      model: this.loaded,
      modelError: null,
      device: {
        kind: this.settings.device === "gpu" ? "gpu" : "cpu",
        name: this.settings.device === "gpu" ? "Browser preview GPU (mock)" : "Browser preview CPU (mock)",
      },
      threads: this.settings.threads ?? 4,
      memory: {
        totalBytes: 16 * GB,
        availableBytes: 9 * GB,
        processBytes: (this.loaded ? this.loaded.sizeBytes : 0) + 180 * MB,
        gpuTotalBytes: null,
        gpuAvailableBytes: null,
      },
      notices: [...this.notices],
    }),
    load_model: async ({ modelId, onProgress }) => {
      const channel = onProgress as MockChannel<LoadEvent>;
      try {
        const model = await this.ensureLoaded(modelId, (progress, stage) =>
          channel.send({ event: "progress", data: { progress, stage } }),
        );
        channel.send({ event: "loaded", data: { model } });
        return model;
      } catch (error) {
        const e = error as AppError;
        this.modelState = "error";
        this.loaded = null;
        channel.send({ event: "error", data: { message: e.message, code: e.code } });
        throw e;
      }
    },
    unload_model: () => {
      this.loaded = null;
      this.modelState = "unloaded";
      if (this.server.running) {
        this.server = { ...this.server, running: false, error: "Stopped because the model was unloaded." };
      }
      return null;
    },
    open_external: ({ url }) => {
      if (!/^(https:|mailto:)/i.test(url)) throw fail("invalid_argument", "Only https:// and mailto: links can be opened.");
      this.openedUrls.push(url);
      if (typeof window !== "undefined" && !/jsdom/i.test(navigator.userAgent)) {
        window.open(url, "_blank", "noopener,noreferrer");
      }
      return null;
    },
    catalog: ({ contextLength }) =>
      CATALOG.map((c) => ({
        ...c,
        fit: this.fit(c.sizeBytes, contextLength ?? this.settings.defaultParams.contextLength),
        installedId: this.installed.find((m) => m.catalogId === c.id)?.id ?? null,
      })),
    installed_models: () => this.installed,
    list_downloads: () => [...this.downloads.values()].map((d) => d.info),
    download_model: ({ source, onProgress }) => {
      if (source.kind === "hub") {
        const repo = this.hubRepo(source.repo);
        const file = this.hubFiles(repo).find((f) => f.path === source.file);
        if (!file) throw fail("download_failed", `Hugging Face file listing: ${source.file} is not in ${source.repo}`);
        if (!file.downloadable || !file.sha256) throw fail("invalid_argument", file.note ?? "This file cannot be downloaded.");
        if ([...this.downloads.values()].some((d) => d.hubFile?.fileName === file.fileName)) {
          throw fail("busy", "This model is already being downloaded.");
        }
        const info: DownloadInfo = {
          id: this.id("dl"),
          catalogId: null,
          name: file.fileName.replace(/\.gguf$/i, ""),
          url: `https://huggingface.co/${repo.model.id}/resolve/main/${file.path}`,
          status: "queued",
          downloadedBytes: 0,
          totalBytes: file.sizeBytes,
          bytesPerSecond: 0,
          etaSeconds: null,
          error: null,
        };
        const job: DownloadJob = {
          info,
          channel: onProgress as MockChannel<DownloadEvent>,
          abort: null,
          hubFile: { fileName: file.fileName, quantization: file.quantization, sha256: file.sha256 },
        };
        this.downloads.set(info.id, job);
        if (repo.model.gated && !this.hfToken) {
          // As the app: the listing is public, the file is not (HTTP 401 from the Hub).
          queueMicrotask(() => {
            info.status = "failed";
            info.error = `HTTP 401 Unauthorized from ${info.url} (a gated or private model? accept its licence on the Hub and store a Hugging Face token)`;
            job.channel?.send({ event: "error", data: { id: info.id, message: info.error, code: "download_failed" } });
          });
          return info;
        }
        this.startDownload(job);
        return info;
      }
      const cat = source.kind === "catalog" ? CATALOG.find((c) => c.id === source.catalogId) : null;
      if (source.kind === "catalog" && !cat) throw fail("not_found", `Unknown catalog entry ${source.catalogId}`);
      if (source.kind === "url" && !/^[0-9a-f]{64}$/i.test(source.sha256)) {
        throw fail("invalid_argument", "A SHA-256 (64 hex digits) is required.");
      }
      if ([...this.downloads.values()].some((d) => cat && d.info.catalogId === cat.id)) {
        throw fail("busy", "This model is already downloading.");
      }
      const info: DownloadInfo = {
        id: this.id("dl"),
        catalogId: cat?.id ?? null,
        name: cat?.name ?? (source.kind === "url" ? (source.name ?? source.url.split("/").pop() ?? "model") : "model"),
        url: cat?.url ?? (source.kind === "url" ? source.url : ""),
        status: "queued",
        downloadedBytes: 0,
        totalBytes: cat?.sizeBytes ?? 500 * MB,
        bytesPerSecond: 0,
        etaSeconds: null,
        error: null,
      };
      const job: DownloadJob = { info, channel: onProgress as MockChannel<DownloadEvent>, abort: null };
      this.downloads.set(info.id, job);
      this.startDownload(job);
      return info;
    },
    pause_download: ({ downloadId }) => {
      const job = this.downloads.get(downloadId);
      if (!job) throw fail("not_found", "No such download.");
      job.abort?.abort();
      job.info.status = "paused";
      job.info.bytesPerSecond = 0;
      job.channel?.send({ event: "paused", data: { id: downloadId, downloadedBytes: job.info.downloadedBytes } });
      return null;
    },
    resume_download: ({ downloadId, onProgress }) => {
      const job = this.downloads.get(downloadId);
      if (!job) throw fail("not_found", "No such download.");
      job.channel = onProgress as MockChannel<DownloadEvent>;
      if (job.info.status === "paused" || job.info.status === "failed") this.startDownload(job);
      return job.info;
    },
    cancel_download: ({ downloadId }) => {
      const job = this.downloads.get(downloadId);
      if (!job) throw fail("not_found", "No such download.");
      job.abort?.abort();
      job.info.status = "cancelled";
      this.downloads.delete(downloadId);
      job.channel?.send({ event: "cancelled", data: { id: downloadId } });
      return null;
    },
    pick_model_file: () => {
      const picked = this.options.pickedFile;
      if (picked) this.picked.add(picked);
      return picked;
    },
    import_model: ({ path, mode }) => {
      if (!this.picked.has(path.trim())) {
        throw fail("invalid_argument", "Choose the model file with Browse… (Woolly imports only files chosen there).");
      }
      if (!path.trim().toLowerCase().endsWith(".gguf")) {
        throw fail("invalid_argument", "Choose a .gguf file.");
      }
      const name = path.split(/[\\/]/).pop()!.replace(/\.gguf$/i, "");
      const model: InstalledModel = {
        id: this.id("model"),
        name,
        path: mode === "copy" ? `~/.local/share/woolly/models/${name}.gguf` : path,
        architecture: "llama",
        parameters: "?",
        quantization: /q\d_\w+|q\d_\d|f16|f32/i.exec(name)?.[0].toUpperCase() ?? "?",
        contextLength: 4096,
        sizeBytes: 512 * MB,
        sha256: "0".repeat(64),
        source: "import",
        storage: mode === "copy" ? "store" : "reference",
        catalogId: null,
        addedAt: this.options.now(),
        fit: this.fit(512 * MB, this.settings.defaultParams.contextLength),
      };
      this.installed.push(model);
      return model;
    },
    delete_model: ({ modelId }) => {
      const index = this.installed.findIndex((m) => m.id === modelId);
      if (index < 0) throw fail("not_found", "No such model.");
      if (this.loaded?.id === modelId) {
        this.loaded = null;
        this.modelState = "unloaded";
      }
      this.installed.splice(index, 1);
      if (this.settings.defaultModelId === modelId) this.settings.defaultModelId = this.installed[0]?.id ?? null;
      return null;
    },
    set_hf_token: ({ token }) => {
      this.hfToken = token?.trim() || null;
      return null;
    },
    has_hf_token: () => this.hfToken !== null,
    hub_search: ({ query, sort, limit }) => {
      if (this.options.hubOffline) {
        throw fail("unreachable", "Hugging Face Hub: could not reach the Hub: connection refused (https://huggingface.co/api/models)");
      }
      const words = query.toLowerCase().split(/\s+/).filter(Boolean);
      const found = this.hubRepos
        .map((r) => r.model)
        .filter((m) => (!m.private || this.hfToken) && words.every((w) => m.id.toLowerCase().includes(w)))
        .sort((a, b) => (sort === "recent" ? (b.lastModified ?? 0) - (a.lastModified ?? 0) : b.downloads - a.downloads));
      return found.slice(0, Math.min(Math.max(limit ?? 30, 1), 100));
    },
    hub_files: ({ repo }) => this.hubFiles(this.hubRepo(repo)),
    server_status: () => this.serverStatus(),
    start_server: async ({ port }) => {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw fail("invalid_argument", "Choose a port from 1 to 65535.");
      }
      if (this.busyPorts.has(port)) {
        const message = `Port ${port} is already in use by another program. Choose another port.`;
        this.server.error = message;
        throw fail("server_failed", message);
      }
      const model = await this.ensureLoaded(null, () => {});
      this.server = { ...this.server, port, running: true, error: null, modelId: model.id };
      return this.serverStatus();
    },
    stop_server: () => {
      this.server = { ...this.server, running: false, error: null };
      return this.serverStatus();
    },
    list_providers: () => [...this.providers.values()],
    add_provider: ({ name, baseUrl, apiKey }) => {
      const key = apiKey?.trim() || null;
      if (key && /\s/.test(key)) throw fail("invalid_argument", "The key must be 1 to 4096 characters, without spaces.");
      const provider: Provider = {
        id: this.id("prov"),
        name: MockBackend.providerName(name),
        baseUrl: MockBackend.baseUrl(baseUrl),
        hasApiKey: key !== null,
      };
      this.providers.set(provider.id, provider);
      if (key) this.providerKeys.set(provider.id, key);
      return provider;
    },
    update_provider: ({ providerId, name, baseUrl }) => {
      const p = this.provider(providerId);
      const url = MockBackend.baseUrl(baseUrl);
      // As the app: a key stays with the origin it was given for.
      if (new URL(url).origin !== new URL(p.baseUrl).origin) {
        this.providerKeys.delete(p.id);
        p.hasApiKey = false;
      }
      Object.assign(p, { name: MockBackend.providerName(name), baseUrl: url });
      return p;
    },
    set_provider_key: ({ providerId, apiKey }) => {
      const p = this.provider(providerId);
      const key = apiKey?.trim() || null;
      if (key) this.providerKeys.set(p.id, key);
      else this.providerKeys.delete(p.id);
      p.hasApiKey = key !== null;
      return p;
    },
    remove_provider: ({ providerId }) => {
      this.provider(providerId);
      this.providers.delete(providerId);
      this.providerKeys.delete(providerId);
      return null;
    },
    provider_models: ({ providerId }) => {
      this.reachProvider(this.provider(providerId));
      return this.remoteModels.map((m) => ({ ...m }));
    },
    update_status: () => this.updateStatus(),
    check_for_update: () => {
      const u = this.updates;
      u.available = u.published && u.published.version !== u.currentVersion ? { ...u.published } : null;
      u.downloaded = false;
      u.lastCheckedAt = this.options.now();
      return this.updateStatus();
    },
    download_update: async ({ onProgress }) => {
      const u = this.updates;
      const channel = onProgress as MockChannel<UpdateEvent>;
      if (!u.available) throw fail("not_found", "No update to download: check for updates first.");
      const total = 30 * MB;
      for (let downloaded = 10 * MB; downloaded <= total; downloaded += 10 * MB) {
        await sleep(this.options.latencyMs);
        channel.send({ event: "progress", data: { downloaded, total } });
      }
      if (u.tampered) {
        throw fail(
          "bad_response",
          `The update to ${u.available.version} was refused: its signature does not match Woolly's update key, so the package or the update manifest was changed. Nothing was installed.`,
        );
      }
      channel.send({ event: "verified" });
      u.downloaded = true;
      return this.updateStatus();
    },
    install_update: () => {
      if (!this.updates.downloaded) throw fail("not_found", "No verified update is ready: download it first.");
      this.updates.restarted = true;
      return null;
    },
    refresh_catalog: () => {
      if (this.updates.catalogTampered) {
        throw fail(
          "bad_response",
          "The model catalog from https://example.invalid/catalog.json was refused: its signature does not match its content (it was changed after signing); the current catalog is kept",
        );
      }
      this.updates.catalog = { origin: "refreshed", refreshedAt: this.options.now() };
      return this.updateStatus();
    },
    set_server_api_key: ({ apiKey }) => {
      const key = apiKey?.trim() || null;
      if (key !== null && /\s/.test(key)) throw fail("invalid_argument", "The key must be 1 to 4096 characters, without spaces.");
      this.server.apiKey = key;
      return this.serverStatus();
    },
  };
}

/** Type check: the mock answers every command of the table. */
export type MockCoversAll = Handlers extends { [K in keyof Commands]: unknown } ? true : never;
