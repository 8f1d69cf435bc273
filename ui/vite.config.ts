/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import type { Plugin } from "vite";

/**
 * KaTeX's stylesheet offers each font as woff2, woff and ttf; every webview the app runs
 * in reads woff2, so only those are bundled (about 300 kB instead of 1.2 MB). All of them
 * are local files: the app loads nothing from the network.
 */
function katexWoff2Only(): Plugin {
  return {
    name: "katex-woff2-only",
    enforce: "pre",
    transform(code, id) {
      if (!/katex(\.min)?\.css$/.test(id.split("?")[0])) return null;
      return code.replace(/,\s*url\(fonts\/[\w-]+\.(?:woff|ttf)\)\s*format\("(?:woff|truetype)"\)/g, "");
    },
  };
}

// Tauri serves `dist/` in the app and points its devUrl at this dev server
// (http://localhost:1420) for `tauri dev`. In a plain browser the UI runs on the
// in-memory mock backend (src/api/mock.ts).
export default defineConfig({
  plugins: [react(), katexWoff2Only()],
  clearScreen: false,
  server: {
    port: 1420,
    strictPort: true,
    watch: { ignored: ["**/src-tauri/**"] },
  },
  envPrefix: ["VITE_", "TAURI_ENV_"],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // WebKitGTK (Linux), WKWebView (macOS) and WebView2 (Windows) all handle ES2021.
    target: ["es2021", "chrome105", "safari15"],
    sourcemap: false,
    // Fonts stay files: the CSP's font-src is 'self' (no data: URLs).
    assetsInlineLimit: (file) => (/\.(woff2?|ttf)$/.test(file) ? false : undefined),
    // One bundle, read from the app's own files (no network): KaTeX brings it to ~950 kB.
    chunkSizeWarningLimit: 1100,
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    restoreMocks: true,
    testTimeout: 20000,
  },
});
