/**
 * Files in a chat (src-tauri/docs/attachments.md): the composer's pending attachments
 * (the Attach button opens the native dialog through `attach_files`; files dropped on the
 * window arrive on the `watch_drops` channel, read in Rust), their chips with token
 * counts, and the chips of files sent with a message.
 */
import { useCallback, useEffect, useState } from "react";
import { api, type Attachment, type AttachmentTokens } from "../api";
import { formatBytes } from "../lib/format";
import { PaperclipIcon, XIcon } from "./Icons";

const n = (value: number) => value.toLocaleString("en-US");

/** The composer's pending attachments. Dropped files join them wherever the chat is. */
export function usePendingAttachments() {
  const [items, setItems] = useState<Attachment[]>([]);
  const [errors, setErrors] = useState<string[]>([]);

  useEffect(() => {
    let live = true;
    api
      .watchDrops((outcome) => {
        if (!live) return;
        setItems((list) => [...list, ...outcome.attachments]);
        setErrors(outcome.errors);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);

  const attach = useCallback(async () => {
    try {
      const outcome = await api.attachFiles();
      setItems((list) => [...list, ...outcome.attachments]);
      setErrors(outcome.errors);
    } catch (error) {
      setErrors([(error as Error).message]);
    }
  }, []);

  const remove = useCallback(async (id: string) => {
    setItems((list) => list.filter((a) => a.id !== id));
    await api.removeAttachment(id).catch(() => undefined);
  }, []);

  /** After sending: the backend took them. */
  const clear = useCallback(() => {
    setItems([]);
    setErrors([]);
  }, []);

  return { items, errors, attach, remove, clear, dismissErrors: () => setErrors([]) };
}

/** The attachments sent in a conversation, again whenever `version` changes. */
export function useSentAttachments(conversationId: string | null, version: unknown): Attachment[] {
  const [list, setList] = useState<Attachment[]>([]);
  useEffect(() => {
    if (!conversationId) {
      setList([]);
      return;
    }
    let live = true;
    api
      .listAttachments(conversationId)
      .then((l) => live && setList(l))
      .catch(() => live && setList([]));
    return () => {
      live = false;
    };
  }, [conversationId, version]);
  return list;
}

function chipDetail(a: Attachment, tokens: number | undefined): string {
  const size = tokens !== undefined ? `${n(tokens)} tokens` : formatBytes(a.sizeBytes);
  return a.kind === "pdf" ? `PDF · ${size}` : size;
}

/** Chips of attached files; `onRemove` adds a remove button to each. */
export function AttachmentChips({
  items,
  tokens,
  onRemove,
  label,
  testId = "attachment-chips",
}: {
  items: Attachment[];
  tokens?: AttachmentTokens[];
  onRemove?: (id: string) => void;
  label: string;
  testId?: string;
}) {
  if (items.length === 0) return null;
  return (
    <ul className="attachment-chips" aria-label={label} data-testid={testId}>
      {items.map((a) => {
        const count = tokens?.find((t) => t.id === a.id)?.tokens;
        return (
          <li key={a.id} className="attachment-chip" data-testid="attachment-chip" title={a.note ?? a.name}>
            <PaperclipIcon size={14} />
            <span className="attachment-name">{a.name}</span>
            <span className="attachment-detail" data-testid="attachment-tokens">
              {chipDetail(a, count)}
            </span>
            {a.note && (
              <span className="attachment-note" role="note">
                {a.note}
              </span>
            )}
            {onRemove && (
              <button
                type="button"
                className="icon-button attachment-remove"
                aria-label={`Remove ${a.name}`}
                onClick={() => onRemove(a.id)}
              >
                <XIcon size={14} />
              </button>
            )}
          </li>
        );
      })}
    </ul>
  );
}

export function AttachButton({ onClick, disabled }: { onClick: () => void; disabled?: boolean }) {
  return (
    <button
      type="button"
      className="icon-text-button attach-button"
      data-testid="attach-button"
      aria-label="Attach files"
      title="Attach text, Markdown, code or PDF files (or drop them on the window)"
      onClick={onClick}
      disabled={disabled}
    >
      <PaperclipIcon size={16} />
      <span>Attach</span>
    </button>
  );
}

export interface ContextParts {
  system: number;
  history: number;
  attachments: number;
  reply: number;
}

/** The context meter's parts, as text (the bar shows them as segments). */
export function ContextPartsLegend({ parts }: { parts: ContextParts }) {
  return (
    <span className="context-parts" data-testid="context-parts">
      <span className="part part-system">System {n(parts.system)}</span>
      <span className="part part-history">History {n(parts.history)}</span>
      <span className="part part-attachments">Files {n(parts.attachments)}</span>
      <span className="part part-reply">Reply {n(parts.reply)}</span>
    </span>
  );
}
