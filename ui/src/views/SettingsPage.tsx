import { useEffect, useId, useState, type FormEvent } from "react";
import { api, type DevicePreference, type Settings, type Theme } from "../api";
import { useApp } from "../state/AppContext";
import { ParamFields } from "../components/ParamFields";
import { formatBytes } from "../lib/format";
import { ProvidersSection } from "./ProvidersSection";
import { ConversationsSection } from "./ConversationsSection";
import { ServerSection } from "./ServerSection";
import { UpdatesSection } from "./UpdatesSection";

const GIB = 1024 ** 3;

const THEMES: { value: Theme; label: string }[] = [
  { value: "light", label: "Light" },
  { value: "dark", label: "Dark" },
  { value: "system", label: "Match system" },
];

const DEVICES: { value: DevicePreference; label: string; hint: string }[] = [
  { value: "auto", label: "Automatic", hint: "A hardware GPU with room for the model, otherwise CPU." },
  { value: "gpu", label: "GPU", hint: "Use the graphics card (Vulkan / Metal / DX12)." },
  { value: "cpu", label: "CPU", hint: "Always run on the processor." },
];

export function SettingsPage() {
  const { settings, applySettings, installed, systemInfo } = useApp();
  const [form, setForm] = useState<Settings | null>(settings);
  const [threadsText, setThreadsText] = useState("");
  const [memoryText, setMemoryText] = useState("");
  const [idleText, setIdleText] = useState("");
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [hasToken, setHasToken] = useState<boolean | null>(null);
  const [token, setToken] = useState("");
  const ids = {
    model: useId(),
    threads: useId(),
    memory: useId(),
    idle: useId(),
    prompt: useId(),
    token: useId(),
  };

  useEffect(() => {
    if (!settings) return;
    setForm(settings);
    setThreadsText(settings.threads === null ? "" : String(settings.threads));
    setMemoryText(settings.memoryLimitBytes === null ? "" : String(+(settings.memoryLimitBytes / GIB).toFixed(2)));
    setIdleText(settings.unloadAfterMinutes == null ? "" : String(settings.unloadAfterMinutes));
  }, [settings]);

  useEffect(() => {
    api.hasHfToken().then(setHasToken, () => setHasToken(null));
  }, []);

  if (!form) {
    return (
      <div className="page" aria-busy="true">
        <p className="muted">Loading settings…</p>
      </div>
    );
  }

  const set = <K extends keyof Settings>(key: K, value: Settings[K]) => {
    setForm({ ...form, [key]: value });
    setStatus(null);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setStatus(null);
    const threads = threadsText.trim() === "" ? null : Number(threadsText);
    if (threads !== null && (!Number.isInteger(threads) || threads < 1 || threads > 1024)) {
      setError("Threads must be a whole number from 1, or empty for automatic.");
      return;
    }
    const memoryGb = memoryText.trim() === "" ? null : Number(memoryText);
    if (memoryGb !== null && (!Number.isFinite(memoryGb) || memoryGb <= 0)) {
      setError("Memory limit must be a positive number of GB, or empty for automatic.");
      return;
    }
    const idle = idleText.trim() === "" ? null : Number(idleText);
    if (idle !== null && (!Number.isInteger(idle) || idle < 1 || idle > 10080)) {
      setError("Unload after must be a whole number of minutes from 1, or empty to keep the model loaded.");
      return;
    }
    setSaving(true);
    try {
      const saved = await api.saveSettings({
        ...form,
        threads,
        unloadAfterMinutes: idle,
        memoryLimitBytes: memoryGb === null ? null : Math.round(memoryGb * GIB),
      });
      applySettings(saved);
      setStatus("Settings saved");
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setSaving(false);
    }
  };

  const saveToken = async (value: string | null) => {
    setError(null);
    try {
      await api.setHfToken(value);
      setHasToken(value !== null);
      setToken("");
      setStatus(value ? "Token saved to the system keychain" : "Token removed");
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <div className="page">
      <header className="page-header">
        <h1>Settings</h1>
        <p className="muted">Appearance, hardware and defaults for new chats.</p>
      </header>

      <form className="settings-form" onSubmit={submit} aria-label="Settings" data-testid="settings-form">
        <section className="card">
          <h2>Appearance</h2>
          <fieldset className="segmented" data-testid="theme">
            <legend>Theme</legend>
            {THEMES.map((t) => (
              <label key={t.value} className={form.theme === t.value ? "checked" : ""}>
                <input
                  type="radio"
                  name="theme"
                  value={t.value}
                  checked={form.theme === t.value}
                  onChange={() => set("theme", t.value)}
                />
                {t.label}
              </label>
            ))}
          </fieldset>
        </section>

        <section className="card">
          <h2>Model &amp; hardware</h2>
          <div className="field">
            <label htmlFor={ids.model}>Default model</label>
            <select
              id={ids.model}
              value={form.defaultModelId ?? ""}
              data-testid="default-model"
              onChange={(e) => set("defaultModelId", e.target.value || null)}
            >
              <option value="">First installed model</option>
              {installed.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name} · {m.quantization} · {formatBytes(m.sizeBytes)}
                </option>
              ))}
            </select>
          </div>

          <fieldset className="radio-cards" data-testid="device">
            <legend>Device</legend>
            {DEVICES.map((d) => (
              <label key={d.value} className={form.device === d.value ? "checked" : ""}>
                <input
                  type="radio"
                  name="device"
                  value={d.value}
                  checked={form.device === d.value}
                  onChange={() => set("device", d.value)}
                />
                <span className="radio-card-text">
                  <strong>{d.label}</strong>
                  <span className="muted">{d.hint}</span>
                </span>
              </label>
            ))}
            {systemInfo?.model && (
              <p className="muted" data-testid="device-now">
                Running on {systemInfo.device.name}
                {systemInfo.device.reason ? ` (${systemInfo.device.reason})` : ""}.
              </p>
            )}
          </fieldset>

          <div className="field-row">
            <div className="field">
              <label htmlFor={ids.threads}>CPU threads</label>
              <input
                id={ids.threads}
                type="text"
                inputMode="numeric"
                autoComplete="off"
                placeholder="Automatic"
                value={threadsText}
                data-testid="threads"
                aria-describedby={`${ids.threads}-hint`}
                onChange={(e) => {
                  setThreadsText(e.target.value);
                  setStatus(null);
                }}
              />
              <p className="field-hint" id={`${ids.threads}-hint`}>
                Empty = automatic{systemInfo ? ` (${systemInfo.threads} now)` : ""}.
              </p>
            </div>
            <div className="field">
              <label htmlFor={ids.memory}>Memory limit (GB)</label>
              <input
                id={ids.memory}
                type="text"
                inputMode="decimal"
                autoComplete="off"
                placeholder="Automatic"
                value={memoryText}
                data-testid="memory-limit"
                aria-describedby={`${ids.memory}-hint`}
                onChange={(e) => {
                  setMemoryText(e.target.value);
                  setStatus(null);
                }}
              />
              <p className="field-hint" id={`${ids.memory}-hint`}>
                Budget for model and context.{" "}
                {systemInfo ? `${formatBytes(systemInfo.memory.totalBytes)} installed.` : ""}
              </p>
            </div>
            <div className="field">
              <label htmlFor={ids.idle}>Unload model after idle (minutes)</label>
              <input
                id={ids.idle}
                type="text"
                inputMode="numeric"
                autoComplete="off"
                placeholder="Never"
                value={idleText}
                data-testid="unload-after"
                aria-describedby={`${ids.idle}-hint`}
                onChange={(e) => {
                  setIdleText(e.target.value);
                  setStatus(null);
                }}
              />
              <p className="field-hint" id={`${ids.idle}-hint`}>
                Gives the model’s memory back; the next message loads it again. Empty = never.
              </p>
            </div>
          </div>
        </section>

        <section className="card">
          <h2>New chats</h2>
          <div className="field">
            <label htmlFor={ids.prompt}>Default system prompt</label>
            <textarea
              id={ids.prompt}
              rows={3}
              value={form.defaultSystemPrompt}
              data-testid="default-system-prompt"
              onChange={(e) => set("defaultSystemPrompt", e.target.value)}
            />
          </div>
          <details className="details">
            <summary>Default sampling settings</summary>
            <ParamFields params={form.defaultParams} onChange={(p) => set("defaultParams", p)} />
          </details>
        </section>

        <UpdatesSection weekly={form.checkUpdatesWeekly} onWeeklyChange={(on) => set("checkUpdatesWeekly", on)} />

        <div className="form-actions">
          <button type="submit" className="button button-primary" data-testid="settings-save" disabled={saving}>
            {saving ? "Saving…" : "Save settings"}
          </button>
          <span className="form-status" role="status" data-testid="settings-status">
            {status}
          </span>
        </div>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
      </form>

      <section className="card" aria-labelledby="hf-heading">
        <h2 id="hf-heading">Hugging Face access</h2>
        <p className="muted">
          Needed only for gated models. Stored in your system keychain and sent only to huggingface.co.
          {hasToken !== null && (hasToken ? " A token is saved." : " No token saved.")}
        </p>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (token.trim()) void saveToken(token.trim());
          }}
        >
          <label htmlFor={ids.token} className="visually-hidden">
            Hugging Face token
          </label>
          <input
            id={ids.token}
            type="password"
            autoComplete="off"
            placeholder="hf_…"
            value={token}
            onChange={(e) => setToken(e.target.value)}
          />
          <button type="submit" className="button" disabled={!token.trim()}>
            Save token
          </button>
          {hasToken && (
            <button type="button" className="button button-ghost" onClick={() => void saveToken(null)}>
              Remove
            </button>
          )}
        </form>
      </section>

      <ConversationsSection />

      <ServerSection />

      <ProvidersSection />
    </div>
  );
}
