/**
 * Chat state per conversation: the saved messages plus the turn being streamed.
 * Lives outside React so a reply keeps streaming while the user looks at another
 * conversation; views read it with `useConversationState`.
 */
import { useSyncExternalStore } from "react";
import { api, ApiError, type ChatEvent, type ContextOverflow, type Message, type TurnResult } from "../api";

export interface StreamState {
  kind: "send" | "regenerate" | "edit";
  /** Assistant message id once `started` arrived. */
  messageId: string | null;
  text: string;
  tokens: number;
  promptTokens: number | null;
  startedAt: number;
  firstTokenAt: number | null;
  /** Lazy model load before the first token. */
  loading: { progress: number; stage: string; modelId: string } | null;
  stopping: boolean;
}

export interface ConversationState {
  /** null until loaded. */
  messages: Message[] | null;
  stream: StreamState | null;
  error: string | null;
  /** The last turn failed with `context_full`: the numbers for the user's choice (drop
   *  the oldest messages, new chat, larger context). Nothing was dropped. */
  contextFull: ContextOverflow | null;
}

const EMPTY: ConversationState = { messages: null, stream: null, error: null, contextFull: null };
export const PENDING_USER_ID = "pending-user";
export const STREAMING_ID = "streaming-assistant";

type Listener = () => void;
type TurnEndListener = (conversationId: string) => void;

const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

const schedule: (fn: () => void) => void =
  typeof requestAnimationFrame === "function"
    ? (fn) => {
        // rAF does not run in hidden windows; a timeout keeps tokens flowing there.
        let done = false;
        const run = () => {
          if (!done) {
            done = true;
            fn();
          }
        };
        requestAnimationFrame(run);
        setTimeout(run, 50);
      }
    : (fn) => setTimeout(fn, 16);

export class ChatStore {
  private states = new Map<string, ConversationState>();
  private listeners = new Set<Listener>();
  private turnEndListeners = new Set<TurnEndListener>();
  private turnStartListeners = new Set<TurnEndListener>();
  private pendingText = new Map<string, string>();
  /** Token events not yet flushed into the state (each `token` event is one token). */
  private pendingTokens = new Map<string, number>();
  private flushScheduled = new Set<string>();

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  onTurnEnd(listener: TurnEndListener): () => void {
    this.turnEndListeners.add(listener);
    return () => this.turnEndListeners.delete(listener);
  }

  /** Called when a turn's `started` event arrives (the backend has saved the user message). */
  onTurnStarted(listener: TurnEndListener): () => void {
    this.turnStartListeners.add(listener);
    return () => this.turnStartListeners.delete(listener);
  }

  get(conversationId: string | null): ConversationState {
    if (!conversationId) return EMPTY;
    return this.states.get(conversationId) ?? EMPTY;
  }

  isGenerating(conversationId: string | null): boolean {
    return Boolean(this.get(conversationId).stream);
  }

  /** Any conversation generating (for the status bar). */
  activeStreams(): [string, StreamState][] {
    return [...this.states.entries()].filter(([, s]) => s.stream).map(([id, s]) => [id, s.stream!]);
  }

  private set(conversationId: string, patch: Partial<ConversationState>) {
    this.states.set(conversationId, { ...this.get(conversationId), ...patch });
    this.listeners.forEach((l) => l());
  }

  private patchStream(conversationId: string, patch: Partial<StreamState>) {
    const stream = this.get(conversationId).stream;
    if (stream) this.set(conversationId, { stream: { ...stream, ...patch } });
  }

  /** Drops all state (tests). */
  reset() {
    this.states.clear();
    this.pendingText.clear();
    this.pendingTokens.clear();
    this.listeners.forEach((l) => l());
  }

  forget(conversationId: string) {
    this.states.delete(conversationId);
    this.listeners.forEach((l) => l());
  }

  clearError(conversationId: string) {
    if (this.get(conversationId).error) this.set(conversationId, { error: null });
  }

  /** Closes the context-full choice without acting on it. */
  dismissContextFull(conversationId: string) {
    if (this.get(conversationId).contextFull) this.set(conversationId, { contextFull: null, error: null });
  }

  async load(conversationId: string, force = false): Promise<void> {
    const state = this.get(conversationId);
    if (state.stream) return;
    if (state.messages && !force) return;
    try {
      const messages = await api.getMessages(conversationId);
      if (!this.get(conversationId).stream) this.set(conversationId, { messages });
    } catch (error) {
      this.set(conversationId, { messages: state.messages ?? [], error: messageOf(error) });
    }
  }

  send(conversationId: string, content: string, attachmentIds: string[] = []): Promise<void> {
    const text = content.trim();
    if ((!text && attachmentIds.length === 0) || this.isGenerating(conversationId)) return Promise.resolve();
    const messages = this.get(conversationId).messages ?? [];
    const optimistic: Message = {
      id: PENDING_USER_ID,
      conversationId,
      role: "user",
      content,
      createdAt: Date.now(),
      stats: null,
    };
    return this.runTurn(conversationId, "send", [...messages, optimistic], (onEvent) =>
      api.sendMessage(conversationId, content, onEvent, false, attachmentIds),
    );
  }

  /** A new version of reply `messageId` (default: the last one shown); the earlier one
   *  stays reachable through the version switcher. `allowDropOldest` is the user's choice
   *  after a `context_full` (leave out the oldest messages that do not fit). */
  regenerate(conversationId: string, allowDropOldest = false, messageId?: string): Promise<void> {
    if (this.isGenerating(conversationId)) return Promise.resolve();
    const messages = [...(this.get(conversationId).messages ?? [])];
    const index = messageId ? messages.findIndex((m) => m.id === messageId) : -1;
    // Until the new version streams in, the thread ends at the message it answers.
    if (index >= 0) messages.splice(index);
    else if (messages.at(-1)?.role === "assistant") messages.pop();
    return this.runTurn(conversationId, "regenerate", messages, (onEvent) =>
      api.regenerate(conversationId, onEvent, allowDropOldest, messageId),
    );
  }

  /** A new version of user message `messageId` and a reply to it; the original stays. */
  editAndResend(conversationId: string, messageId: string, content: string): Promise<void> {
    if (!content.trim() || this.isGenerating(conversationId)) return Promise.resolve();
    const messages = this.get(conversationId).messages ?? [];
    const index = messages.findIndex((m) => m.id === messageId);
    if (index < 0) return Promise.resolve();
    const versions = (messages[index].versions ?? 1) + 1;
    const kept = messages.slice(0, index);
    kept.push({ ...messages[index], id: PENDING_USER_ID, content, version: versions, versions });
    return this.runTurn(conversationId, "edit", kept, (onEvent) =>
      api.editAndResend(conversationId, messageId, content, onEvent),
    );
  }

  /** The `‹ n/m ›` switcher: shows version `version` of `messageId` (its newest branch). */
  switchVersion(conversationId: string, messageId: string, version: number): Promise<void> {
    return this.switchBranch(conversationId, messageId, version);
  }

  /** Shows the branch holding `messageId` (a search hit in an older version). */
  showMessage(conversationId: string, messageId: string): Promise<void> {
    return this.switchBranch(conversationId, messageId);
  }

  private async switchBranch(conversationId: string, messageId: string, version?: number): Promise<void> {
    if (this.isGenerating(conversationId)) return;
    try {
      const messages = await api.switchBranch(conversationId, messageId, version);
      if (!this.get(conversationId).stream) this.set(conversationId, { messages, error: null });
    } catch (error) {
      this.set(conversationId, { error: messageOf(error) });
    }
  }

  async stop(conversationId: string): Promise<void> {
    if (!this.isGenerating(conversationId)) return;
    this.patchStream(conversationId, { stopping: true });
    try {
      await api.stopGeneration(conversationId);
    } catch (error) {
      this.set(conversationId, { error: messageOf(error) });
    }
  }

  private async runTurn(
    conversationId: string,
    kind: StreamState["kind"],
    optimisticMessages: Message[],
    start: (onEvent: (event: ChatEvent) => void) => Promise<TurnResult>,
  ): Promise<void> {
    this.set(conversationId, {
      messages: optimisticMessages,
      error: null,
      contextFull: null,
      stream: {
        kind,
        messageId: null,
        text: "",
        tokens: 0,
        promptTokens: null,
        startedAt: now(),
        firstTokenAt: null,
        loading: null,
        stopping: false,
      },
    });
    let streamError: string | null = null;
    let contextFull: ContextOverflow | null = null;
    const onEvent = (event: ChatEvent) => {
      switch (event.event) {
        case "model_loading":
          this.patchStream(conversationId, { loading: { ...event.data } });
          break;
        case "started": {
          const { messageId, userMessageId, promptTokens } = event.data;
          const state = this.get(conversationId);
          const messages =
            userMessageId && state.messages
              ? state.messages.map((m) => (m.id === PENDING_USER_ID ? { ...m, id: userMessageId } : m))
              : state.messages;
          this.set(conversationId, {
            messages,
            stream: state.stream && {
              ...state.stream,
              messageId,
              loading: null,
              promptTokens: promptTokens ?? null,
            },
          });
          this.turnStartListeners.forEach((l) => l(conversationId));
          break;
        }
        case "token": {
          const stream = this.get(conversationId).stream;
          if (!stream) return;
          if (stream.firstTokenAt === null) this.patchStream(conversationId, { firstTokenAt: now() });
          this.pendingText.set(conversationId, (this.pendingText.get(conversationId) ?? "") + event.data.text);
          this.pendingTokens.set(conversationId, (this.pendingTokens.get(conversationId) ?? 0) + 1);
          this.scheduleFlush(conversationId);
          break;
        }
        case "finished":
          this.flush(conversationId);
          break;
        case "error":
          this.flush(conversationId);
          streamError = event.data.message;
          if (event.data.code === "context_full" && event.data.context) contextFull = event.data.context;
          break;
      }
    };
    let result: TurnResult | null = null;
    try {
      result = await start(onEvent);
    } catch (error) {
      streamError ??= messageOf(error);
    }
    this.flush(conversationId);
    let messages: Message[] | null = null;
    try {
      messages = await api.getMessages(conversationId);
    } catch {
      // Conversation deleted mid-turn, or backend gone: keep what we have.
      const state = this.get(conversationId);
      messages = state.messages;
      if (result && messages) {
        messages = [...messages.filter((m) => m.id !== PENDING_USER_ID), result.assistantMessage];
      }
    }
    this.pendingText.delete(conversationId);
    this.pendingTokens.delete(conversationId);
    this.set(conversationId, {
      messages,
      stream: null,
      // The choice says it all; no second banner with the same message.
      error: contextFull ? null : streamError,
      contextFull,
    });
    this.turnEndListeners.forEach((l) => l(conversationId));
  }

  private scheduleFlush(conversationId: string) {
    if (this.flushScheduled.has(conversationId)) return;
    this.flushScheduled.add(conversationId);
    schedule(() => this.flush(conversationId));
  }

  private flush(conversationId: string) {
    this.flushScheduled.delete(conversationId);
    const pending = this.pendingText.get(conversationId);
    const tokens = this.pendingTokens.get(conversationId) ?? 0;
    if (!pending && !tokens) return;
    this.pendingText.set(conversationId, "");
    this.pendingTokens.set(conversationId, 0);
    const stream = this.get(conversationId).stream;
    if (!stream) return;
    this.set(conversationId, {
      stream: { ...stream, text: stream.text + (pending ?? ""), tokens: stream.tokens + tokens },
    });
  }
}

function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export const chatStore = new ChatStore();

export function useConversationState(conversationId: string | null, store = chatStore) {
  return useSyncExternalStore(
    store.subscribe,
    () => store.get(conversationId),
    () => store.get(conversationId),
  );
}

export function useChatStoreVersion(store = chatStore): number {
  // A cheap selector-less subscription for the status bar.
  return useSyncExternalStore(
    store.subscribe,
    () => store.activeStreams().reduce((n, [, s]) => n + s.tokens + (s.loading ? s.loading.progress : 0), 0),
    () => 0,
  );
}
