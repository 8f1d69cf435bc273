import { useState } from "react";
import { api, type ExportFormat } from "../api";
import { useApp } from "../state/AppContext";

/** Settings → Conversations: export every conversation, import an export. The native
 *  dialogs run in Rust; this only says what happened. */
export function ConversationsSection() {
  const { refreshConversations } = useApp();
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const run = async (work: () => Promise<string | null>) => {
    setBusy(true);
    setStatus(null);
    setError(null);
    try {
      setStatus(await work());
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const exportAll = (format: ExportFormat) =>
    run(async () => {
      const path = await api.exportAll(format);
      return path ? `Exported to ${path}` : null;
    });

  const importFile = () =>
    run(async () => {
      const imported = await api.importConversations();
      if (!imported) return null;
      await refreshConversations();
      return `Imported ${imported.length} conversation${imported.length === 1 ? "" : "s"}`;
    });

  return (
    <section className="card" aria-labelledby="conversations-heading" data-testid="conversations-section">
      <h2 id="conversations-heading">Conversations</h2>
      <p className="muted">
        Export every conversation as readable Markdown, or as JSON that Woolly can import again (system prompts, settings and
        statistics included).
      </p>
      <div className="inline-form">
        <button type="button" className="button" disabled={busy} data-testid="export-all-markdown" onClick={() => void exportAll("markdown")}>
          Export all as Markdown…
        </button>
        <button type="button" className="button" disabled={busy} data-testid="export-all-json" onClick={() => void exportAll("json")}>
          Export all as JSON…
        </button>
        <button type="button" className="button" disabled={busy} data-testid="import-conversations" onClick={() => void importFile()}>
          Import from JSON…
        </button>
      </div>
      <p className="form-status" role="status" data-testid="conversations-status">
        {status}
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
