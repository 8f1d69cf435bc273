import { useApp } from "../state/AppContext";
import { chatStore, useChatStoreVersion } from "../state/chatStore";
import { formatBytes } from "../lib/format";
import { BoltIcon, CpuIcon, CubeIcon, KeyboardIcon, MemoryIcon } from "../components/Icons";
import { shortcut } from "../lib/shortcuts";

export function StatusBar() {
  const { systemInfo, installed, settings, setView, showShortcuts } = useApp();
  useChatStoreVersion();
  const streams = chatStore.activeStreams();
  const loadingStream = streams.find(([, s]) => s.loading)?.[1];

  let modelText = "No model loaded";
  let modelState = systemInfo?.modelState ?? "unloaded";
  if (loadingStream?.loading) {
    modelState = "loading";
    const m = installed.find((x) => x.id === loadingStream.loading!.modelId);
    modelText = `Loading ${m?.name ?? "model"}… ${Math.round(loadingStream.loading.progress * 100)}%`;
  } else if (systemInfo?.model && systemInfo.modelState === "loaded") {
    modelText = `${systemInfo.model.name} · ${systemInfo.model.quantization}`;
  } else if (systemInfo?.modelState === "loading") {
    modelText = `Loading ${systemInfo.model?.name ?? "model"}…`;
  } else if (systemInfo?.modelState === "error") {
    modelText = `Model failed to load${systemInfo.modelError ? `: ${systemInfo.modelError}` : ""}`;
  } else {
    const def = installed.find((m) => m.id === settings?.defaultModelId) ?? installed[0];
    if (def) modelText = `${def.name} (loads on first message)`;
  }

  const generating = streams.find(([, s]) => s.tokens > 0 && s.firstTokenAt !== null)?.[1];
  const rate =
    generating && generating.firstTokenAt !== null
      ? generating.tokens / Math.max(0.001, (performance.now() - generating.firstTokenAt) / 1000)
      : null;

  const mem = systemInfo?.memory;
  return (
    <footer className="status-bar" data-testid="status-bar" aria-label="Status">
      <button
        type="button"
        className={`status-item status-model state-${modelState}`}
        data-testid="status-model"
        onClick={() => setView("models")}
        title="Manage models"
      >
        <span className="state-dot" aria-hidden="true" />
        <CubeIcon size={14} />
        <span>{modelText}</span>
      </button>
      {rate !== null && (
        <span className="status-item" data-testid="status-speed">
          <BoltIcon size={14} />
          {rate.toFixed(1)} tok/s
        </span>
      )}
      <span className="status-spacer" />
      {systemInfo && (
        <span className="status-item" data-testid="status-device"
          title={systemInfo.device.reason ? `${systemInfo.device.name}: ${systemInfo.device.reason}` : systemInfo.device.name}
        >
          <CpuIcon size={14} />
          {systemInfo.device.kind.toUpperCase()} · {systemInfo.device.name}
          {systemInfo.device.kind === "cpu" ? ` · ${systemInfo.threads} threads` : ""}
        </span>
      )}
      {mem && (
        <span
          className="status-item"
          data-testid="status-memory"
          title={`Woolly uses ${formatBytes(mem.processBytes)}; ${formatBytes(mem.availableBytes)} of ${formatBytes(mem.totalBytes)} free`}
        >
          <MemoryIcon size={14} />
          {formatBytes(mem.processBytes)} used · {formatBytes(mem.availableBytes)} free
          {mem.gpuTotalBytes !== null && mem.gpuAvailableBytes !== null
            ? ` · GPU ${formatBytes(mem.gpuAvailableBytes)} free`
            : ""}
        </span>
      )}
      <button
        type="button"
        className="status-item status-shortcuts"
        data-testid="show-shortcuts"
        aria-keyshortcuts={shortcut("help").aria}
        title={`Keyboard shortcuts (${shortcut("help").label})`}
        onClick={showShortcuts}
      >
        <KeyboardIcon size={14} />
        <span>Shortcuts</span>
      </button>
    </footer>
  );
}
