/** Settings → Remote providers: OpenAI-compatible endpoints (base URL + key in the keychain),
 *  their model lists, keys, edits and removal. Conversations pick their models in Chat settings. */
import { useEffect, useId, useState, type FormEvent } from "react";
import { api, type Provider, type ProviderModel } from "../api";
import { useApp } from "../state/AppContext";

interface ModelsState {
  loading: boolean;
  models: ProviderModel[] | null;
  error: string | null;
}

function ProviderRow({ provider, checkOnMount, onChanged }: { provider: Provider; checkOnMount: boolean; onChanged: () => Promise<void> }) {
  const [models, setModels] = useState<ModelsState | null>(null);
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(provider.name);
  const [baseUrl, setBaseUrl] = useState(provider.baseUrl);
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const ids = { name: useId(), url: useId(), key: useId() };

  const check = async () => {
    setModels({ loading: true, models: null, error: null });
    try {
      setModels({ loading: false, models: await api.providerModels(provider.id), error: null });
    } catch (e) {
      setModels({ loading: false, models: null, error: (e as Error).message });
    }
  };

  useEffect(() => {
    if (checkOnMount) void check();
    // Once, for a provider just added.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const act = async (what: () => Promise<unknown>) => {
    setError(null);
    try {
      await what();
      await onChanged();
      return true;
    } catch (e) {
      setError((e as Error).message);
      return false;
    }
  };

  const saveEdit = async (event: FormEvent) => {
    event.preventDefault();
    if (await act(() => api.updateProvider(provider.id, name, baseUrl))) setEditing(false);
  };

  const saveKey = async (event: FormEvent) => {
    event.preventDefault();
    if (key.trim() && (await act(() => api.setProviderKey(provider.id, key.trim())))) {
      setKey("");
      void check();
    }
  };

  return (
    <li className="provider" data-testid="provider" aria-label={provider.name}>
      {editing ? (
        <form className="provider-edit" onSubmit={saveEdit} aria-label={`Edit ${provider.name}`}>
          <div className="field">
            <label htmlFor={ids.name}>Name</label>
            <input id={ids.name} value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor={ids.url}>Base URL</label>
            <input id={ids.url} value={baseUrl} onChange={(e) => setBaseUrl(e.target.value)} />
          </div>
          <div className="provider-actions">
            <button type="submit" className="button button-primary button-small">
              Save
            </button>
            <button type="button" className="button button-ghost button-small" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div className="provider-head">
          <strong>{provider.name}</strong>
          <code className="provider-url">{provider.baseUrl}</code>
          <span className={`badge ${provider.hasApiKey ? "" : "muted"}`} data-testid="provider-key-state">
            {provider.hasApiKey ? "Key saved" : "No key"}
          </span>
        </div>
      )}
      {!editing && (
        <div className="provider-actions">
          <button type="button" className="button button-small" onClick={() => void check()} disabled={models?.loading}>
            {models?.loading ? "Checking…" : "Check models"}
          </button>
          <button
            type="button"
            className="button button-ghost button-small"
            aria-label={`Edit ${provider.name}`}
            onClick={() => {
              setName(provider.name);
              setBaseUrl(provider.baseUrl);
              setEditing(true);
            }}
          >
            Edit
          </button>
          <button
            type="button"
            className="button button-ghost button-small danger"
            aria-label={`Remove ${provider.name}`}
            onClick={() => void act(() => api.removeProvider(provider.id))}
          >
            Remove
          </button>
        </div>
      )}
      {models?.models && (
        <p className="provider-models" data-testid="provider-models">
          {models.models.length === 0
            ? "Reachable, but it offers no models."
            : `${models.models.length} model${models.models.length === 1 ? "" : "s"}: ${models.models.map((m) => m.id).join(", ")}`}
        </p>
      )}
      {models?.error && (
        <p className="form-error" role="alert" data-testid="provider-models-error">
          {models.error}
        </p>
      )}
      <form className="inline-form" onSubmit={saveKey}>
        <label htmlFor={ids.key} className="visually-hidden">
          API key for {provider.name}
        </label>
        <input
          id={ids.key}
          type="password"
          autoComplete="off"
          placeholder={provider.hasApiKey ? "Replace the key" : "API key"}
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <button type="submit" className="button button-small" disabled={!key.trim()}>
          Save key
        </button>
        {provider.hasApiKey && (
          <button
            type="button"
            className="button button-ghost button-small"
            aria-label={`Remove the key of ${provider.name}`}
            onClick={() => void act(() => api.setProviderKey(provider.id, null))}
          >
            Remove key
          </button>
        )}
      </form>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </li>
  );
}

export function ProvidersSection() {
  const { providers, refreshProviders } = useApp();
  const [name, setName] = useState("");
  const [baseUrl, setBaseUrl] = useState("");
  const [key, setKey] = useState("");
  const [adding, setAdding] = useState(false);
  const [added, setAdded] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ids = { name: useId(), url: useId(), key: useId() };

  useEffect(() => {
    void refreshProviders();
  }, [refreshProviders]);

  const add = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setAdding(true);
    try {
      const p = await api.addProvider(name, baseUrl, key.trim() || null);
      setAdded(p.id);
      setName("");
      setBaseUrl("");
      setKey("");
      await refreshProviders();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setAdding(false);
    }
  };

  return (
    <section className="card" aria-labelledby="providers-heading" data-testid="providers-section">
      <h2 id="providers-heading">Remote providers</h2>
      <p className="muted">
        Use bigger models on another computer or a cloud service through an OpenAI-compatible API (vLLM, Ollama,
        llama.cpp server, Woolly…). Choose one of their models in a chat’s settings; that chat’s messages are then
        sent to the provider. Keys are kept in your system keychain.
      </p>
      {providers.length > 0 && (
        <ul className="provider-list" aria-label="Providers">
          {providers.map((p) => (
            <ProviderRow key={p.id} provider={p} checkOnMount={p.id === added} onChanged={refreshProviders} />
          ))}
        </ul>
      )}
      <form className="provider-add" onSubmit={add} aria-label="Add a provider">
        <h3 className="subheading">Add a provider</h3>
        <div className="field-row">
          <div className="field">
            <label htmlFor={ids.name}>Name</label>
            <input
              id={ids.name}
              value={name}
              placeholder="My GPU box"
              data-testid="provider-name"
              onChange={(e) => setName(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor={ids.url}>Base URL</label>
            <input
              id={ids.url}
              value={baseUrl}
              placeholder="http://localhost:11434/v1"
              inputMode="url"
              data-testid="provider-url"
              onChange={(e) => setBaseUrl(e.target.value)}
            />
          </div>
        </div>
        <div className="field">
          <label htmlFor={ids.key}>API key (optional)</label>
          <input id={ids.key} type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} />
        </div>
        <button
          type="submit"
          className="button"
          data-testid="provider-add"
          disabled={adding || !name.trim() || !baseUrl.trim()}
        >
          {adding ? "Adding…" : "Add provider"}
        </button>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
      </form>
    </section>
  );
}
