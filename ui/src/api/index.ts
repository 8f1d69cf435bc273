/**
 * The UI's single door to the Rust side. Import from "src/api" only.
 * Inside Tauri (window.__TAURI_INTERNALS__ present) commands go through `invoke`;
 * elsewhere (browser dev server, Vitest) through the in-memory mock backend.
 */
import { MockBackend } from "./mock";
import { registerMockFactory } from "./transport";

registerMockFactory(() => {
  const backend = new MockBackend();
  if (typeof window !== "undefined") (window as unknown as { __woollyMock?: MockBackend }).__woollyMock = backend;
  return backend.transport();
});

export * as api from "./client";
export * from "./types";
export type { Commands, CommandName, ArgsOf, ResultOf, StreamChannel } from "./commands";
export { COMMAND_NAMES } from "./commands";
export { ApiError, getTransport, setTransport, inTauri, type Transport } from "./transport";
export { MockBackend, MockChannel, DEFAULT_PARAMS, DEFAULT_SETTINGS, type MockOptions } from "./mock";
export type { MockFile } from "./mockAttachments";
