/**
 * The keyboard shortcuts overlay: a modal dialog (role="dialog", aria-modal, labelled by
 * its heading) that takes focus when it opens, keeps Tab inside itself, closes on Escape
 * or its Close button, and gives focus back to where it was.
 */
import { useEffect, useRef, type KeyboardEvent } from "react";
import { SHORTCUTS } from "../lib/shortcuts";
import { XIcon } from "./Icons";

export function ShortcutsHelp({ onClose }: { onClose: () => void }) {
  const dialog = useRef<HTMLDivElement>(null);
  const close = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    close.current?.focus();
    return () => before?.focus();
  }, []);

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      onClose();
      return;
    }
    if (event.key === "Tab") {
      const focusable = [...(dialog.current?.querySelectorAll<HTMLElement>("button, [tabindex='0']") ?? [])];
      if (focusable.length === 0) return;
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (event.shiftKey && document.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && document.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    }
  };

  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        ref={dialog}
        className="modal shortcuts-help"
        role="dialog"
        aria-modal="true"
        aria-labelledby="shortcuts-help-title"
        data-testid="shortcuts-help"
        onKeyDown={onKeyDown}
      >
        <div className="modal-header">
          <h2 id="shortcuts-help-title">Keyboard shortcuts</h2>
          <button
            ref={close}
            type="button"
            className="icon-button"
            aria-label="Close keyboard shortcuts"
            data-testid="shortcuts-help-close"
            onClick={onClose}
          >
            <XIcon />
          </button>
        </div>
        <table className="shortcuts-table">
          <caption className="visually-hidden">Shortcuts and what they do</caption>
          <thead>
            <tr>
              <th scope="col">Action</th>
              <th scope="col">Keys</th>
            </tr>
          </thead>
          <tbody>
            {SHORTCUTS.map((s) => (
              <tr key={s.id} data-testid="shortcut-row">
                <td>{s.description}</td>
                <td>
                  <kbd className="kbd">{s.label}</kbd>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted small">Tab and Shift+Tab move between controls; Enter sends a message, Shift+Enter starts a new line.</p>
      </div>
    </div>
  );
}
