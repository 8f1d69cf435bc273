import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { lastAssistant, renderApp, setupBackend } from "./utils";

const words = (i: number) => Array.from({ length: 10 }, (_, k) => `w${i}${k}`).join(" ");

describe("a conversation that outgrows the context window", () => {
  it("asks before leaving anything out, then drops only what the user allowed", async () => {
    const backend = setupBackend({ modelLoaded: true });
    const c = backend.addConversation("Long talk", [
      ["user", words(0)],
      ["assistant", words(1)],
      ["user", words(2)],
      ["assistant", words(3)],
      ["user", words(4)],
      ["assistant", words(5)],
    ]);
    // Mock counts: 6 × 14 + the system prompt; 100 leaves no room for the reply (25).
    c.params.contextLength = 100;
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByText("Long talk"));
    await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(6));

    // The meter counts the conversation with the loaded model.
    await waitFor(() => expect(screen.getByTestId("context-usage")).toHaveTextContent(/Context \d+ \/ 100/));
    expect(backend.callsOf("context_usage").length).toBeGreaterThan(0);

    await user.type(screen.getByTestId("message-input"), "next question{Enter}");
    const choice = await screen.findByTestId("context-full");
    expect(choice).toHaveTextContent("no longer fits");
    // Nothing was dropped and no reply was written; the question is saved.
    expect(backend.messages.get(c.id)!).toHaveLength(7);
    expect(backend.messages.get(c.id)!.at(-1)!.role).toBe("user");
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();

    await user.click(within(choice).getByRole("button", { name: "Drop the 2 oldest messages and continue" }));
    await waitFor(() => expect(screen.queryByTestId("context-full")).not.toBeInTheDocument());
    expect(backend.callsOf("regenerate").at(-1)!.args).toMatchObject({ conversationId: c.id, allowDropOldest: true });
    await waitFor(() => expect(screen.getByTestId("send-button")).toBeInTheDocument());
    await waitFor(() => expect(within(lastAssistant()).getByTestId("dropped-notice")).toHaveTextContent("2 earlier messages were left out of the model's context."));
    expect(backend.messages.get(c.id)!).toHaveLength(8);
  });

  it("opens the chat settings or starts a new chat from the choice", async () => {
    const backend = setupBackend({ modelLoaded: true });
    const c = backend.addConversation("Tiny window", [["user", words(0)], ["assistant", words(1)]]);
    c.params.contextLength = 30;
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByText("Tiny window"));
    await user.type(screen.getByTestId("message-input"), "more{Enter}");
    const choice = await screen.findByTestId("context-full");
    await user.click(within(choice).getByRole("button", { name: "Open chat settings" }));
    expect(await screen.findByTestId("conversation-settings-toggle")).toHaveAttribute("aria-expanded", "true");

    await user.click(within(choice).getByRole("button", { name: "Start a new chat" }));
    await waitFor(() => expect(screen.queryByTestId("context-full")).not.toBeInTheDocument());
    expect(screen.getByTestId("chat-title")).toHaveTextContent("New chat");
    expect(screen.queryAllByTestId("message")).toHaveLength(0);
  });
});
