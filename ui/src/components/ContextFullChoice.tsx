import type { ContextOverflow } from "../api";

interface Props {
  overflow: ContextOverflow;
  /** Resend, leaving out the `dropMessages` oldest messages (allowDropOldest). */
  onDrop: () => void;
  onNewChat: () => void;
  /** Remove one attached file (then resend); offered for each file the overflow lists. */
  onRemoveAttachment?: (id: string) => void;
  onOpenSettings: () => void;
  onDismiss: () => void;
}

const n = (value: number) => value.toLocaleString("en-US");

/**
 * Shown in the chat when a turn failed with `context_full`: nothing was dropped, the user
 * chooses what happens. "Drop" is offered only when dropping helps.
 */
export function ContextFullChoice({ overflow, onDrop, onNewChat, onRemoveAttachment, onOpenSettings, onDismiss }: Props) {
  const drop = overflow.dropMessages;
  return (
    <div className="context-full" role="alertdialog" aria-labelledby="context-full-title" aria-describedby="context-full-detail" data-testid="context-full">
      <p id="context-full-title" className="context-full-title">
        {drop !== null ? "This conversation no longer fits the model's context window." : "The last message is too long for the model's context window."}
      </p>
      <p id="context-full-detail" className="context-full-detail">
        It needs {n(overflow.tokensNeeded)} tokens ({n(overflow.promptTokens)} for the conversation + {n(overflow.replyReserve)} for the
        reply) and the window holds {n(overflow.contextLength)}. Nothing was left out: choose what to do.
      </p>
      <div className="context-full-actions">
        {drop !== null && (
          <button type="button" className="button button-primary button-small" data-testid="context-full-drop" onClick={onDrop}>
            Drop the {drop === 1 ? "oldest message" : `${n(drop)} oldest messages`} and continue
          </button>
        )}
        {onRemoveAttachment &&
          (overflow.attachments ?? []).map((a) => (
            <button
              key={a.id}
              type="button"
              className="button button-ghost button-small"
              data-testid="context-full-remove-attachment"
              onClick={() => onRemoveAttachment(a.id)}
            >
              Remove {a.name} ({n(a.tokens)} tokens) and continue
            </button>
          ))}
        <button type="button" className="button button-ghost button-small" data-testid="context-full-new-chat" onClick={onNewChat}>
          Start a new chat
        </button>
        <button type="button" className="button button-ghost button-small" data-testid="context-full-settings" onClick={onOpenSettings}>
          Open chat settings
        </button>
        <button type="button" className="button button-ghost button-small" onClick={onDismiss}>
          Not now
        </button>
      </div>
    </div>
  );
}
