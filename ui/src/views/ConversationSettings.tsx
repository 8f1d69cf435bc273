/** Side panel: per-conversation system prompt, model and sampling parameters. */
import { useEffect, useId, useState } from "react";
import { api, type Conversation, type SamplingParams } from "../api";
import { useApp } from "../state/AppContext";
import { ParamFields } from "../components/ParamFields";
import { XIcon } from "../components/Icons";
import { parseRemoteModelId, remoteLabel, remoteModelId } from "../lib/remote";
import { useRemoteModels } from "../state/useRemoteModels";

interface Props {
  conversation: Conversation | null;
  onClose: () => void;
}

interface FormState {
  systemPrompt: string;
  params: SamplingParams;
  modelId: string | null;
}

export function ConversationSettings({ conversation, onClose }: Props) {
  const { draft, setDraft, settings, installed, providers, replaceConversation } = useApp();
  const remoteModels = useRemoteModels(providers);
  const source: FormState | null = conversation
    ? { systemPrompt: conversation.systemPrompt, params: conversation.params, modelId: conversation.modelId }
    : draft;
  const [form, setForm] = useState<FormState | null>(source);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const promptId = useId();
  const modelSelectId = useId();

  useEffect(() => {
    setForm(source);
    // Only when switching conversations, not on every save echo.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [conversation?.id]);

  if (!form) return null;
  const model = installed.find((m) => m.id === (form.modelId ?? settings?.defaultModelId));
  const remote = parseRemoteModelId(form.modelId);
  const remoteProvider = remote ? providers.find((p) => p.id === remote.providerId) : undefined;
  // A saved remote model the provider no longer lists (or not yet): keep it selectable.
  const listed = remote && remoteProvider
    ? (remoteModels[remoteProvider.id] as { models?: { id: string }[] } | undefined)?.models?.some((m) => m.id === remote.model)
    : false;

  const save = async () => {
    setError(null);
    try {
      if (conversation) {
        replaceConversation(await api.updateConversation(conversation.id, form));
      } else {
        setDraft(form);
      }
      setStatus("Saved");
      setTimeout(() => setStatus(null), 2000);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <aside className="side-panel" id="conversation-settings" aria-label="Chat settings">
      <div className="side-panel-header">
        <h2>Chat settings</h2>
        <button type="button" className="icon-button" aria-label="Close chat settings" onClick={onClose}>
          <XIcon />
        </button>
      </div>
      <form
        className="side-panel-body"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            onClose();
          }
        }}
      >
        <div className="field">
          <label htmlFor={promptId}>System prompt</label>
          <textarea
            id={promptId}
            rows={5}
            data-testid="system-prompt"
            placeholder="e.g. You are a concise assistant who answers in British English."
            value={form.systemPrompt}
            onChange={(e) => setForm({ ...form, systemPrompt: e.target.value })}
          />
        </div>
        <div className="field">
          <label htmlFor={modelSelectId}>Model</label>
          <select
            id={modelSelectId}
            value={form.modelId ?? ""}
            data-testid="conversation-model"
            onChange={(e) => setForm({ ...form, modelId: e.target.value || null })}
          >
            <option value="">Default model</option>
            <optgroup label="On this computer">
              {installed.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name} · {m.quantization}
                </option>
              ))}
            </optgroup>
            {providers.map((p) => {
              const list = remoteModels[p.id];
              return (
                <optgroup key={p.id} label={`${p.name} (remote)`}>
                  {!list && <option disabled>Listing models…</option>}
                  {list && "error" in list && <option disabled>Models unavailable: {list.error}</option>}
                  {list &&
                    "models" in list &&
                    list.models.map((m) => (
                      <option key={m.id} value={remoteModelId(p.id, m.id)}>
                        {m.id}
                      </option>
                    ))}
                </optgroup>
              );
            })}
            {remote && !listed && <option value={form.modelId ?? ""}>{remoteLabel(form.modelId, providers)}</option>}
          </select>
          {remote && (
            <p className="field-hint model-hint" data-testid="remote-model-hint">
              {remoteProvider
                ? `Messages of this chat are sent to ${remoteProvider.baseUrl}. Top-k, min-p and repeat penalty do not apply.`
                : "This model's provider was removed. Choose another model."}
            </p>
          )}
        </div>
        <h3 className="panel-subheading">Sampling</h3>
        <ParamFields params={form.params} onChange={(params) => setForm({ ...form, params })} maxContext={remote ? undefined : model?.contextLength} />
        <div className="panel-actions">
          <button
            type="button"
            className="button button-ghost"
            onClick={() =>
              settings &&
              setForm({ ...form, systemPrompt: settings.defaultSystemPrompt, params: { ...settings.defaultParams } })
            }
          >
            Reset to defaults
          </button>
          <button type="submit" className="button button-primary" data-testid="conversation-settings-save">
            Save
          </button>
        </div>
        <p className="form-status" role="status">
          {status}
        </p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </aside>
  );
}
