import { forwardRef, useEffect, useImperativeHandle, useLayoutEffect, useRef, useState, type KeyboardEvent } from "react";
import { SendIcon, StopIcon } from "./Icons";

export interface ComposerHandle {
  focus: () => void;
  setText: (text: string) => void;
}

interface Props {
  generating: boolean;
  stopping: boolean;
  disabled?: boolean;
  placeholder?: string;
  /** Return false to keep the text (e.g. the send failed before it started). */
  onSend: (text: string) => boolean | void | Promise<boolean | void>;
  onStop: () => void;
  /** The text as it is typed (for the context meter). */
  onTextChange?: (text: string) => void;
  children?: React.ReactNode;
}

const MAX_HEIGHT = 240;

/** Message box: Enter sends, Shift+Enter adds a line, Esc stops (handled by the app). */
export const Composer = forwardRef<ComposerHandle, Props>(function Composer(
  { generating, stopping, disabled, placeholder, onSend, onStop, onTextChange, children },
  ref,
) {
  const [text, setText] = useState("");
  const area = useRef<HTMLTextAreaElement>(null);

  useImperativeHandle(ref, () => ({
    focus: () => area.current?.focus(),
    setText: (value: string) => {
      setText(value);
      requestAnimationFrame?.(() => {
        const el = area.current;
        if (el) {
          el.focus();
          el.setSelectionRange(value.length, value.length);
        }
      });
    },
  }));

  // Grow with the text up to MAX_HEIGHT, then scroll.
  useLayoutEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, MAX_HEIGHT)}px`;
  }, [text]);

  useEffect(() => {
    area.current?.focus();
  }, []);

  useEffect(() => {
    onTextChange?.(text);
  }, [text, onTextChange]);

  const canSend = !generating && !disabled && text.trim().length > 0;

  const send = async () => {
    if (!canSend) return;
    const value = text;
    setText("");
    const ok = await onSend(value);
    if (ok === false) setText((current) => current || value);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing && !event.altKey) {
      event.preventDefault();
      void send();
    }
  };

  return (
    <form
      className="composer"
      aria-label="Message composer"
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
    >
      <div className={`composer-box ${generating ? "is-generating" : ""}`}>
        <textarea
          ref={area}
          id="message-input"
          data-testid="message-input"
          aria-label="Message"
          aria-keyshortcuts="Shift+Escape"
          aria-describedby="composer-hint"
          rows={1}
          placeholder={placeholder ?? "Message Woolly…"}
          value={text}
          disabled={disabled}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
        />
        {generating ? (
          <button
            type="button"
            className="composer-button stop"
            data-testid="stop-button"
            aria-label="Stop generating"
            aria-keyshortcuts="Escape"
            title="Stop (Esc)"
            disabled={stopping}
            onClick={onStop}
          >
            <StopIcon size={16} />
          </button>
        ) : (
          <button
            type="submit"
            className="composer-button send"
            data-testid="send-button"
            aria-label="Send message"
            title="Send (Enter)"
            disabled={!canSend}
          >
            <SendIcon size={18} />
          </button>
        )}
      </div>
      <div className="composer-footer">
        <span id="composer-hint" className="composer-hint">
          <kbd className="kbd">Enter</kbd> to send · <kbd className="kbd">Shift</kbd>+<kbd className="kbd">Enter</kbd> new line
          {generating && (
            <>
              {" "}
              · <kbd className="kbd">Esc</kbd> to stop
            </>
          )}
        </span>
        {children}
      </div>
    </form>
  );
});
