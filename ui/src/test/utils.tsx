import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import App from "../App";
import { MockBackend, setTransport, type MockOptions } from "../api";

/** A fresh in-memory backend for one test (no demo data, no token delay by default). */
export function setupBackend(options: MockOptions = {}): MockBackend {
  const backend = new MockBackend({ seed: "empty", tokenDelayMs: 0, ...options });
  setTransport(backend.transport());
  return backend;
}

export async function renderApp(options: MockOptions = {}, backend = setupBackend(options)) {
  const user = userEvent.setup();
  const utils = render(<App />);
  // First load done once the settings arrived (composer enabled, status bar filled).
  await waitFor(() => expect(screen.getByTestId("status-device")).toBeInTheDocument());
  return { user, backend, ...utils };
}

/** Tokens the test pushes one at a time into the mock backend's reply stream. */
export class TokenQueue {
  private waiting: ((r: IteratorResult<string>) => void) | null = null;
  private buffered: IteratorResult<string>[] = [];

  push(text: string) {
    this.deliver({ value: text, done: false });
  }

  end() {
    this.deliver({ value: undefined, done: true });
  }

  private deliver(result: IteratorResult<string>) {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w(result);
    } else {
      this.buffered.push(result);
    }
  }

  /** Use as MockOptions.reply. */
  reply = (): AsyncIterable<string> => ({
    [Symbol.asyncIterator]: () => ({
      next: () =>
        this.buffered.length > 0
          ? Promise.resolve(this.buffered.shift()!)
          : new Promise<IteratorResult<string>>((resolve) => {
              this.waiting = resolve;
            }),
    }),
  });
}

export const lastAssistant = () => {
  const messages = screen.getAllByTestId("message").filter((m) => m.dataset.role === "assistant");
  return messages[messages.length - 1];
};
