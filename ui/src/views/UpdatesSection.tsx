/** Settings → Updates: this version, a newer one with its release notes, "install and
 *  restart", the weekly opt-in, and the model catalog in use. It sits inside the settings
 *  form: the opt-in is saved with the other settings ("Save settings"). */
import { useEffect, useState } from "react";
import { api, type UpdateStatus } from "../api";
import { formatBytes } from "../lib/format";

const day = (ms: number) => new Date(ms).toLocaleDateString();

export function UpdatesSection({ weekly, onWeeklyChange }: { weekly: boolean; onWeeklyChange: (on: boolean) => void }) {
  const [status, setStatus] = useState<UpdateStatus | null>(null);
  const [busy, setBusy] = useState<null | "check" | "install">(null);
  const [progress, setProgress] = useState<string | null>(null);
  const [errors, setErrors] = useState<string[]>([]);
  const [note, setNote] = useState<string | null>(null);

  useEffect(() => {
    api.updateStatus().then(setStatus, (e: Error) => setErrors([e.message]));
  }, []);

  // The app and the catalog are checked independently: one failing does not hide the other.
  const checkNow = async () => {
    setBusy("check");
    setErrors([]);
    setNote(null);
    const failed: string[] = [];
    let latest: UpdateStatus | null = null;
    for (const step of [api.checkForUpdate, api.refreshCatalog]) {
      try {
        latest = await step();
      } catch (e) {
        failed.push((e as Error).message);
      }
    }
    if (latest) setStatus(latest);
    setErrors(failed);
    if (latest && !latest.available && failed.length === 0) setNote("Woolly is up to date.");
    setBusy(null);
  };

  const install = async () => {
    setBusy("install");
    setErrors([]);
    setNote(null);
    try {
      const s = await api.downloadUpdate((e) => {
        if (e.event === "progress") {
          setProgress(
            e.data.total ? `Downloading… ${formatBytes(e.data.downloaded)} of ${formatBytes(e.data.total)}` : "Downloading…",
          );
        } else {
          setProgress("Verified. Installing…");
        }
      });
      setStatus(s);
      await api.installUpdate();
      setProgress("Restarting…");
    } catch (e) {
      setErrors([(e as Error).message]);
      setProgress(null);
      api.updateStatus().then(setStatus, () => {});
    } finally {
      setBusy(null);
    }
  };

  const available = status?.available;
  return (
    <section className="card" aria-labelledby="updates-heading" data-testid="updates-section">
      <h2 id="updates-heading">Updates</h2>
      <p className="muted" data-testid="update-version">
        {status ? `Woolly ${status.currentVersion}` : "Checking…"}
        {status?.lastCheckedAt ? ` · last checked ${day(status.lastCheckedAt)}` : ""}
      </p>
      <label className="checkbox">
        <input
          type="checkbox"
          checked={weekly}
          data-testid="update-weekly"
          onChange={(e) => onWeeklyChange(e.target.checked)}
        />
        Check for a new version and new models once a week
      </label>
      <div className="update-actions">
        <button
          type="button"
          className="button"
          data-testid="update-check"
          disabled={busy !== null}
          onClick={() => void checkNow()}
        >
          {busy === "check" ? "Checking…" : "Check now"}
        </button>
      </div>
      {available && (
        <div className="update-available" data-testid="update-available">
          <h3 className="subheading">
            Woolly {available.version} is available{available.date ? ` (${day(available.date)})` : ""}
          </h3>
          {available.notes && (
            <pre className="release-notes" data-testid="update-notes">
              {available.notes}
            </pre>
          )}
          <button
            type="button"
            className="button button-primary"
            data-testid="update-install"
            disabled={busy !== null}
            onClick={() => void install()}
          >
            {busy === "install" ? "Installing…" : "Install and restart"}
          </button>
        </div>
      )}
      {progress && (
        <p className="form-status" role="status" data-testid="update-progress">
          {progress}
        </p>
      )}
      {note && (
        <p className="form-status" role="status" data-testid="update-note">
          {note}
        </p>
      )}
      <p className="muted" data-testid="catalog-info">
        {status &&
          (status.catalog.origin === "refreshed" && status.catalog.refreshedAt
            ? `Model catalog: ${status.catalog.models} models, signed and refreshed ${day(status.catalog.refreshedAt)}.`
            : `Model catalog: ${status.catalog.models} models, as shipped with this version.`)}
      </p>
      {errors.map((message) => (
        <p key={message} className="form-error" role="alert" data-testid="update-error">
          {message}
        </p>
      ))}
    </section>
  );
}
