import { useEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { api, type Conversation, type ExportFormat, type SearchHit } from "../api";
import { useApp } from "../state/AppContext";
import { chatStore, useChatStoreVersion } from "../state/chatStore";
import { dateGroup, type DateGroup } from "../lib/format";
import { shortcut } from "../lib/shortcuts";
import {
  ChatIcon,
  CheckIcon,
  CubeIcon,
  DownloadIcon,
  GearIcon,
  PencilIcon,
  PlusIcon,
  SearchIcon,
  TrashIcon,
  WoollyMark,
  XIcon,
} from "../components/Icons";

const SEARCH_DEBOUNCE_MS = 150;
export const NEW_CHAT_SHORTCUT = shortcut("newChat").label;

interface Row {
  conversation: Conversation;
  snippet: string | null;
  /** The matching message, in any branch: opening the hit shows its branch. */
  messageId?: string | null;
}

export function Sidebar() {
  const { conversations, activeId, selectConversation, newChat, view, setView } = useApp();
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [searchError, setSearchError] = useState<string | null>(null);
  useChatStoreVersion(); // re-render the "generating" dots

  // Full-text search in the backend, debounced; titles filter instantly meanwhile.
  useEffect(() => {
    const q = query.trim();
    setHits(null);
    if (!q) {
      setHits(null);
      setSearchError(null);
      return;
    }
    let cancelled = false;
    const timer = setTimeout(async () => {
      try {
        const result = await api.searchConversations(q);
        if (!cancelled) {
          setHits(result);
          setSearchError(null);
        }
      } catch (error) {
        if (!cancelled) setSearchError((error as Error).message);
      }
    }, SEARCH_DEBOUNCE_MS);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [query]);

  const searching = query.trim().length > 0;
  const rows: Row[] = useMemo(() => {
    if (!searching) return conversations.map((conversation) => ({ conversation, snippet: null }));
    if (hits) {
      // Keep the freshest copy of each conversation (renames since the search ran).
      return hits.map((h) => ({
        conversation: conversations.find((c) => c.id === h.conversation.id) ?? h.conversation,
        snippet: h.snippet,
        messageId: h.messageId ?? null,
      }));
    }
    const q = query.trim().toLowerCase();
    return conversations
      .filter((c) => c.title.toLowerCase().includes(q))
      .map((conversation) => ({ conversation, snippet: null }));
  }, [searching, hits, conversations, query]);

  const groups = useMemo(() => {
    if (searching) return rows.length > 0 ? [{ label: "Results", rows }] : [];
    const out: { label: DateGroup; rows: Row[] }[] = [];
    for (const row of rows) {
      const label = dateGroup(row.conversation.updatedAt);
      const group = out.find((g) => g.label === label);
      if (group) group.rows.push(row);
      else out.push({ label, rows: [row] });
    }
    return out;
  }, [rows, searching]);

  return (
    <nav className="sidebar" aria-label="Conversations and pages">
      <div className="sidebar-top">
        <div className="brand">
          <WoollyMark />
          <span className="brand-name">Woolly</span>
        </div>
        <button
          type="button"
          className="button button-primary new-chat"
          data-testid="new-chat"
          onClick={newChat}
          aria-keyshortcuts={shortcut("newChat").aria}
          title={`New chat (${NEW_CHAT_SHORTCUT})`}
        >
          <PlusIcon />
          <span>New chat</span>
          <kbd className="kbd">{NEW_CHAT_SHORTCUT}</kbd>
        </button>
        <div className="search">
          <SearchIcon className="search-icon" />
          <input
            type="search"
            id="conversation-search"
            data-testid="conversation-search"
            aria-keyshortcuts={shortcut("search").aria}
            aria-label="Search conversations"
            placeholder="Search conversations"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Escape" && query) {
                e.preventDefault();
                setQuery("");
              }
            }}
          />
        </div>
      </div>

      <div className="conversation-scroll">
        {groups.length === 0 && (
          <p className="sidebar-empty" role="status">
            {searching ? `No conversations match “${query.trim()}”.` : "No conversations yet."}
          </p>
        )}
        {searchError && (
          <p className="sidebar-empty" role="alert">
            Search failed: {searchError}
          </p>
        )}
        {groups.map((group) => (
          <section key={group.label} aria-label={group.label} className="conversation-group">
            <h2 className="group-label">{group.label}</h2>
            <ul className="conversation-list" data-testid="conversation-list">
              {group.rows.map(({ conversation, snippet, messageId }) => (
                <ConversationRow
                  key={conversation.id}
                  conversation={conversation}
                  snippet={snippet}
                  active={view === "chat" && conversation.id === activeId}
                  onSelect={() => {
                    selectConversation(conversation.id);
                    if (messageId) void chatStore.showMessage(conversation.id, messageId);
                  }}
                />
              ))}
            </ul>
          </section>
        ))}
      </div>

      <div className="sidebar-bottom">
        <button
          type="button"
          className={`nav-button ${view === "chat" ? "active" : ""}`}
          data-testid="nav-chat"
          aria-current={view === "chat" ? "page" : undefined}
          onClick={() => setView("chat")}
        >
          <ChatIcon /> Chat
        </button>
        <button
          type="button"
          className={`nav-button ${view === "models" ? "active" : ""}`}
          data-testid="nav-models"
          aria-current={view === "models" ? "page" : undefined}
          onClick={() => setView("models")}
        >
          <CubeIcon /> Models
        </button>
        <button
          type="button"
          className={`nav-button ${view === "settings" ? "active" : ""}`}
          data-testid="nav-settings"
          aria-current={view === "settings" ? "page" : undefined}
          onClick={() => setView("settings")}
        >
          <GearIcon /> Settings
        </button>
      </div>
    </nav>
  );
}

function ConversationRow({
  conversation,
  snippet,
  active,
  onSelect,
}: {
  conversation: Conversation;
  snippet: string | null;
  active: boolean;
  onSelect: () => void;
}) {
  const { replaceConversation, removeConversation } = useApp();
  const [mode, setMode] = useState<"view" | "rename" | "delete" | "export">("view");
  const [saved, setSaved] = useState<string | null>(null);
  const [title, setTitle] = useState(conversation.title);
  const [error, setError] = useState<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  /** Set once a rename was saved or cancelled, so the blur that follows does nothing. */
  const renameDone = useRef(false);
  const generating = chatStore.isGenerating(conversation.id);

  useEffect(() => {
    if (mode === "rename") {
      renameDone.current = false;
      inputRef.current?.select();
    }
  }, [mode]);

  const saveRename = async (event?: FormEvent) => {
    event?.preventDefault();
    if (renameDone.current) return;
    renameDone.current = true;
    const next = title.trim();
    if (!next || next === conversation.title) {
      setMode("view");
      setTitle(conversation.title);
      return;
    }
    try {
      replaceConversation(await api.renameConversation(conversation.id, next));
      setMode("view");
      setError(null);
    } catch (e) {
      renameDone.current = false;
      setError((e as Error).message);
    }
  };

  const confirmDelete = async () => {
    try {
      await api.deleteConversation(conversation.id);
      removeConversation(conversation.id);
    } catch (e) {
      setError((e as Error).message);
      setMode("view");
    }
  };

  if (mode === "rename") {
    return (
      <li className="conversation-row editing">
        <form onSubmit={saveRename} className="rename-form">
          <input
            ref={inputRef}
            data-testid="rename-input"
            aria-label="Conversation title"
            value={title}
            onChange={(e) => setTitle(e.target.value)}
            onBlur={() => void saveRename()}
            onKeyDown={(e: KeyboardEvent<HTMLInputElement>) => {
              if (e.key === "Escape") {
                e.preventDefault();
                renameDone.current = true;
                setTitle(conversation.title);
                setMode("view");
              }
            }}
          />
        </form>
        {error && <span className="row-error" role="alert">{error}</span>}
      </li>
    );
  }

  const exportAs = async (format: ExportFormat) => {
    setError(null);
    try {
      const path = await api.exportConversation(conversation.id, format);
      setSaved(path ? `Exported to ${path}` : null);
      setMode("view");
    } catch (e) {
      setError((e as Error).message);
      setMode("view");
    }
  };

  if (mode === "export") {
    return (
      <li className="conversation-row confirming" role="group" aria-label={`Export ${conversation.title}`}>
        <span className="confirm-text">Export “{conversation.title}” as</span>
        <div className="confirm-actions">
          <button type="button" className="button button-small" data-testid="export-markdown" onClick={() => void exportAs("markdown")} autoFocus>
            Markdown
          </button>
          <button type="button" className="button button-small" data-testid="export-json" onClick={() => void exportAs("json")}>
            JSON
          </button>
          <button type="button" className="button button-ghost button-small" onClick={() => setMode("view")}>
            <XIcon size={14} /> Cancel
          </button>
        </div>
      </li>
    );
  }

  if (mode === "delete") {
    return (
      <li className="conversation-row confirming" role="group" aria-label={`Delete ${conversation.title}?`}>
        <span className="confirm-text">Delete “{conversation.title}”?</span>
        <div className="confirm-actions">
          <button type="button" className="button button-danger button-small" data-testid="confirm-delete" onClick={confirmDelete} autoFocus>
            <CheckIcon size={14} /> Delete
          </button>
          <button type="button" className="button button-ghost button-small" onClick={() => setMode("view")}>
            <XIcon size={14} /> Cancel
          </button>
        </div>
      </li>
    );
  }

  return (
    <li className={`conversation-row ${active ? "active" : ""}`}>
      <button
        type="button"
        className="conversation-item"
        data-testid="conversation-item"
        data-conversation-id={conversation.id}
        aria-current={active ? "page" : undefined}
        onClick={onSelect}
        title={conversation.title}
      >
        <span className="conversation-title">
          {generating && <span className="generating-dot" aria-hidden="true" />}
          {conversation.title}
          {generating && <span className="visually-hidden"> (generating)</span>}
        </span>
        {snippet && <span className="conversation-snippet">{snippet}</span>}
      </button>
      <div className="row-actions">
        <button
          type="button"
          className="icon-button"
          aria-label={`Export ${conversation.title}`}
          title="Export"
          data-testid="export-conversation"
          onClick={() => {
            setSaved(null);
            setMode("export");
          }}
        >
          <DownloadIcon size={15} />
        </button>
        <button
          type="button"
          className="icon-button"
          aria-label={`Rename ${conversation.title}`}
          title="Rename"
          data-testid="rename-conversation"
          onClick={() => {
            setTitle(conversation.title);
            setMode("rename");
          }}
        >
          <PencilIcon size={15} />
        </button>
        <button
          type="button"
          className="icon-button"
          aria-label={`Delete ${conversation.title}`}
          title="Delete"
          data-testid="delete-conversation"
          onClick={() => setMode("delete")}
        >
          <TrashIcon size={15} />
        </button>
      </div>
      {error && <span className="row-error" role="alert">{error}</span>}
      {saved && (
        <span className="row-status" role="status" data-testid="export-status">
          {saved}
        </span>
      )}
    </li>
  );
}
