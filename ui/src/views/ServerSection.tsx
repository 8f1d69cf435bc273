/** Settings → Local API server: start/stop woolly-server on a port, its API key, its status. */
import { useEffect, useId, useState, type FormEvent } from "react";
import { api, type ServerStatus } from "../api";
import { CopyButton } from "../components/Markdown";

/** A random key for clients to send as `Authorization: Bearer …`. */
function randomKey(): string {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  return "wk-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function ServerSection() {
  const [status, setStatus] = useState<ServerStatus | null>(null);
  const [portText, setPortText] = useState("");
  const [key, setKey] = useState("");
  const [showKey, setShowKey] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const ids = { port: useId(), key: useId() };

  const show = (s: ServerStatus) => {
    setStatus(s);
    setPortText(String(s.port));
  };

  useEffect(() => {
    api.serverStatus().then(show, (e: Error) => setError(e.message));
  }, []);

  const run = async (what: () => Promise<ServerStatus>, done?: string) => {
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      show(await what());
      if (done) setNote(done);
    } catch (e) {
      setError((e as Error).message);
      // A failed start is also recorded in the status; show what the server does now.
      api.serverStatus().then(setStatus, () => {});
    } finally {
      setBusy(false);
    }
  };

  const toggle = () => {
    if (status?.running) return run(api.stopServer);
    const port = Number(portText.trim());
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      setError("The port must be a whole number from 1 to 65535.");
      return;
    }
    return run(() => api.startServer(port));
  };

  const saveKey = (event: FormEvent) => {
    event.preventDefault();
    const value = key.trim();
    if (!value) return;
    if (/\s/.test(value)) {
      setError("The key must not contain spaces.");
      return;
    }
    void run(() => api.setServerApiKey(value), "Key saved to the system keychain").then(() => {
      setKey("");
      setShowKey(false);
    });
  };

  const running = status?.running ?? false;
  return (
    <section className="card" aria-labelledby="server-heading" data-testid="server-section">
      <h2 id="server-heading">Local API server</h2>
      <p className="muted">
        An OpenAI-compatible API for your scripts and other apps, on this computer only (127.0.0.1). It answers with the
        model Woolly has loaded.
      </p>
      <div className="server-controls">
        <div className="field">
          <label htmlFor={ids.port}>Port</label>
          <input
            id={ids.port}
            type="text"
            inputMode="numeric"
            autoComplete="off"
            value={portText}
            data-testid="server-port"
            disabled={running || busy || !status}
            aria-describedby={`${ids.port}-hint`}
            onChange={(e) => setPortText(e.target.value)}
          />
          <p className="field-hint" id={`${ids.port}-hint`}>
            {running ? "Stop the server to change the port." : "From 1024 to 65535 is usual."}
          </p>
        </div>
        <button
          type="button"
          className={`button ${running ? "" : "button-primary"}`}
          data-testid="server-toggle"
          disabled={busy || !status}
          onClick={() => void toggle()}
        >
          {busy ? "Working…" : running ? "Stop server" : "Start server"}
        </button>
      </div>
      <p className="server-state" role="status" data-testid="server-status">
        {!status ? (
          "Checking…"
        ) : running ? (
          <>
            <span className="dot dot-on" aria-hidden="true" /> Listening on <code>{status.baseUrl}</code>
            <CopyButton getText={() => status.baseUrl ?? ""} label="Copy server address" testId="copy-server-url" />
            {status.modelId && <span className="muted"> · {status.modelId}</span>}
          </>
        ) : (
          <>
            <span className="dot" aria-hidden="true" /> Stopped
          </>
        )}
      </p>

      <h3 className="subheading">API key</h3>
      <p className="muted" data-testid="server-key-state">
        {status?.hasApiKey
          ? "A key is saved in your system keychain. Clients send it as Authorization: Bearer <key>."
          : "No key: any program on this computer can use the server."}
      </p>
      <form className="inline-form" onSubmit={saveKey}>
        <label htmlFor={ids.key} className="visually-hidden">
          Server API key
        </label>
        <input
          id={ids.key}
          type={showKey ? "text" : "password"}
          autoComplete="off"
          placeholder={status?.hasApiKey ? "New key" : "Key"}
          value={key}
          data-testid="server-key"
          onChange={(e) => setKey(e.target.value)}
        />
        <button
          type="button"
          className="button button-ghost"
          onClick={() => {
            setKey(randomKey());
            setShowKey(true);
          }}
        >
          Generate
        </button>
        <button type="submit" className="button" data-testid="server-key-save" disabled={!key.trim() || busy}>
          Save key
        </button>
        {status?.hasApiKey && (
          <button
            type="button"
            className="button button-ghost"
            data-testid="server-key-clear"
            disabled={busy}
            onClick={() => void run(() => api.setServerApiKey(null), "Key removed")}
          >
            Remove key
          </button>
        )}
      </form>
      {showKey && key && <p className="field-hint">Copy this key now: Woolly will not show it again once saved.</p>}
      {note && (
        <p className="form-status" role="status" data-testid="server-note">
          {note}
        </p>
      )}
      {(error || (!running && status?.error)) && (
        <p className="form-error" role="alert" data-testid="server-error">
          {error ?? status?.error}
        </p>
      )}
    </section>
  );
}
