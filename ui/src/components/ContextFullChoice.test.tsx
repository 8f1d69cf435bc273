import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ContextFullChoice } from "./ContextFullChoice";
import type { ContextOverflow } from "../api";

const overflow: ContextOverflow = {
  promptTokens: 4100,
  replyReserve: 1024,
  tokensNeeded: 5124,
  contextLength: 4096,
  dropMessages: 6,
};

function setup(o: ContextOverflow = overflow) {
  const handlers = { onDrop: vi.fn(), onNewChat: vi.fn(), onOpenSettings: vi.fn(), onDismiss: vi.fn() };
  render(<ContextFullChoice overflow={o} {...handlers} />);
  return { user: userEvent.setup(), ...handlers };
}

describe("ContextFullChoice", () => {
  it("says the numbers and offers the three choices", async () => {
    const { user, onDrop, onNewChat, onOpenSettings, onDismiss } = setup();
    const box = screen.getByRole("alertdialog");
    expect(box).toHaveTextContent("no longer fits");
    expect(box).toHaveTextContent("5,124 tokens (4,100 for the conversation + 1,024 for the reply)");
    expect(box).toHaveTextContent("holds 4,096");
    expect(box).toHaveTextContent("Nothing was left out");

    await user.click(screen.getByRole("button", { name: "Drop the 6 oldest messages and continue" }));
    expect(onDrop).toHaveBeenCalledTimes(1);
    await user.click(screen.getByRole("button", { name: "Start a new chat" }));
    expect(onNewChat).toHaveBeenCalledTimes(1);
    await user.click(screen.getByRole("button", { name: "Open chat settings" }));
    expect(onOpenSettings).toHaveBeenCalledTimes(1);
    await user.click(screen.getByRole("button", { name: "Not now" }));
    expect(onDismiss).toHaveBeenCalledTimes(1);
    expect(onDrop).toHaveBeenCalledTimes(1);
  });

  it("one message is singular", () => {
    setup({ ...overflow, dropMessages: 1 });
    expect(screen.getByTestId("context-full-drop")).toHaveTextContent("Drop the oldest message and continue");
  });

  it("offers no drop when no drop would help", () => {
    setup({ ...overflow, dropMessages: null });
    expect(screen.getByRole("alertdialog")).toHaveTextContent("The last message is too long");
    expect(screen.queryByTestId("context-full-drop")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Open chat settings" })).toBeInTheDocument();
  });
});
