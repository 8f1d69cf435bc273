/**
 * The mock backend's files in a chat (see src-tauri/docs/attachments.md): the open
 * dialog returns `MockOptions.attachFiles`, `MockBackend.dropFiles` stands for a drop on
 * the window, and attachments are counted like the mock counts everything (word tokens).
 */
import type { AttachOutcome, Attachment, AttachmentTokens } from "./types";

export interface MockFile {
  name: string;
  text: string;
  /** Refused with this message instead (e.g. "Not a text file"). */
  error?: string;
}

interface Stored extends Attachment {
  text: string;
}

export class MockAttachments {
  private pending = new Map<string, Stored>();
  private saved: Stored[] = [];
  private sink: ((outcome: AttachOutcome) => void) | null = null;
  private next = 1;

  constructor(private readonly count: (text: string) => number) {}

  read(files: MockFile[]): AttachOutcome {
    const outcome: AttachOutcome = { attachments: [], errors: [] };
    for (const f of files) {
      if (f.error) {
        outcome.errors.push(`${f.name}: ${f.error}`);
        continue;
      }
      const a: Stored = {
        id: `att-${this.next++}`,
        name: f.name,
        kind: f.name.toLowerCase().endsWith(".pdf") ? "pdf" : "text",
        sizeBytes: new TextEncoder().encode(f.text).length,
        chars: [...f.text].length,
        note: f.text.includes("\uFFFD") ? "Not valid UTF-8: 1 byte was shown as \uFFFD." : null,
        messageId: null,
        text: f.text,
      };
      this.pending.set(a.id, a);
      const { text: _text, ...shown } = a;
      outcome.attachments.push(shown);
    }
    return outcome;
  }

  watch(sink: (outcome: AttachOutcome) => void) {
    this.sink = sink;
  }

  drop(files: MockFile[]): AttachOutcome {
    const outcome = this.read(files);
    this.sink?.(outcome);
    return outcome;
  }

  pendingOf(ids: string[] = []): Stored[] {
    return ids.map((id) => {
      const a = this.pending.get(id);
      if (!a) throw { code: "not_found", message: "This attachment is gone: attach the file again." };
      return a;
    });
  }

  /** Saves pending `ids` with a user message. */
  send(ids: string[] | undefined, messageId: string) {
    for (const a of this.pendingOf(ids)) {
      this.pending.delete(a.id);
      this.saved.push({ ...a, messageId });
    }
  }

  /** As the app: the new version of an edited message gets copies (new ids) of the
   *  original's files. */
  copy(fromMessageId: string, toMessageId: string) {
    for (const a of this.of([fromMessageId])) {
      this.saved.push({ ...a, id: `att-${this.next++}`, messageId: toMessageId });
    }
  }

  remove(id: string) {
    if (this.pending.delete(id)) return;
    const at = this.saved.findIndex((a) => a.id === id);
    if (at < 0) throw { code: "not_found", message: "This attachment no longer exists." };
    this.saved.splice(at, 1);
  }

  of(messageIds: string[]): Stored[] {
    return this.saved.filter((a) => a.messageId !== null && messageIds.includes(a.messageId));
  }

  shown(list: Stored[]): Attachment[] {
    return list.map(({ text: _text, ...a }) => a);
  }

  tokens(list: Stored[]): AttachmentTokens[] {
    return list.map((a) => ({ id: a.id, name: a.name, tokens: this.count(`File: ${a.name}\n${a.text}`) + 4, sent: a.messageId !== null }));
  }
}
