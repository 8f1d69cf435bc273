/**
 * A number field that lets people type freely ("0.", "", "-") and only reports valid
 * numbers. Arrow Up/Down step the value. Text-based, so every webview behaves the same.
 */
import { useEffect, useRef, useState, type InputHTMLAttributes } from "react";

interface Props extends Omit<InputHTMLAttributes<HTMLInputElement>, "value" | "onChange" | "type" | "min" | "max" | "step"> {
  value: number | null;
  onChange: (value: number | null) => void;
  min?: number;
  max?: number;
  step?: number;
  integer?: boolean;
  /** Empty text means null (e.g. "automatic"); otherwise empty is just not reported. */
  allowEmpty?: boolean;
}

function decimals(step: number): number {
  const s = String(step);
  return s.includes(".") ? s.length - s.indexOf(".") - 1 : 0;
}

export function NumberInput({
  value,
  onChange,
  min = -Infinity,
  max = Infinity,
  step = 1,
  integer = false,
  allowEmpty = false,
  onBlur,
  onKeyDown,
  ...rest
}: Props) {
  const [text, setText] = useState(value === null ? "" : String(value));
  const focused = useRef(false);

  // Follow outside changes (slider, reset) unless the user is typing here.
  useEffect(() => {
    if (!focused.current) setText(value === null ? "" : String(value));
  }, [value]);

  const parse = (raw: string): number | null | undefined => {
    const t = raw.trim();
    if (t === "") return allowEmpty ? null : undefined;
    if (!/^-?(\d+\.?\d*|\.\d+)$/.test(t)) return undefined;
    const n = Number(t);
    if (!Number.isFinite(n) || n < min || n > max) return undefined;
    if (integer && !Number.isInteger(n)) return undefined;
    return n;
  };

  const commit = (raw: string) => {
    setText(raw);
    const n = parse(raw);
    if (n !== undefined) onChange(n);
  };

  return (
    <input
      {...rest}
      type="text"
      inputMode={integer ? "numeric" : "decimal"}
      autoComplete="off"
      value={text}
      aria-invalid={parse(text) === undefined ? true : undefined}
      onFocus={() => {
        focused.current = true;
      }}
      onChange={(e) => commit(e.target.value)}
      onBlur={(e) => {
        focused.current = false;
        if (parse(text) === undefined) setText(value === null ? "" : String(value));
        onBlur?.(e);
      }}
      onKeyDown={(e) => {
        if (e.key === "ArrowUp" || e.key === "ArrowDown") {
          e.preventDefault();
          const base = parse(text) ?? value ?? (Number.isFinite(min) ? min : 0);
          const next = Math.min(max, Math.max(min, base + (e.key === "ArrowUp" ? step : -step)));
          const rounded = Number(next.toFixed(decimals(step)));
          setText(String(rounded));
          onChange(rounded);
        }
        onKeyDown?.(e);
      }}
    />
  );
}
