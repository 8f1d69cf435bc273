/**
 * The app's keyboard shortcuts: one list drives the global key handler (App.tsx), the
 * help overlay (ShortcutsHelp) and the `aria-keyshortcuts` of the controls they stand for.
 */
export const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);

export type ShortcutId = "newChat" | "search" | "focusComposer" | "stop" | "nextChat" | "previousChat" | "help";

export interface Shortcut {
  id: ShortcutId;
  /** What the user presses, as shown (e.g. "Ctrl+K", "⌘K"). */
  label: string;
  /** The ARIA form (aria-keyshortcuts), e.g. "Control+K". */
  aria: string;
  description: string;
}

const mod = isMac ? "⌘" : "Ctrl+";
const modAria = isMac ? "Meta" : "Control";
const alt = isMac ? "⌥" : "Alt+";

export const SHORTCUTS: Shortcut[] = [
  { id: "newChat", label: `${mod}N`, aria: `${modAria}+N`, description: "New chat" },
  { id: "search", label: `${mod}K`, aria: `${modAria}+K`, description: "Search conversations" },
  { id: "focusComposer", label: isMac ? "⇧Esc" : "Shift+Esc", aria: "Shift+Escape", description: "Focus the message input" },
  { id: "stop", label: "Esc", aria: "Escape", description: "Stop generating the reply" },
  { id: "nextChat", label: `${alt}↓`, aria: "Alt+ArrowDown", description: "Next conversation" },
  { id: "previousChat", label: `${alt}↑`, aria: "Alt+ArrowUp", description: "Previous conversation" },
  { id: "help", label: `${mod}/ or ?`, aria: `${modAria}+/ ?`, description: "Show keyboard shortcuts" },
];

export function shortcut(id: ShortcutId): Shortcut {
  return SHORTCUTS.find((s) => s.id === id)!;
}

/** True while the user types into a field (where plain keys such as "?" are text). */
function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !["button", "checkbox", "radio", "range", "submit", "reset", "file", "color"].includes(target.type);
  }
  return false;
}

/** The shortcut a key press stands for, if any. */
export function matchShortcut(event: KeyboardEvent): ShortcutId | null {
  const primary = isMac ? event.metaKey && !event.ctrlKey : event.ctrlKey && !event.metaKey;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (primary && !event.altKey) {
    if (!event.shiftKey && key === "n") return "newChat";
    if (!event.shiftKey && key === "k") return "search";
    if (key === "/") return "help";
    return null;
  }
  if (event.ctrlKey || event.metaKey) return null;
  if (event.altKey && !event.shiftKey) {
    // Alt+↓ opens a <select>'s list: leave it to the select.
    if (event.target instanceof HTMLSelectElement) return null;
    if (key === "ArrowDown") return "nextChat";
    if (key === "ArrowUp") return "previousChat";
    return null;
  }
  if (event.altKey) return null;
  if (key === "Escape") return event.shiftKey ? "focusComposer" : "stop";
  if (key === "?" && !typing(event.target)) return "help";
  return null;
}
