import { useCallback, useEffect, useId, useState } from "react";
import { api, type CatalogEntry, type DownloadInfo, type FitReport, type ImportMode, type InstalledModel } from "../api";
import { useApp } from "../state/AppContext";
import { downloadStore, useDownloads } from "../state/downloadStore";
import { formatBytes, formatDuration } from "../lib/format";
import { CheckIcon, DownloadIcon, FolderIcon, PauseIcon, PlayIcon, TrashIcon, XIcon } from "../components/Icons";
import { HubSearch } from "./HubSearch";

const FIT_LABEL: Record<FitReport["verdict"], string> = {
  fits: "Fits",
  tight: "Tight",
  too_big: "Too big",
};

export function FitBadge({ fit }: { fit: FitReport }) {
  return (
    <span
      className={`fit-badge fit-${fit.verdict}`}
      data-testid="fit-badge"
      data-fit={fit.verdict}
      title={fit.detail}
      aria-label={`Memory fit: ${FIT_LABEL[fit.verdict]}. ${fit.detail}`}
    >
      <span className="fit-dot" aria-hidden="true" />
      {FIT_LABEL[fit.verdict]}
    </span>
  );
}

function DownloadRow({ download }: { download: DownloadInfo }) {
  const fraction = download.totalBytes > 0 ? download.downloadedBytes / download.totalBytes : 0;
  const active = download.status === "downloading" || download.status === "retrying" || download.status === "queued";
  const statusText: Record<DownloadInfo["status"], string> = {
    queued: "Waiting…",
    downloading: `${formatBytes(download.bytesPerSecond)}/s · ${formatDuration(download.etaSeconds)} left`,
    verifying: "Verifying SHA-256…",
    paused: "Paused",
    retrying: download.error ?? "Retrying…",
    failed: download.error ?? "Failed",
    completed: "Done",
    cancelled: "Cancelled",
  };
  return (
    <li className="download-row" data-testid="download-row" data-download-id={download.id} data-status={download.status}>
      <div className="download-head">
        <strong>{download.name}</strong>
        <span className="muted">
          {formatBytes(download.downloadedBytes)} / {formatBytes(download.totalBytes)} · {Math.floor(fraction * 100)}%
        </span>
      </div>
      <div
        className={`progress status-${download.status}`}
        role="progressbar"
        aria-label={`Downloading ${download.name}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.floor(fraction * 100)}
      >
        <span className="progress-fill" style={{ width: `${fraction * 100}%` }} />
      </div>
      <div className="download-foot">
        <span className={download.status === "failed" ? "form-error" : "muted"}>{statusText[download.status]}</span>
        <div className="row-buttons">
          {active && (
            <button type="button" className="button button-small" data-testid="pause-download" onClick={() => void downloadStore.pause(download.id)}>
              <PauseIcon size={14} /> Pause
            </button>
          )}
          {(download.status === "paused" || download.status === "failed") && (
            <button type="button" className="button button-small" data-testid="resume-download" onClick={() => void downloadStore.resume(download.id)}>
              <PlayIcon size={14} /> Resume
            </button>
          )}
          {download.status !== "verifying" && (
            <button type="button" className="button button-small button-ghost" data-testid="cancel-download" onClick={() => void downloadStore.cancel(download.id)}>
              <XIcon size={14} /> Cancel
            </button>
          )}
        </div>
      </div>
    </li>
  );
}

function InstalledRow({ model }: { model: InstalledModel }) {
  const { settings, applySettings, systemInfo, refreshSystemInfo, refreshInstalled } = useApp();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const loaded = systemInfo?.model?.id === model.id && systemInfo.modelState === "loaded";
  const loading = systemInfo?.model?.id === model.id && systemInfo.modelState === "loading";
  const isDefault = settings?.defaultModelId === model.id;

  const run = async (label: string, action: () => Promise<unknown>) => {
    setBusy(label);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(null);
      void refreshSystemInfo();
    }
  };

  return (
    <li className="model-row" data-testid="installed-model" data-model-id={model.id}>
      <div className="model-main">
        <div className="model-name">
          <strong>{model.name}</strong>
          {isDefault && <span className="tag">Default</span>}
          {loaded && <span className="tag tag-success">Loaded</span>}
          {model.storage === "reference" && <span className="tag">Linked</span>}
        </div>
        <div className="model-meta muted">
          {[model.parameters !== "?" ? model.parameters : null, model.quantization, formatBytes(model.sizeBytes), `${model.contextLength.toLocaleString("en-US")} ctx`, model.architecture]
            .filter(Boolean)
            .join(" · ")}
        </div>
        <div className="model-path" title={model.path}>
          {model.path}
        </div>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
      </div>
      <div className="model-side">
        <FitBadge fit={model.fit} />
        <div className="row-buttons">
          {confirming ? (
            <>
              <button
                type="button"
                className="button button-small button-danger"
                data-testid="confirm-delete-model"
                autoFocus
                onClick={() =>
                  void run("delete", async () => {
                    await api.deleteModel(model.id);
                    await refreshInstalled();
                  })
                }
              >
                <CheckIcon size={14} /> Delete {model.storage === "reference" ? "link" : formatBytes(model.sizeBytes)}
              </button>
              <button type="button" className="button button-small button-ghost" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </>
          ) : (
            <>
              {loaded ? (
                <button type="button" className="button button-small" disabled={busy !== null} onClick={() => void run("unload", api.unloadModel)}>
                  Unload
                </button>
              ) : (
                <button
                  type="button"
                  className="button button-small"
                  data-testid="load-model"
                  disabled={busy !== null || loading}
                  onClick={() => void run("load", () => api.loadModel(model.id, () => void refreshSystemInfo()))}
                >
                  {busy === "load" || loading ? "Loading…" : "Load"}
                </button>
              )}
              {!isDefault && settings && (
                <button
                  type="button"
                  className="button button-small button-ghost"
                  disabled={busy !== null}
                  onClick={() =>
                    void run("default", async () => applySettings(await api.saveSettings({ ...settings, defaultModelId: model.id })))
                  }
                >
                  Make default
                </button>
              )}
              <button
                type="button"
                className="icon-button"
                aria-label={`Delete ${model.name}`}
                data-testid="delete-model"
                disabled={busy !== null}
                onClick={() => setConfirming(true)}
              >
                <TrashIcon size={16} />
              </button>
            </>
          )}
        </div>
      </div>
    </li>
  );
}

function CatalogCard({ entry, downloading }: { entry: CatalogEntry; downloading: boolean }) {
  return (
    <li className="catalog-card" data-testid="catalog-entry" data-catalog-id={entry.id}>
      <div className="catalog-top">
        <div>
          <h3>{entry.name}</h3>
          <div className="model-meta muted">
            {entry.parameters} · {entry.quantization} · {formatBytes(entry.sizeBytes)}
          </div>
        </div>
        <FitBadge fit={entry.fit} />
      </div>
      <p className="catalog-desc">{entry.description}</p>
      <div className="catalog-bottom">
        <span className="muted small">
          {entry.license} · {entry.contextLength.toLocaleString("en-US")} ctx
        </span>
        {entry.installedId ? (
          <span className="tag tag-success">
            <CheckIcon size={13} /> Installed
          </span>
        ) : (
          <button
            type="button"
            className="button button-small"
            data-testid="download-model"
            disabled={downloading}
            aria-label={`Download ${entry.name} (${formatBytes(entry.sizeBytes)})`}
            onClick={() => void downloadStore.start({ kind: "catalog", catalogId: entry.id })}
          >
            <DownloadIcon size={14} /> {downloading ? "Downloading" : "Download"}
          </button>
        )}
      </div>
    </li>
  );
}

function ImportForm() {
  const { refreshInstalled } = useApp();
  const [path, setPath] = useState("");
  const [mode, setMode] = useState<ImportMode>("copy");
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const pathId = useId();

  const submit = async () => {
    setError(null);
    setStatus(null);
    setBusy(true);
    try {
      const model = await api.importModel(path.trim(), mode);
      setStatus(`Imported ${model.name}`);
      setPath("");
      await refreshInstalled();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="import-form"
      aria-label="Import a model file"
      onSubmit={(e) => {
        e.preventDefault();
        if (path.trim()) void submit();
      }}
    >
      <div className="field">
        <label htmlFor={pathId}>GGUF file</label>
        <div className="inline-form">
          <input
            id={pathId}
            data-testid="import-path"
            placeholder="Choose a .gguf file with Browse…"
            value={path}
            readOnly
          />
          <button
            type="button"
            className="button"
            data-testid="import-browse"
            onClick={async () => {
              try {
                const picked = await api.pickModelFile();
                if (picked) setPath(picked);
              } catch (e) {
                setError((e as Error).message);
              }
            }}
          >
            <FolderIcon size={15} /> Browse…
          </button>
        </div>
      </div>
      <fieldset className="segmented">
        <legend>How</legend>
        <label className={mode === "copy" ? "checked" : ""}>
          <input type="radio" name="import-mode" checked={mode === "copy"} onChange={() => setMode("copy")} />
          Copy into library
        </label>
        <label className={mode === "reference" ? "checked" : ""}>
          <input type="radio" name="import-mode" checked={mode === "reference"} onChange={() => setMode("reference")} />
          Use in place
        </label>
      </fieldset>
      <div className="form-actions">
        <button type="submit" className="button button-primary" data-testid="import-submit" disabled={!path.trim() || busy}>
          {busy ? "Checking file…" : "Import"}
        </button>
        <span className="form-status" role="status">
          {status}
        </span>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

export function ModelsPage() {
  const { installed, systemInfo } = useApp();
  const downloads = useDownloads();
  const [entries, setEntries] = useState<CatalogEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState<"all" | "fits">("all");

  const loadCatalog = useCallback(async () => {
    try {
      setEntries(await api.catalog(null));
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  }, []);

  // Reload the catalog whenever the installed list changes (installed flags).
  useEffect(() => {
    void loadCatalog();
  }, [loadCatalog, installed]);

  const shown = (entries ?? []).filter((e) => filter === "all" || e.fit.verdict !== "too_big");

  return (
    <div className="page models-page">
      <header className="page-header">
        <h1>Models</h1>
        <p className="muted">
          Models run on this computer.
          {systemInfo &&
            ` ${formatBytes(systemInfo.memory.availableBytes)} of ${formatBytes(systemInfo.memory.totalBytes)} memory free.`}
        </p>
      </header>

      {downloadStore.error && (
        <div className="banner banner-error" role="alert">
          {downloadStore.error}
        </div>
      )}

      {downloads.length > 0 && (
        <section className="card" aria-labelledby="downloads-heading">
          <h2 id="downloads-heading">Downloads</h2>
          <ul className="download-list">
            {downloads.map((d) => (
              <DownloadRow key={d.id} download={d} />
            ))}
          </ul>
        </section>
      )}

      <section className="card" aria-labelledby="installed-heading">
        <h2 id="installed-heading">Installed</h2>
        {installed.length === 0 ? (
          <p className="muted">No models yet. Download one below or import a GGUF file.</p>
        ) : (
          <ul className="model-list">
            {installed.map((m) => (
              <InstalledRow key={m.id} model={m} />
            ))}
          </ul>
        )}
      </section>

      <section className="card" aria-labelledby="catalog-heading">
        <div className="card-header">
          <h2 id="catalog-heading">Catalog</h2>
          <fieldset className="segmented compact">
            <legend className="visually-hidden">Show</legend>
            <label className={filter === "all" ? "checked" : ""}>
              <input type="radio" name="catalog-filter" checked={filter === "all"} onChange={() => setFilter("all")} />
              All
            </label>
            <label className={filter === "fits" ? "checked" : ""}>
              <input type="radio" name="catalog-filter" checked={filter === "fits"} onChange={() => setFilter("fits")} />
              Runs here
            </label>
          </fieldset>
        </div>
        {error && (
          <p className="form-error" role="alert">
            Couldn’t load the catalog: {error}
          </p>
        )}
        {!entries && !error && <p className="muted">Loading catalog…</p>}
        <ul className="catalog-grid">
          {shown.map((entry) => (
            <CatalogCard
              key={entry.id}
              entry={entry}
              downloading={downloads.some((d) => d.catalogId === entry.id)}
            />
          ))}
        </ul>
      </section>

      <section className="card" aria-labelledby="hub-heading" data-testid="hub-section">
        <h2 id="hub-heading">Hugging Face</h2>
        <HubSearch />
      </section>

      <section className="card" aria-labelledby="import-heading">
        <h2 id="import-heading">Import a GGUF file</h2>
        <ImportForm />
      </section>
    </div>
  );
}
