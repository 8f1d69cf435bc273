/**
 * Models → Hugging Face: search GGUF repositories on the Hub, open one to see its GGUF
 * models (quantization, size, a fit badge for this machine) and download a file through
 * the same resumable, SHA-256-verified path as the catalog (the hash comes from the Hub's
 * LFS metadata). Split models are listed and refused, with the reason shown.
 */
import { useCallback, useEffect, useId, useState } from "react";
import { api, type HubFile, type HubModel, type HubSort } from "../api";
import { useApp } from "../state/AppContext";
import { downloadStore, useDownloads } from "../state/downloadStore";
import { formatBytes } from "../lib/format";
import { CheckIcon, DownloadIcon, SearchIcon } from "../components/Icons";
import { FitBadge } from "./ModelsPage";

const count = (n: number) =>
  n >= 1_000_000 ? `${(n / 1_000_000).toFixed(1)}M` : n >= 1_000 ? `${(n / 1_000).toFixed(1)}k` : String(n);

const day = (ms: number | null) =>
  ms === null ? null : new Date(ms).toLocaleDateString("en-US", { year: "numeric", month: "short", day: "numeric" });

function RepoRow({ model, onOpen }: { model: HubModel; onOpen: () => void }) {
  const updated = day(model.lastModified);
  return (
    <li className="model-row hub-repo" data-testid="hub-result" data-repo-id={model.id}>
      <div className="model-main">
        <div className="model-name">
          <strong>{model.id}</strong>
          {model.gated && (
            <span className="tag" title="Accept the repository's terms on huggingface.co and store a token in Settings to download">
              Gated
            </span>
          )}
          {model.private && <span className="tag">Private</span>}
        </div>
        <div className="model-meta muted">
          {[`${count(model.downloads)} downloads`, `${count(model.likes)} likes`, updated && `updated ${updated}`]
            .filter(Boolean)
            .join(" · ")}
        </div>
      </div>
      <div className="model-side">
        <button type="button" className="button button-small" data-testid="hub-open-repo" aria-label={`Show the files of ${model.id}`} onClick={onOpen}>
          Files
        </button>
      </div>
    </li>
  );
}

function FileRow({ repo, file, downloading }: { repo: HubModel; file: HubFile; downloading: boolean }) {
  return (
    <li className="model-row" data-testid="hub-file" data-path={file.path} data-downloadable={String(file.downloadable)}>
      <div className="model-main">
        <div className="model-name">
          <strong>{file.fileName}</strong>
          {file.quantization && <span className="tag">{file.quantization}</span>}
          {file.split && (
            <span className="tag" data-testid="hub-split">
              Split · {file.split.parts} files
            </span>
          )}
        </div>
        <div className="model-meta muted">
          {formatBytes(file.sizeBytes)}
          {file.sha256 && (
            <>
              {" · SHA-256 "}
              <span className="mono" title={file.sha256}>
                {file.sha256.slice(0, 12)}…
              </span>
            </>
          )}
        </div>
        {file.note && (
          <p className="muted small hub-note" data-testid="hub-file-note">
            {file.note}
          </p>
        )}
      </div>
      <div className="model-side">
        <FitBadge fit={file.fit} />
        {file.installedId ? (
          <span className="tag tag-success">
            <CheckIcon size={13} /> Installed
          </span>
        ) : file.downloadable ? (
          <button
            type="button"
            className="button button-small"
            data-testid="hub-download"
            disabled={downloading}
            aria-label={`Download ${file.fileName} (${formatBytes(file.sizeBytes)})${repo.gated ? ", gated" : ""}`}
            onClick={() => void downloadStore.start({ kind: "hub", repo: repo.id, file: file.path })}
          >
            <DownloadIcon size={14} /> {downloading ? "Downloading" : "Download"}
          </button>
        ) : (
          <span className="tag" aria-label={`${file.fileName} cannot be downloaded`}>
            Not downloadable
          </span>
        )}
      </div>
    </li>
  );
}

function RepoFiles({ repo, onBack }: { repo: HubModel; onBack: () => void }) {
  const { installed } = useApp();
  const downloads = useDownloads();
  const [files, setFiles] = useState<HubFile[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  // Reload when the installed list changes (installed flags after a download).
  useEffect(() => {
    let live = true;
    setError(null);
    api.hubFiles(repo.id).then(
      (list) => live && setFiles(list),
      (e: Error) => {
        if (!live) return;
        setFiles([]);
        setError(e.message);
      },
    );
    return () => {
      live = false;
    };
  }, [repo.id, installed]);

  const headingId = useId();
  return (
    <div className="hub-files" data-testid="hub-files" aria-labelledby={headingId} role="region">
      <div className="card-header">
        <h3 id={headingId}>{repo.id}</h3>
        <button type="button" className="button button-small button-ghost" data-testid="hub-back" onClick={onBack}>
          Back to results
        </button>
      </div>
      {repo.gated && (
        <p className="muted small">
          Gated repository: accept its terms on huggingface.co and store a Hugging Face token in Settings before downloading.
        </p>
      )}
      {error && (
        <p className="form-error" role="alert">
          Couldn’t list the files: {error}
        </p>
      )}
      {files === null && !error && (
        <p className="muted" role="status">
          Listing files…
        </p>
      )}
      {files !== null && files.length === 0 && !error && <p className="muted">No GGUF files in this repository.</p>}
      {files && files.length > 0 && (
        <ul className="model-list" aria-label={`GGUF files of ${repo.id}`}>
          {files.map((f) => (
            <FileRow key={f.path} repo={repo} file={f} downloading={downloads.some((d) => d.url.endsWith(`/resolve/main/${f.path}`))} />
          ))}
        </ul>
      )}
    </div>
  );
}

export function HubSearch() {
  const [query, setQuery] = useState("");
  const [sort, setSort] = useState<HubSort>("downloads");
  const [results, setResults] = useState<HubModel[] | null>(null);
  const [searched, setSearched] = useState<{ query: string; sort: HubSort } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<HubModel | null>(null);
  const queryId = useId();
  const sortId = useId();

  const search = useCallback(async (text: string, order: HubSort) => {
    setBusy(true);
    setError(null);
    setOpen(null);
    try {
      setResults(await api.hubSearch(text.trim(), order));
      setSearched({ query: text.trim(), sort: order });
    } catch (e) {
      setResults(null);
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }, []);

  return (
    <div className="hub-search">
      <form
        className="hub-search-form"
        role="search"
        aria-label="Search Hugging Face"
        onSubmit={(e) => {
          e.preventDefault();
          void search(query, sort);
        }}
      >
        <div className="field">
          <label htmlFor={queryId}>GGUF models on Hugging Face</label>
          <div className="inline-form">
            <input
              id={queryId}
              type="search"
              data-testid="hub-search-input"
              placeholder="e.g. qwen 7b instruct"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
            />
            <label htmlFor={sortId} className="visually-hidden">
              Sort by
            </label>
            <select
              id={sortId}
              data-testid="hub-sort"
              value={sort}
              onChange={(e) => {
                const order = e.target.value as HubSort;
                setSort(order);
                // Re-sort what is shown: the Hub sorts, so ask it again.
                if (searched) void search(searched.query, order);
              }}
            >
              <option value="downloads">Most downloaded</option>
              <option value="recent">Recently updated</option>
            </select>
            <button type="submit" className="button" data-testid="hub-search-submit" disabled={busy}>
              <SearchIcon size={15} /> {busy ? "Searching…" : "Search"}
            </button>
          </div>
        </div>
      </form>
      {error && (
        <p className="form-error" role="alert" data-testid="hub-error">
          Couldn’t search Hugging Face: {error}
        </p>
      )}
      {open ? (
        <RepoFiles repo={open} onBack={() => setOpen(null)} />
      ) : (
        results !== null && (
          <>
            <p className="muted small" role="status" data-testid="hub-result-count">
              {results.length === 0
                ? "No GGUF repositories found."
                : `${results.length} ${results.length === 1 ? "repository" : "repositories"}, ${sort === "downloads" ? "most downloaded" : "recently updated"} first`}
            </p>
            {results.length > 0 && (
              <ul className="model-list" aria-label="Hugging Face repositories">
                {results.map((m) => (
                  <RepoRow key={m.id} model={m} onOpen={() => setOpen(m)} />
                ))}
              </ul>
            )}
          </>
        )
      )}
    </div>
  );
}
