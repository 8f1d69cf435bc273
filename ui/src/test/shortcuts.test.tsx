/** Keyboard use without a mouse: the global shortcuts and the help overlay that lists them. */
import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { SHORTCUTS } from "../lib/shortcuts";
import { renderApp, setupBackend, TokenQueue, lastAssistant } from "./utils";

function seeded() {
  const backend = setupBackend({ modelLoaded: true });
  backend.addConversation("First", [["user", "q1"], ["assistant", "a1"]], 1000);
  backend.addConversation("Second", [["user", "q2"], ["assistant", "a2"]], 2000);
  backend.addConversation("Third", [["user", "q3"], ["assistant", "a3"]], 3000);
  return backend;
}

describe("keyboard shortcuts", () => {
  it("Ctrl+K focuses the conversation search", async () => {
    const { user } = await renderApp();
    await user.keyboard("{Control>}k{/Control}");
    expect(screen.getByTestId("conversation-search")).toHaveFocus();
    await user.keyboard("abc");
    expect(screen.getByTestId("conversation-search")).toHaveValue("abc");
  });

  it("Shift+Esc focuses the message input, from another page too", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("nav-settings"));
    await screen.findByRole("heading", { name: "Settings" });
    await user.keyboard("{Shift>}{Escape}{/Shift}");
    await waitFor(() => expect(screen.getByTestId("message-input")).toHaveFocus());
  });

  it("Alt+↓ and Alt+↑ switch to the next and previous conversation", async () => {
    const { user } = await renderApp({}, seeded());
    await waitFor(() => expect(screen.getAllByTestId("conversation-item")).toHaveLength(3));
    // From a new chat, ↓ goes to the first (newest) conversation.
    await user.keyboard("{Alt>}{ArrowDown}{/Alt}");
    await waitFor(() => expect(screen.getByTestId("chat-title")).toHaveTextContent("First"));
    await user.keyboard("{Alt>}{ArrowDown}{/Alt}");
    await waitFor(() => expect(screen.getByTestId("chat-title")).toHaveTextContent("Second"));
    await waitFor(() => expect(screen.getAllByTestId("message")[0]).toHaveTextContent("q2"));
    await user.keyboard("{Alt>}{ArrowDown}{/Alt}{Alt>}{ArrowDown}{/Alt}");
    // Stays on the last one.
    await waitFor(() => expect(screen.getByTestId("chat-title")).toHaveTextContent("Third"));
    await user.keyboard("{Alt>}{ArrowUp}{/Alt}");
    await waitFor(() => expect(screen.getByTestId("chat-title")).toHaveTextContent("Second"));
    // The message input has focus after switching, ready to type.
    await waitFor(() => expect(screen.getByTestId("message-input")).toHaveFocus());
  });

  it("Ctrl+N starts a new chat and Esc stops a reply from the keyboard only", async () => {
    const queue = new TokenQueue();
    const { user, backend } = await renderApp({ reply: queue.reply, modelLoaded: true });
    await user.keyboard("{Shift>}{Escape}{/Shift}");
    await user.keyboard("Hello{Enter}");
    queue.push("Partial");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Partial"));
    await user.keyboard("{Escape}");
    await waitFor(() => expect(backend.callsOf("stop_generation")).toHaveLength(1));
    await user.keyboard("{Control>}n{/Control}");
    await waitFor(() => expect(screen.getByTestId("chat-title")).toHaveTextContent("New chat"));
    await waitFor(() => expect(screen.getByTestId("message-input")).toHaveFocus());
  });

  it("? and Ctrl+/ open the help overlay, a modal dialog listing every shortcut", async () => {
    const { user } = await renderApp();
    const opener = screen.getByTestId("nav-models");
    opener.focus();
    await user.keyboard("?");
    const dialog = await screen.findByRole("dialog", { name: "Keyboard shortcuts" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    const rows = within(dialog).getAllByTestId("shortcut-row");
    expect(rows).toHaveLength(SHORTCUTS.length);
    expect(dialog).toHaveTextContent("Ctrl+K");
    expect(dialog).toHaveTextContent("Next conversation");
    // Focus moves into the dialog and stays there.
    const close = within(dialog).getByRole("button", { name: "Close keyboard shortcuts" });
    expect(close).toHaveFocus();
    await user.tab();
    expect(close).toHaveFocus();
    // Other shortcuts wait while it is open.
    await user.keyboard("{Control>}k{/Control}");
    expect(screen.getByTestId("conversation-search")).not.toHaveFocus();
    // Esc closes it and focus returns.
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(opener).toHaveFocus();

    await user.keyboard("{Control>}/{/Control}");
    expect(await screen.findByRole("dialog", { name: "Keyboard shortcuts" })).toBeInTheDocument();
    await user.keyboard("{Control>}/{/Control}");
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("? typed into the message input is text, not the overlay", async () => {
    const { user } = await renderApp();
    await user.type(screen.getByTestId("message-input"), "Why?");
    expect(screen.getByTestId("message-input")).toHaveValue("Why?");
    expect(screen.queryByRole("dialog")).toBeNull();
  });

  it("the status bar's Shortcuts button opens the overlay and its Close button closes it", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByRole("button", { name: "Shortcuts" }));
    const dialog = await screen.findByRole("dialog", { name: "Keyboard shortcuts" });
    await user.click(within(dialog).getByRole("button", { name: "Close keyboard shortcuts" }));
    expect(screen.queryByRole("dialog")).toBeNull();
  });
});
