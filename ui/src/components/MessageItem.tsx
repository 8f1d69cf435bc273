import { memo, useEffect, useRef, useState, type KeyboardEvent } from "react";
import type { GenerationStats, Message } from "../api";
import { formatMs, formatRate, STOP_REASONS } from "../lib/format";
import { Markdown, CopyButton } from "./Markdown";
import { ChevronLeftIcon, ChevronRightIcon, PencilIcon, RefreshIcon, WoollyMark } from "./Icons";

export interface StreamView {
  tokens: number;
  tokensPerSecond: number | null;
  loading: { progress: number; stage: string } | null;
  waiting: boolean;
}

interface Props {
  message: Message;
  /** Present while this assistant message is being generated. */
  stream?: StreamView;
  canEdit: boolean;
  canRegenerate: boolean;
  /** The `‹ n/m ›` switcher answers (false while a turn runs). */
  canSwitch: boolean;
  onEdit: (content: string) => void;
  onRegenerate: () => void;
  /** Shows version `version` (from 1) of this message. */
  onSwitchVersion: (version: number) => void;
}

/** `‹ 2/3 ›`: the versions of a message (its edits or regenerated replies). */
function VersionSwitcher({
  version,
  versions,
  disabled,
  onSwitch,
}: {
  version: number;
  versions: number;
  disabled: boolean;
  onSwitch: (version: number) => void;
}) {
  return (
    <div className="version-switcher" role="group" aria-label={`Version ${version} of ${versions}`} data-testid="version-switcher">
      <button
        type="button"
        className="icon-button version-button"
        aria-label="Previous version"
        data-testid="version-previous"
        disabled={disabled || version <= 1}
        onClick={() => onSwitch(version - 1)}
      >
        <ChevronLeftIcon size={14} />
      </button>
      <span className="version-label" data-testid="version-label" aria-hidden="true">
        {version}/{versions}
      </span>
      <button
        type="button"
        className="icon-button version-button"
        aria-label="Next version"
        data-testid="version-next"
        disabled={disabled || version >= versions}
        onClick={() => onSwitch(version + 1)}
      >
        <ChevronRightIcon size={14} />
      </button>
    </div>
  );
}

function Stats({ stats }: { stats: GenerationStats }) {
  const reason = STOP_REASONS[stats.stopReason] ?? stats.stopReason;
  return (
    <div className="message-stats" data-testid="generation-stats">
      <span title="Generation speed">{formatRate(stats.tokensPerSecond)}</span>
      <span aria-hidden="true">·</span>
      <span title="Tokens generated">{stats.generatedTokens} tokens</span>
      <span aria-hidden="true">·</span>
      <span title="Time to first token">first token {formatMs(stats.timeToFirstTokenMs)}</span>
      {stats.stopReason !== "eos" && (
        <>
          <span aria-hidden="true">·</span>
          <span className={`stop-reason reason-${stats.stopReason}`}>{reason}</span>
        </>
      )}
    </div>
  );
}

function EditBox({ initial, onCancel, onSave }: { initial: string; onCancel: () => void; onSave: (text: string) => void }) {
  const [text, setText] = useState(initial);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) {
      el.focus();
      el.setSelectionRange(el.value.length, el.value.length);
    }
  }, []);
  const submit = () => {
    if (text.trim()) onSave(text);
  };
  return (
    <div className="edit-box">
      <textarea
        ref={ref}
        aria-label="Edit message"
        data-testid="edit-input"
        value={text}
        rows={Math.min(10, Math.max(2, text.split("\n").length))}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e: KeyboardEvent<HTMLTextAreaElement>) => {
          if (e.key === "Escape") {
            e.preventDefault();
            onCancel();
          } else if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
      />
      <div className="edit-actions">
        <button type="button" className="button button-ghost button-small" onClick={onCancel}>
          Cancel
        </button>
        <button
          type="button"
          className="button button-primary button-small"
          data-testid="edit-send"
          onClick={submit}
          disabled={!text.trim()}
        >
          Save
        </button>
      </div>
    </div>
  );
}

function MessageItemImpl({
  message,
  stream,
  canEdit,
  canRegenerate,
  canSwitch,
  onEdit,
  onRegenerate,
  onSwitchVersion,
}: Props) {
  const [editing, setEditing] = useState(false);
  const isUser = message.role === "user";
  const streaming = Boolean(stream);
  const versions = message.versions ?? 1;

  return (
    <article
      className={`message message-${message.role} ${streaming ? "is-streaming" : ""}`}
      data-testid="message"
      data-role={message.role}
      data-message-id={message.id}
      data-streaming={streaming ? "true" : "false"}
      aria-label={isUser ? "You" : "Woolly"}
      aria-busy={streaming}
    >
      {!isUser && (
        <div className="avatar" aria-hidden="true">
          <WoollyMark size={26} />
        </div>
      )}
      <div className="message-body">
        {editing ? (
          <EditBox
            initial={message.content}
            onCancel={() => setEditing(false)}
            onSave={(text) => {
              setEditing(false);
              onEdit(text);
            }}
          />
        ) : (
          <div
            className={`message-content ${isUser ? "user-text" : message.content ? "markdown" : "message-placeholder"}`}
            data-testid="message-content"
          >
            {isUser ? (
              message.content
            ) : message.content ? (
              <Markdown text={message.content} />
            ) : stream?.loading ? (
              <div className="model-loading" role="status">
                <span>Loading model… {Math.round(stream.loading.progress * 100)}%</span>
                <progress max={1} value={stream.loading.progress} aria-label="Model loading progress" />
                <span className="loading-stage">{stream.loading.stage}</span>
              </div>
            ) : stream ? (
              <span className="typing" role="status" aria-label="Woolly is thinking">
                <span />
                <span />
                <span />
              </span>
            ) : (
              <em className="muted">(empty reply)</em>
            )}
          </div>
        )}

        {!editing && !stream && !isUser && Boolean(message.stats?.droppedMessages) && (
          <p className="dropped-notice" data-testid="dropped-notice">
            {message.stats!.droppedMessages === 1
              ? "1 earlier message was left out of the model's context."
              : `${message.stats!.droppedMessages} earlier messages were left out of the model's context.`}
          </p>
        )}

        {!editing && (
          <div className="message-footer">
            {stream ? (
              <div className="message-stats live" aria-live="off">
                {stream.tokensPerSecond !== null && <span>{formatRate(stream.tokensPerSecond)}</span>}
                {stream.tokens > 0 && <span>{stream.tokens} tokens</span>}
              </div>
            ) : (
              !isUser && message.stats && <Stats stats={message.stats} />
            )}
            {versions > 1 && (
              <VersionSwitcher
                version={message.version ?? versions}
                versions={versions}
                disabled={!canSwitch || Boolean(stream)}
                onSwitch={onSwitchVersion}
              />
            )}
            {!stream && (
              <div className="message-actions">
                <CopyButton getText={() => message.content} label="Copy message" testId="copy-message-button" />
                {isUser && canEdit && (
                  <button
                    type="button"
                    className="icon-text-button"
                    data-testid="edit-button"
                    aria-label="Edit message"
                    onClick={() => setEditing(true)}
                  >
                    <PencilIcon size={15} />
                    <span>Edit</span>
                  </button>
                )}
                {!isUser && canRegenerate && (
                  <button
                    type="button"
                    className="icon-text-button"
                    data-testid="regenerate-button"
                    aria-label="Regenerate reply"
                    onClick={onRegenerate}
                  >
                    <RefreshIcon size={15} />
                    <span>Regenerate</span>
                  </button>
                )}
              </div>
            )}
          </div>
        )}
      </div>
    </article>
  );
}

export const MessageItem = memo(MessageItemImpl);
