/** Model ids of remote providers' models: `remote:<provider id>:<model id>` (see api/README.md). */
import type { Provider } from "../api";

const PREFIX = "remote:";

export function remoteModelId(providerId: string, model: string): string {
  return `${PREFIX}${providerId}:${model}`;
}

export function parseRemoteModelId(id: string | null | undefined): { providerId: string; model: string } | null {
  if (!id?.startsWith(PREFIX)) return null;
  const rest = id.slice(PREFIX.length);
  const colon = rest.indexOf(":");
  if (colon <= 0 || colon === rest.length - 1) return null;
  return { providerId: rest.slice(0, colon), model: rest.slice(colon + 1) };
}

/** "gpt-4o-mini · My provider", or null for a local model id. */
export function remoteLabel(id: string | null | undefined, providers: Provider[]): string | null {
  const remote = parseRemoteModelId(id);
  if (!remote) return null;
  const provider = providers.find((p) => p.id === remote.providerId);
  return `${remote.model} · ${provider?.name ?? "removed provider"}`;
}
