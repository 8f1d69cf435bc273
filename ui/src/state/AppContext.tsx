/** App-wide data the views share: settings, conversations, installed models, providers, system info. */
import { createContext, useContext } from "react";
import type { Conversation, InstalledModel, Provider, SamplingParams, Settings, SystemInfo } from "../api";

export type View = "chat" | "models" | "settings";

/** Settings of the chat being drafted before its conversation exists. */
export interface DraftSettings {
  systemPrompt: string;
  params: SamplingParams;
  modelId: string | null;
}

export interface AppContextValue {
  settings: Settings | null;
  applySettings: (settings: Settings) => void;
  conversations: Conversation[];
  refreshConversations: () => Promise<void>;
  activeId: string | null;
  selectConversation: (id: string | null) => void;
  newChat: () => void;
  draft: DraftSettings | null;
  setDraft: (draft: DraftSettings) => void;
  /** Creates the conversation for the draft (with its settings) and makes it active. */
  materializeDraft: () => Promise<Conversation>;
  replaceConversation: (conversation: Conversation) => void;
  removeConversation: (id: string) => void;
  installed: InstalledModel[];
  refreshInstalled: () => Promise<void>;
  /** Remote providers (Settings → Remote providers); their models are listed on demand. */
  providers: Provider[];
  refreshProviders: () => Promise<void>;
  systemInfo: SystemInfo | null;
  refreshSystemInfo: () => Promise<void>;
  view: View;
  setView: (view: View) => void;
  /** Focus the chat input (after new chat, select…). */
  focusComposer: () => void;
  registerComposer: (focus: (() => void) | null) => void;
  /** Opens the keyboard shortcuts overlay. */
  showShortcuts: () => void;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error("useApp outside <App>");
  return value;
}
