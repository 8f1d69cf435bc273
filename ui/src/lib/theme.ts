import type { Theme } from "../api";

/** Sets data-theme="light|dark" on <html>; "system" follows the OS and its changes. */
export function applyTheme(theme: Theme): () => void {
  const root = document.documentElement;
  const media = typeof window.matchMedia === "function" ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const apply = () => {
    const dark = theme === "dark" || (theme === "system" && Boolean(media?.matches));
    root.dataset.theme = dark ? "dark" : "light";
  };
  apply();
  if (theme !== "system" || !media) return () => undefined;
  media.addEventListener?.("change", apply);
  return () => media.removeEventListener?.("change", apply);
}
