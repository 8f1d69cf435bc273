/**
 * How commands reach a backend: the Tauri IPC inside the app, or the in-memory mock
 * backend (./mock.ts) in a plain browser and in tests.
 */
import { Channel, invoke } from "@tauri-apps/api/core";
import type { ArgsOf, CommandName, ResultOf, StreamChannel } from "./commands";
import type { AppError } from "./types";

export interface Transport {
  readonly kind: "tauri" | "mock";
  invoke<K extends CommandName>(command: K, args: ArgsOf<K>): Promise<ResultOf<K>>;
  /** A channel to pass as a command argument; `onMessage` gets each event in order. */
  channel<E>(onMessage: (event: E) => void): StreamChannel<E>;
}

/** Thrown by every api function: the backend's AppError as an Error. */
export class ApiError extends Error implements AppError {
  readonly code: string;
  readonly command: string;
  constructor(command: string, error: AppError) {
    super(error.message);
    this.name = "ApiError";
    this.code = error.code;
    this.command = command;
  }
}

export function toAppError(error: unknown): AppError {
  if (error && typeof error === "object") {
    const e = error as Partial<AppError> & { message?: unknown };
    if (typeof e.message === "string") {
      return { code: typeof e.code === "string" ? e.code : "internal", message: e.message };
    }
  }
  if (typeof error === "string") return { code: "internal", message: error };
  return { code: "internal", message: "Unexpected error" };
}

export const tauriTransport: Transport = {
  kind: "tauri",
  invoke: (command, args) => invoke(command, args as Record<string, unknown>),
  channel<E>(onMessage: (event: E) => void) {
    return new Channel<E>(onMessage) as unknown as StreamChannel<E>;
  },
};

export function inTauri(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

let current: Transport | null = null;
let mockFactory: (() => Transport) | null = null;

/** Registers how to build the mock transport (done by ./index.ts, kept lazy for bundling). */
export function registerMockFactory(factory: () => Transport): void {
  mockFactory = factory;
}

export function getTransport(): Transport {
  if (!current) {
    if (inTauri()) current = tauriTransport;
    else if (mockFactory) current = mockFactory();
    else throw new Error("No Tauri runtime and no mock backend registered");
  }
  return current;
}

/** Replace the transport (tests install a fresh mock backend per test). */
export function setTransport(transport: Transport | null): void {
  current = transport;
}
