import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, type Conversation, type InstalledModel, type Provider, type Settings, type SystemInfo } from "./api";
import { AppContext, type AppContextValue, type DraftSettings, type View } from "./state/AppContext";
import { chatStore } from "./state/chatStore";
import { downloadStore } from "./state/downloadStore";
import { applyTheme } from "./lib/theme";
import { Sidebar } from "./views/Sidebar";
import { ChatView } from "./views/ChatView";
import { SettingsPage } from "./views/SettingsPage";
import { ModelsPage } from "./views/ModelsPage";
import { StatusBar } from "./views/StatusBar";
import { ShortcutsHelp } from "./components/ShortcutsHelp";
import { matchShortcut } from "./lib/shortcuts";

const SYSTEM_INFO_POLL_MS = 5000;

function draftFrom(settings: Settings | null): DraftSettings | null {
  if (!settings) return null;
  return {
    systemPrompt: settings.defaultSystemPrompt,
    params: { ...settings.defaultParams },
    modelId: null,
  };
}

export default function App() {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [activeId, setActiveId] = useState<string | null>(null);
  const [draft, setDraft] = useState<DraftSettings | null>(null);
  const [installed, setInstalled] = useState<InstalledModel[]>([]);
  const [providers, setProviders] = useState<Provider[]>([]);
  const [systemInfo, setSystemInfo] = useState<SystemInfo | null>(null);
  /** Start-up notices the user closed. */
  const [dismissed, setDismissed] = useState<string[]>([]);
  const [view, setView] = useState<View>("chat");
  const [loadError, setLoadError] = useState<string | null>(null);
  const composerFocus = useRef<(() => void) | null>(null);

  const refreshConversations = useCallback(async () => {
    try {
      setConversations(await api.listConversations());
    } catch (error) {
      setLoadError((error as Error).message);
    }
  }, []);
  const refreshInstalled = useCallback(async () => {
    try {
      setInstalled(await api.installedModels());
    } catch {
      // shown on the Models page when it loads
    }
  }, []);
  const refreshProviders = useCallback(async () => {
    try {
      setProviders(await api.listProviders());
    } catch {
      // shown in Settings → Remote providers when it loads
    }
  }, []);
  const refreshSystemInfo = useCallback(async () => {
    try {
      setSystemInfo(await api.systemInfo());
    } catch {
      setSystemInfo(null);
    }
  }, []);

  // First load.
  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const s = await api.getSettings();
        if (cancelled) return;
        setSettings(s);
        setDraft(draftFrom(s));
      } catch (error) {
        if (!cancelled) setLoadError((error as Error).message);
      }
    })();
    void refreshConversations();
    void refreshInstalled();
    void refreshProviders();
    void refreshSystemInfo();
    void downloadStore.reattach();
    return () => {
      cancelled = true;
    };
  }, [refreshConversations, refreshInstalled, refreshProviders, refreshSystemInfo]);

  // Theme follows the settings (and the OS for "system").
  useEffect(() => applyTheme(settings?.theme ?? "system"), [settings?.theme]);

  // Status bar data.
  useEffect(() => {
    const timer = setInterval(() => void refreshSystemInfo(), SYSTEM_INFO_POLL_MS);
    return () => clearInterval(timer);
  }, [refreshSystemInfo]);

  // After every turn: titles, ordering and the lazily loaded model may have changed.
  useEffect(
    () =>
      chatStore.onTurnEnd(() => {
        void refreshConversations();
        void refreshSystemInfo();
      }),
    [refreshConversations, refreshSystemInfo],
  );

  // The first message renames a "New chat": show it as soon as the turn starts.
  useEffect(() => chatStore.onTurnStarted(() => void refreshConversations()), [refreshConversations]);

  // A finished download changes the installed list.
  useEffect(() => downloadStore.onInstalled(() => void refreshInstalled()), [refreshInstalled]);

  const focusComposer = useCallback(() => {
    // After React commits the view that holds the composer.
    setTimeout(() => composerFocus.current?.(), 0);
  }, []);

  const newChat = useCallback(() => {
    setActiveId(null);
    setDraft(draftFrom(settings));
    setView("chat");
    focusComposer();
  }, [settings, focusComposer]);

  const selectConversation = useCallback(
    (id: string | null) => {
      setActiveId(id);
      setView("chat");
      if (id) void chatStore.load(id);
      focusComposer();
    },
    [focusComposer],
  );

  const materializeDraft = useCallback(async () => {
    const created = await api.createConversation(null);
    let conversation = created;
    const d = draft;
    if (
      d &&
      (d.systemPrompt !== created.systemPrompt ||
        d.modelId !== created.modelId ||
        JSON.stringify(d.params) !== JSON.stringify(created.params))
    ) {
      conversation = await api.updateConversation(created.id, d);
    }
    setConversations((list) => [conversation, ...list.filter((c) => c.id !== conversation.id)]);
    setActiveId(conversation.id);
    return conversation;
  }, [draft]);

  const replaceConversation = useCallback((conversation: Conversation) => {
    setConversations((list) => list.map((c) => (c.id === conversation.id ? conversation : c)));
  }, []);

  const removeConversation = useCallback(
    (id: string) => {
      setConversations((list) => list.filter((c) => c.id !== id));
      chatStore.forget(id);
      if (activeId === id) {
        setActiveId(null);
        setDraft(draftFrom(settings));
      }
    },
    [activeId, settings],
  );

  const applySettings = useCallback((s: Settings) => {
    setSettings(s);
    void refreshSystemInfo();
  }, [refreshSystemInfo]);

  // Keyboard shortcuts (lib/shortcuts.ts; listed by the help overlay).
  const [helpOpen, setHelpOpen] = useState(false);
  useEffect(() => {
    const onKeyDown = (event: KeyboardEvent) => {
      if (event.defaultPrevented) return;
      const id = matchShortcut(event);
      if (!id) return;
      if (helpOpen && id !== "help") return; // the dialog is modal
      switch (id) {
        case "newChat":
          event.preventDefault();
          newChat();
          return;
        case "search": {
          event.preventDefault();
          const search = document.getElementById("conversation-search");
          if (search instanceof HTMLInputElement) {
            search.focus();
            search.select();
          }
          return;
        }
        case "focusComposer":
          event.preventDefault();
          setView("chat");
          focusComposer();
          return;
        case "stop":
          if (view === "chat" && activeId && chatStore.isGenerating(activeId)) {
            event.preventDefault();
            void chatStore.stop(activeId);
          }
          return;
        case "nextChat":
        case "previousChat": {
          if (conversations.length === 0) return;
          event.preventDefault();
          const at = conversations.findIndex((c) => c.id === activeId);
          const step = id === "nextChat" ? 1 : -1;
          const next = at < 0 ? (step > 0 ? 0 : conversations.length - 1) : at + step;
          if (next >= 0 && next < conversations.length) selectConversation(conversations[next].id);
          return;
        }
        case "help":
          event.preventDefault();
          setHelpOpen((open) => !open);
          return;
      }
    };
    window.addEventListener("keydown", onKeyDown);
    return () => window.removeEventListener("keydown", onKeyDown);
  }, [newChat, view, activeId, conversations, selectConversation, focusComposer, helpOpen]);

  const value = useMemo<AppContextValue>(
    () => ({
      settings,
      applySettings,
      conversations,
      refreshConversations,
      activeId,
      selectConversation,
      newChat,
      draft,
      setDraft,
      materializeDraft,
      replaceConversation,
      removeConversation,
      installed,
      refreshInstalled,
      providers,
      refreshProviders,
      systemInfo,
      refreshSystemInfo,
      view,
      setView,
      focusComposer,
      registerComposer: (focus) => {
        composerFocus.current = focus;
      },
      showShortcuts: () => setHelpOpen(true),
    }),
    [
      settings,
      applySettings,
      conversations,
      refreshConversations,
      activeId,
      selectConversation,
      newChat,
      draft,
      materializeDraft,
      replaceConversation,
      removeConversation,
      installed,
      refreshInstalled,
      providers,
      refreshProviders,
      systemInfo,
      refreshSystemInfo,
      view,
      focusComposer,
    ],
  );

  return (
    <AppContext.Provider value={value}>
      <a className="skip-link" href={view === "chat" ? "#message-input" : "#main"}>
        {view === "chat" ? "Skip to message input" : "Skip to content"}
      </a>
      <div className="app-shell">
        <Sidebar />
        <main className="main" id="main" tabIndex={-1}>
          {loadError && (
            <div className="banner banner-error" role="alert">
              Couldn’t reach the Woolly engine: {loadError}
            </div>
          )}
          {systemInfo?.notices
            .filter((n) => !dismissed.includes(n))
            .map((n) => (
              <div key={n} className="banner banner-notice" role="status">
                <span>{n}</span>
                <button type="button" className="button button-ghost button-small" onClick={() => setDismissed((d) => [...d, n])}>
                  Dismiss
                </button>
              </div>
            ))}
          {view === "chat" && <ChatView key={activeId ?? "draft"} />}
          {view === "models" && <ModelsPage />}
          {view === "settings" && <SettingsPage />}
        </main>
        <StatusBar />
      </div>
      {helpOpen && <ShortcutsHelp onClose={() => setHelpOpen(false)} />}
    </AppContext.Provider>
  );
}
