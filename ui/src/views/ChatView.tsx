import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { api, type ContextUsage, type Message } from "../api";
import { useApp } from "../state/AppContext";
import { chatStore, PENDING_USER_ID, STREAMING_ID, useConversationState, type StreamState } from "../state/chatStore";
import { Composer, type ComposerHandle } from "../components/Composer";
import { MessageItem, type StreamView } from "../components/MessageItem";
import { ContextFullChoice } from "../components/ContextFullChoice";
import {
  AttachButton,
  AttachmentChips,
  ContextPartsLegend,
  usePendingAttachments,
  useSentAttachments,
  type ContextParts,
} from "../components/Attachments";
import { CubeIcon, SlidersIcon, WoollyMark, XIcon } from "../components/Icons";
import { ConversationSettings } from "./ConversationSettings";
import { parseRemoteModelId, remoteLabel } from "../lib/remote";

const SUGGESTIONS = [
  { title: "Explain a concept", prompt: "Explain how public-key cryptography works, simply." },
  { title: "Write some code", prompt: "Write a Python function that removes duplicate lines from a file." },
  { title: "Plan something", prompt: "Give me a packing list for a weekend hike, as steps." },
  { title: "Improve my writing", prompt: "Make this email friendlier and shorter:\n\n" },
];

function streamView(stream: StreamState, clock: number): StreamView {
  const elapsed = stream.firstTokenAt !== null ? (clock - stream.firstTokenAt) / 1000 : 0;
  return {
    tokens: stream.tokens,
    tokensPerSecond: stream.tokens > 1 && elapsed > 0.05 ? stream.tokens / elapsed : null,
    loading: stream.loading,
    waiting: stream.tokens === 0,
  };
}

/** How long typing pauses before the draft is counted. */
const COUNT_DELAY_MS = 400;

/**
 * The conversation (and the draft) counted by the loaded model (`context_usage`), again
 * whenever they change; null while unknown (no model loaded, remote model, a new chat).
 */
function useContextUsage(
  conversationId: string | null,
  draftText: string,
  version: unknown,
  paused: boolean,
  attachmentIds: string[] = [],
) {
  const ids = attachmentIds.join(",");
  const [usage, setUsage] = useState<ContextUsage | null>(null);
  useEffect(() => {
    setUsage(null);
  }, [conversationId]);
  useEffect(() => {
    if (!conversationId || paused) return;
    let live = true;
    const timer = setTimeout(() => {
      api
        .contextUsage(conversationId, draftText, ids ? ids.split(",") : [])
        .then((u) => live && setUsage(u))
        .catch(() => live && setUsage(null));
    }, COUNT_DELAY_MS);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [conversationId, draftText, version, paused, ids]);
  return usage;
}

function ContextMeter({ used, limit, detail, parts }: { used: number; limit: number; detail: string; parts?: ContextParts }) {
  const fraction = Math.min(1, limit > 0 ? used / limit : 0);
  const share = (x: number) => `${Math.min(100, limit > 0 ? (x / limit) * 100 : 0)}%`;
  const level = fraction > 0.9 ? "high" : fraction > 0.7 ? "mid" : "low";
  return (
    <div className={`context-meter level-${level}`} data-testid="context-usage" title={detail}>
      <span className="context-label">
        Context {used.toLocaleString("en-US")} / {limit.toLocaleString("en-US")}
      </span>
      <span
        className="context-bar"
        role="meter"
        aria-label="Context used"
        aria-valuemin={0}
        aria-valuemax={limit}
        aria-valuenow={used}
        aria-valuetext={`${Math.round(fraction * 100)}% of the context window`}
      >
        {parts ? (
          <>
            <span className="context-fill part-system" style={{ width: share(parts.system) }} />
            <span className="context-fill part-history" style={{ width: share(parts.history) }} />
            <span className="context-fill part-attachments" style={{ width: share(parts.attachments) }} />
            <span className="context-fill part-reply" style={{ width: share(parts.reply) }} />
          </>
        ) : (
          <span className="context-fill" style={{ width: `${fraction * 100}%` }} />
        )}
      </span>
      {parts && <ContextPartsLegend parts={parts} />}
    </div>
  );
}

export function ChatView() {
  const {
    activeId,
    conversations,
    draft,
    settings,
    installed,
    providers,
    materializeDraft,
    registerComposer,
    setView,
    newChat,
    systemInfo,
  } = useApp();
  const conversation = conversations.find((c) => c.id === activeId) ?? null;
  const state = useConversationState(activeId);
  const [panelOpen, setPanelOpen] = useState(false);
  const [sendError, setSendError] = useState<string | null>(null);
  const [draftText, setDraftText] = useState("");
  const [clock, setClock] = useState(() => performance.now());
  const composer = useRef<ComposerHandle>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);

  const stream = state.stream;
  const generating = Boolean(stream);
  const files = usePendingAttachments();
  const sentFiles = useSentAttachments(activeId, `${state.messages?.length}:${conversation?.updatedAt}`);

  useEffect(() => {
    if (activeId) void chatStore.load(activeId);
  }, [activeId]);

  useEffect(() => {
    registerComposer(() => composer.current?.focus());
    return () => registerComposer(null);
  }, [registerComposer]);

  // Tick for the live tokens/s while streaming.
  useEffect(() => {
    if (!generating) return;
    const timer = setInterval(() => setClock(performance.now()), 250);
    return () => clearInterval(timer);
  }, [generating]);

  const messages: Message[] = useMemo(() => {
    const list = state.messages ?? [];
    if (!stream) return list;
    return [
      ...list,
      {
        id: stream.messageId ?? STREAMING_ID,
        conversationId: activeId ?? "",
        role: "assistant",
        content: stream.text,
        createdAt: Date.now(),
        stats: null,
      },
    ];
  }, [state.messages, stream, activeId]);

  // Follow the reply as it streams, unless the user scrolled up to read.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && stickToBottom.current) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const onScroll = () => {
    const el = scroller.current;
    if (el) stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  };

  const send = useCallback(
    async (text: string) => {
      setSendError(null);
      stickToBottom.current = true;
      try {
        const id = activeId ?? (await materializeDraft()).id;
        void chatStore.send(
          id,
          text,
          files.items.map((a) => a.id),
        );
        files.clear();
        return true;
      } catch (error) {
        setSendError((error as Error).message);
        return false;
      }
    },
    [activeId, materializeDraft, files],
  );

  const stop = useCallback(() => {
    if (activeId) void chatStore.stop(activeId);
  }, [activeId]);

  // Context usage: the running turn; else the conversation and draft as the loaded model
  // counts them; else the last finished turn; else nothing used yet.
  const params = conversation?.params ?? draft?.params ?? settings?.defaultParams;
  const usage = useContextUsage(
    activeId,
    draftText,
    `${state.messages?.length}:${conversation?.updatedAt}:${systemInfo?.model?.id}`,
    generating,
    files.items.map((a) => a.id),
  );
  const lastStats = [...(state.messages ?? [])].reverse().find((m) => m.role === "assistant" && m.stats)?.stats;
  let contextUsed = 0;
  let contextLimit = params?.contextLength ?? 0;
  let contextDetail = "Context window: nothing sent yet";
  let contextParts: ContextParts | undefined;
  if (stream && stream.promptTokens !== null) {
    contextUsed = stream.promptTokens + stream.tokens;
    contextLimit = usage?.contextLength ?? lastStats?.contextLength ?? contextLimit;
    contextDetail = "Context window used by this reply (prompt + tokens so far)";
  } else if (usage) {
    contextUsed = usage.promptTokens;
    contextLimit = usage.contextLength;
    contextParts = {
      system: usage.systemTokens ?? 0,
      history: usage.historyTokens ?? usage.promptTokens,
      attachments: usage.attachmentTokens ?? 0,
      reply: usage.replyReserve,
    };
    contextDetail = `Context window: the conversation${draftText.trim() ? " and your draft" : ""} take ${usage.promptTokens} tokens; ${usage.replyReserve} more are kept for the reply`;
  } else if (lastStats) {
    contextUsed = lastStats.promptTokens + lastStats.generatedTokens;
    contextLimit = lastStats.contextLength ?? contextLimit;
    contextDetail = "Context window used by the last reply (prompt + reply)";
  }
  const contextFull = state.contextFull;

  const modelId = conversation?.modelId ?? draft?.modelId ?? settings?.defaultModelId ?? null;
  const remoteName = remoteLabel(modelId, providers);
  const remoteProvider = providers.find((p) => p.id === parseRemoteModelId(modelId)?.providerId);
  const model = remoteName ? undefined : (installed.find((m) => m.id === modelId) ?? installed[0]);
  const empty = messages.length === 0;
  const error = state.error ?? sendError;

  return (
    <div className={`chat-layout ${panelOpen ? "with-panel" : ""}`}>
      <section className="chat" aria-label="Chat">
        <header className="chat-header">
          <div className="chat-title">
            <h1 data-testid="chat-title">{conversation?.title ?? "New chat"}</h1>
            {model && (
              <button type="button" className="model-chip" onClick={() => setView("models")} title="Manage models">
                <CubeIcon size={14} />
                {model.name}
              </button>
            )}
            {remoteName && (
              <button
                type="button"
                className="model-chip"
                data-testid="remote-model-chip"
                onClick={() => setPanelOpen(true)}
                title={remoteProvider ? `Remote: ${remoteProvider.baseUrl}` : "Remote provider"}
              >
                <CubeIcon size={14} />
                {remoteName}
              </button>
            )}
          </div>
          <button
            type="button"
            className={`button button-ghost ${panelOpen ? "pressed" : ""}`}
            aria-expanded={panelOpen}
            aria-controls="conversation-settings"
            data-testid="conversation-settings-toggle"
            onClick={() => setPanelOpen((open) => !open)}
          >
            <SlidersIcon />
            <span>Chat settings</span>
          </button>
        </header>

        <div className="messages-scroll" ref={scroller} onScroll={onScroll}>
          {empty ? (
            <div className="welcome">
              <WoollyMark size={56} />
              <h2>How can I help?</h2>
              {remoteName ? (
                <p className="muted">
                  Chatting with <strong>{remoteName}</strong>: messages are sent to{" "}
                  {remoteProvider?.baseUrl ?? "a provider that was removed"}.
                </p>
              ) : installed.length > 0 ? (
                <p className="muted">
                  Running {model ? <strong>{model.name}</strong> : "locally"} on this computer — nothing you type leaves it.
                </p>
              ) : (
                <div className="notice">
                  <p>No model is installed yet.</p>
                  <button type="button" className="button button-primary" onClick={() => setView("models")}>
                    Get a model
                  </button>
                </div>
              )}
              <div className="suggestions">
                {SUGGESTIONS.map((s) => (
                  <button
                    type="button"
                    key={s.title}
                    className="suggestion"
                    onClick={() => composer.current?.setText(s.prompt)}
                  >
                    <strong>{s.title}</strong>
                    <span>{s.prompt.trim()}</span>
                  </button>
                ))}
              </div>
            </div>
          ) : (
            <div
              className="messages"
              role="log"
              aria-label="Messages"
              aria-live="polite"
              aria-relevant="additions"
              aria-busy={generating}
              data-testid="message-list"
            >
              {messages.map((message, index) => {
                const isStreaming = Boolean(stream) && index === messages.length - 1 && message.role === "assistant";
                const attached = message.role === "user" ? sentFiles.filter((a) => a.messageId === message.id) : [];
                return [
                  <MessageItem
                    key={isStreaming ? STREAMING_ID : message.id}
                    message={message}
                    stream={isStreaming && stream ? streamView(stream, clock) : undefined}
                    canEdit={!generating && Boolean(activeId)}
                    // Any reply can be answered again: the new version is its sibling.
                    canRegenerate={!generating && message.role === "assistant"}
                    canSwitch={!generating && message.id !== PENDING_USER_ID}
                    onEdit={(content) => activeId && void chatStore.editAndResend(activeId, message.id, content)}
                    onRegenerate={() => activeId && void chatStore.regenerate(activeId, false, message.id)}
                    onSwitchVersion={(version) => activeId && void chatStore.switchVersion(activeId, message.id, version)}
                  />,
                  attached.length > 0 && (
                    <AttachmentChips
                      key={`${message.id}-files`}
                      items={attached}
                      tokens={usage?.attachments}
                      label="Files sent with this message"
                      testId="message-attachments"
                    />
                  ),
                ];
              })}
            </div>
          )}
        </div>

        {contextFull && activeId && !generating && (
          <ContextFullChoice
            overflow={contextFull}
            onDrop={() => {
              stickToBottom.current = true;
              void chatStore.regenerate(activeId, true);
            }}
            onNewChat={() => {
              chatStore.dismissContextFull(activeId);
              newChat();
            }}
            onRemoveAttachment={(attachmentId) => {
              stickToBottom.current = true;
              void api
                .removeAttachment(attachmentId)
                .then(() => chatStore.regenerate(activeId))
                .catch((e: Error) => setSendError(e.message));
            }}
            onOpenSettings={() => setPanelOpen(true)}
            onDismiss={() => chatStore.dismissContextFull(activeId)}
          />
        )}

        {error && (
          <div className="banner banner-error chat-error" role="alert">
            <span>{error}</span>
            <button
              type="button"
              className="icon-button"
              aria-label="Dismiss error"
              onClick={() => {
                setSendError(null);
                if (activeId) chatStore.clearError(activeId);
              }}
            >
              <XIcon size={16} />
            </button>
          </div>
        )}

        <div className="composer-wrap">
          <Composer
            ref={composer}
            generating={generating}
            stopping={Boolean(stream?.stopping)}
            onSend={send}
            onStop={stop}
            onTextChange={setDraftText}
          >
            <AttachButton onClick={() => void files.attach()} disabled={generating} />
            <AttachmentChips
              items={files.items}
              tokens={usage?.attachments}
              onRemove={(id) => void files.remove(id)}
              label="Files to send"
            />
            {files.errors.map((e) => (
              <p key={e} className="attachment-error" role="alert">
                {e}
              </p>
            ))}
            {contextLimit > 0 && <ContextMeter used={contextUsed} limit={contextLimit} detail={contextDetail} parts={contextParts} />}
          </Composer>
        </div>
      </section>
      {panelOpen && <ConversationSettings conversation={conversation} onClose={() => setPanelOpen(false)} />}
    </div>
  );
}
