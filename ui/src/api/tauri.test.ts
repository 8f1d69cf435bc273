/**
 * The Tauri path: what the Rust side receives and sends. Uses Tauri's own IPC mock and
 * the real `Channel` class, delivering messages in Tauri's wire format ({index, message}).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { Channel } from "@tauri-apps/api/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { api, ApiError, COMMAND_NAMES, DEFAULT_PARAMS, MockBackend, setTransport, type ChatEvent, type DownloadEvent, type TurnResult } from ".";
import { inTauri, tauriTransport } from "./transport";

type Internals = { runCallback: (id: number, data: unknown) => void };
const internals = () => (window as unknown as { __TAURI_INTERNALS__: Internals }).__TAURI_INTERNALS__;

/** What the Rust side does with a `tauri::ipc::Channel`: numbered messages. */
function rustSend<E>(channel: unknown, messages: E[]) {
  expect(channel).toBeInstanceOf(Channel);
  const id = (channel as Channel<E>).id;
  messages.forEach((message, index) => internals().runCallback(id, { index, message }));
}

describe("Tauri transport", () => {
  let calls: { cmd: string; args: Record<string, unknown> | undefined }[];

  beforeEach(() => {
    calls = [];
    setTransport(tauriTransport);
  });
  afterEach(() => {
    clearMocks();
    delete (window as unknown as { __TAURI_INTERNALS__?: unknown }).__TAURI_INTERNALS__;
  });

  it("is chosen when the Tauri runtime is present", () => {
    expect(inTauri()).toBe(false);
    mockIPC(() => null);
    expect(inTauri()).toBe(true);
  });

  it("sends snake_case command names with camelCase arguments", async () => {
    mockIPC((cmd, args) => {
      calls.push({ cmd, args: args as Record<string, unknown> });
      if (cmd === "list_conversations") return [];
      if (cmd === "update_conversation") return { id: "c1" };
      return null;
    });
    await api.listConversations();
    await api.renameConversation("c1", "New title");
    await api.updateConversation("c1", { systemPrompt: "sys", params: DEFAULT_PARAMS, modelId: null });
    await api.stopGeneration("c1");
    await api.importModel("/m.gguf", "copy");
    await api.saveSettings({
      theme: "dark",
      defaultModelId: null,
      device: "auto",
      threads: null,
      memoryLimitBytes: null,
      defaultSystemPrompt: "",
      defaultParams: DEFAULT_PARAMS,
      checkUpdatesWeekly: false,
    });
    expect(calls.map((c) => c.cmd)).toEqual([
      "list_conversations",
      "rename_conversation",
      "update_conversation",
      "stop_generation",
      "import_model",
      "save_settings",
    ]);
    expect(calls[1].args).toEqual({ conversationId: "c1", title: "New title" });
    expect(calls[2].args).toEqual({ conversationId: "c1", systemPrompt: "sys", params: DEFAULT_PARAMS, modelId: null });
    expect(calls[3].args).toEqual({ conversationId: "c1" });
    expect(calls[4].args).toEqual({ path: "/m.gguf", mode: "copy" });
    expect(Object.keys(calls[5].args!)).toEqual(["settings"]);
  });

  it("streams a chat turn through a Channel and resolves with the saved turn", async () => {
    const turn: TurnResult = {
      userMessage: { id: "u1", conversationId: "c1", role: "user", content: "Hi", createdAt: 1, stats: null },
      assistantMessage: {
        id: "a1",
        conversationId: "c1",
        role: "assistant",
        content: "Hello!",
        createdAt: 2,
        stats: { promptTokens: 10, generatedTokens: 2, tokensPerSecond: 50, timeToFirstTokenMs: 80, stopReason: "eos" },
      },
    };
    mockIPC((cmd, args) => {
      const a = args as Record<string, unknown>;
      expect(cmd).toBe("send_message");
      expect(a.conversationId).toBe("c1");
      expect(a.content).toBe("Hi");
      rustSend<ChatEvent>(a.onEvent, [
        { event: "started", data: { messageId: "a1", userMessageId: "u1", promptTokens: 10 } },
        { event: "token", data: { text: "Hel" } },
        { event: "token", data: { text: "lo!" } },
        { event: "finished", data: { stats: turn.assistantMessage.stats! } },
      ]);
      return turn;
    });
    const events: ChatEvent[] = [];
    const result = await api.sendMessage("c1", "Hi", (e) => events.push(e));
    expect(result).toEqual(turn);
    expect(events.map((e) => e.event)).toEqual(["started", "token", "token", "finished"]);
    expect(events.filter((e) => e.event === "token").map((e) => e.data.text).join("")).toBe("Hello!");
  });

  it("delivers channel messages in index order even when they arrive out of order", async () => {
    mockIPC((_cmd, args) => {
      const channel = (args as { onProgress: Channel<DownloadEvent> }).onProgress;
      const send = (index: number, message: DownloadEvent) => internals().runCallback(channel.id, { index, message });
      send(1, { event: "progress", data: { id: "d1", downloadedBytes: 5, totalBytes: 10, bytesPerSecond: 1, etaSeconds: 5 } });
      send(0, { event: "started", data: { id: "d1", totalBytes: 10, resumedFrom: 0 } });
      return { id: "d1" };
    });
    const events: DownloadEvent[] = [];
    await api.downloadModel({ kind: "catalog", catalogId: "x" }, (e) => events.push(e));
    expect(events.map((e) => e.event)).toEqual(["started", "progress"]);
  });

  it("turns a Rust AppError into an ApiError with its code", async () => {
    mockIPC(() => {
      throw { code: "busy", message: "This conversation is already generating a reply." };
    });
    const error = await api.sendMessage("c1", "again", () => undefined).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.code).toBe("busy");
    expect(error.command).toBe("send_message");
    expect(error.message).toBe("This conversation is already generating a reply.");
  });

  it("wraps plain string errors", async () => {
    mockIPC(() => {
      throw "command not allowed";
    });
    const error = await api.systemInfo().catch((e) => e);
    expect(error).toMatchObject({ code: "internal", message: "command not allowed" });
  });
});

describe("the contract", () => {
  it("the README documents every command", () => {
    const readme = readFileSync(resolve(process.cwd(), "src/api/README.md"), "utf8");
    for (const name of COMMAND_NAMES) expect(readme).toContain(`\`${name}\``);
  });

  it("the mock backend answers every command", async () => {
    const backend = new MockBackend({ seed: "empty", tokenDelayMs: 0 });
    setTransport(backend.transport());
    for (const name of COMMAND_NAMES) {
      // Unknown commands reject with not_found "unknown command"; every listed one is handled.
      const result = await backend.invoke(name, {} as never).catch((e: { message: string }) => e);
      expect(String((result as { message?: string })?.message ?? "")).not.toContain("unknown command");
    }
  });
});
