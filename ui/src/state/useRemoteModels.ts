/** The models of every remote provider, listed when a view that offers them mounts. */
import { useEffect, useState } from "react";
import { api, type Provider, type ProviderModel } from "../api";

export type RemoteModels = Record<string, { models: ProviderModel[] } | { error: string }>;

export function useRemoteModels(providers: Provider[]): RemoteModels {
  const [lists, setLists] = useState<RemoteModels>({});
  const key = providers.map((p) => `${p.id}|${p.baseUrl}|${p.hasApiKey}`).join(",");
  useEffect(() => {
    let live = true;
    for (const p of providers) {
      api.providerModels(p.id).then(
        (models) => live && setLists((l) => ({ ...l, [p.id]: { models } })),
        (e: Error) => live && setLists((l) => ({ ...l, [p.id]: { error: e.message } })),
      );
    }
    return () => {
      live = false;
    };
    // Re-list when a provider is added, moved or gets a key.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return lists;
}
