/**
 * Model downloads, kept outside React so progress survives page switches. Events come
 * through the Channel given to download_model / resume_download.
 */
import { useSyncExternalStore } from "react";
import { api, type DownloadEvent, type DownloadInfo, type DownloadSource, type InstalledModel } from "../api";

type Listener = () => void;

export class DownloadStore {
  private items: DownloadInfo[] = [];
  private listeners = new Set<Listener>();
  private installedListeners = new Set<(model: InstalledModel) => void>();
  /** Last error not tied to a listed download (e.g. download_model rejected). */
  error: string | null = null;

  subscribe = (listener: Listener) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  list = (): DownloadInfo[] => this.items;

  onInstalled(listener: (model: InstalledModel) => void): () => void {
    this.installedListeners.add(listener);
    return () => this.installedListeners.delete(listener);
  }

  reset() {
    this.items = [];
    this.error = null;
    this.emit();
  }

  private emit() {
    this.listeners.forEach((l) => l());
  }

  private upsert(info: DownloadInfo) {
    const exists = this.items.some((d) => d.id === info.id);
    this.items = exists ? this.items.map((d) => (d.id === info.id ? info : d)) : [...this.items, info];
    this.emit();
  }

  private patch(id: string, patch: Partial<DownloadInfo>) {
    this.items = this.items.map((d) => (d.id === id ? { ...d, ...patch } : d));
    this.emit();
  }

  private remove(id: string) {
    this.items = this.items.filter((d) => d.id !== id);
    this.emit();
  }

  private onEvent = (event: DownloadEvent) => {
    const { id } = event.data;
    switch (event.event) {
      case "started":
        this.patch(id, { status: "downloading", totalBytes: event.data.totalBytes, downloadedBytes: event.data.resumedFrom, error: null });
        break;
      case "progress":
        this.patch(id, { status: "downloading", ...event.data });
        break;
      case "retrying":
        this.patch(id, { status: "retrying", error: `Connection lost, retrying (attempt ${event.data.attempt})…` });
        break;
      case "verifying":
        this.patch(id, { status: "verifying", bytesPerSecond: 0, etaSeconds: null });
        break;
      case "paused":
        this.patch(id, { status: "paused", downloadedBytes: event.data.downloadedBytes, bytesPerSecond: 0, etaSeconds: null });
        break;
      case "finished":
        this.remove(id);
        this.installedListeners.forEach((l) => l(event.data.model));
        break;
      case "cancelled":
        this.remove(id);
        break;
      case "error":
        this.patch(id, { status: "failed", error: event.data.message, bytesPerSecond: 0, etaSeconds: null });
        break;
    }
  };

  async start(source: DownloadSource): Promise<void> {
    this.error = null;
    try {
      const info = await api.downloadModel(source, this.onEvent);
      // Events may already have updated it; keep the freshest.
      if (!this.items.some((d) => d.id === info.id)) this.upsert(info);
    } catch (error) {
      this.error = (error as Error).message;
      this.emit();
    }
  }

  async pause(id: string) {
    try {
      await api.pauseDownload(id);
      this.patch(id, { status: "paused", bytesPerSecond: 0, etaSeconds: null });
    } catch (error) {
      this.patch(id, { error: (error as Error).message });
    }
  }

  async resume(id: string) {
    try {
      const info = await api.resumeDownload(id, this.onEvent);
      const current = this.items.find((d) => d.id === id);
      this.upsert({ ...info, status: current?.status === "paused" || current?.status === "failed" ? "downloading" : info.status });
    } catch (error) {
      this.patch(id, { status: "failed", error: (error as Error).message });
    }
  }

  async cancel(id: string) {
    try {
      await api.cancelDownload(id);
      this.remove(id);
    } catch (error) {
      this.patch(id, { error: (error as Error).message });
    }
  }

  /** On start-up: list downloads left by an earlier session and re-attach to running ones. */
  async reattach() {
    try {
      const list = await api.listDownloads();
      this.items = list;
      this.emit();
      for (const d of list) {
        if (d.status === "downloading" || d.status === "queued" || d.status === "verifying" || d.status === "retrying") {
          await api.resumeDownload(d.id, this.onEvent).catch(() => undefined);
        }
      }
    } catch {
      // No downloads to show.
    }
  }
}

export const downloadStore = new DownloadStore();

export function useDownloads(store = downloadStore): DownloadInfo[] {
  return useSyncExternalStore(store.subscribe, store.list, store.list);
}
