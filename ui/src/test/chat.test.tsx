import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { lastAssistant, renderApp, TokenQueue } from "./utils";

describe("chat", () => {
  it("streams tokens into the assistant message as they arrive", async () => {
    const queue = new TokenQueue();
    const { user, backend } = await renderApp({ reply: queue.reply, modelLoaded: true });

    await user.type(screen.getByTestId("message-input"), "Say hello{Enter}");

    const user1 = await screen.findByText("Say hello", { selector: "[data-testid=message-content]" });
    expect(user1.closest("[data-testid=message]")).toHaveAttribute("data-role", "user");
    expect(await screen.findByTestId("stop-button")).toBeInTheDocument();
    expect(screen.queryByTestId("send-button")).not.toBeInTheDocument();
    await waitFor(() => expect(backend.callsOf("send_message")).toHaveLength(1));

    queue.push("Hel");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Hel"));
    expect(lastAssistant()).toHaveAttribute("data-streaming", "true");
    expect(lastAssistant()).not.toHaveTextContent("Hello");

    queue.push("lo");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Hello"));
    expect(lastAssistant()).not.toHaveTextContent("world");

    queue.push(", **world**");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Hello, world"));
    // Markdown is rendered while streaming.
    expect(within(lastAssistant()).getByText("world").tagName).toBe("STRONG");

    queue.end();
    await waitFor(() => expect(screen.getByTestId("send-button")).toBeInTheDocument());
    const done = lastAssistant();
    expect(done).toHaveAttribute("data-streaming", "false");
    expect(done).toHaveTextContent("Hello, world");
    // Final stats: tokens, tok/s, and the context meter is filled.
    expect(within(done).getByTestId("generation-stats")).toHaveTextContent("3 tokens");
    expect(within(done).getByTestId("generation-stats")).toHaveTextContent(/tok\/s/);
    expect(screen.getByTestId("context-usage")).toHaveTextContent(/Context \d+ \/ 4,096/);
    // The conversation exists in the sidebar, titled from the first message.
    const items = await screen.findAllByTestId("conversation-item");
    expect(items).toHaveLength(1);
    expect(items[0]).toHaveTextContent("Say hello");
  });

  it("the stop button calls stop_generation and keeps the partial reply", async () => {
    const queue = new TokenQueue();
    const { user, backend } = await renderApp({ reply: queue.reply, modelLoaded: true });

    await user.type(screen.getByTestId("message-input"), "Tell me a long story{Enter}");
    queue.push("Once upon");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Once upon"));

    await user.click(screen.getByTestId("stop-button"));

    const conversationId = backend.callsOf("send_message")[0].args.conversationId;
    expect(backend.callsOf("stop_generation")).toEqual([
      { command: "stop_generation", args: { conversationId } },
    ]);
    await waitFor(() => expect(screen.getByTestId("send-button")).toBeInTheDocument());
    expect(lastAssistant()).toHaveTextContent("Once upon");
    expect(within(lastAssistant()).getByTestId("generation-stats")).toHaveTextContent("stopped");
    // Saved in the backend too.
    expect(backend.messages.get(conversationId as string)!.at(-1)!.content).toBe("Once upon");
  });

  it("Esc stops the reply being generated", async () => {
    const queue = new TokenQueue();
    const { user, backend } = await renderApp({ reply: queue.reply, modelLoaded: true });

    await user.type(screen.getByTestId("message-input"), "Go on{Enter}");
    queue.push("Working");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Working"));

    await user.keyboard("{Escape}");
    await waitFor(() => expect(backend.callsOf("stop_generation")).toHaveLength(1));
    await waitFor(() => expect(screen.getByTestId("send-button")).toBeInTheDocument());
  });

  it("Enter sends, Shift+Enter inserts a new line", async () => {
    const { user, backend } = await renderApp({ modelLoaded: true, reply: () => ["ok"] });
    const input = screen.getByTestId("message-input") as HTMLTextAreaElement;

    await user.type(input, "line one{Shift>}{Enter}{/Shift}line two");
    expect(input.value).toBe("line one\nline two");
    expect(backend.callsOf("send_message")).toHaveLength(0);
    expect(screen.queryAllByTestId("message")).toHaveLength(0);

    await user.keyboard("{Enter}");
    await waitFor(() => expect(backend.callsOf("send_message")).toHaveLength(1));
    expect(backend.callsOf("send_message")[0].args.content).toBe("line one\nline two");
    expect(input.value).toBe("");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("ok"));
  });

  it("does not send an empty message", async () => {
    const { user, backend } = await renderApp({ modelLoaded: true });
    await user.type(screen.getByTestId("message-input"), "   {Enter}");
    expect(screen.getByTestId("send-button")).toBeDisabled();
    expect(backend.callsOf("send_message")).toHaveLength(0);
  });

  it("regenerate shows a new version of the last reply", async () => {
    let n = 0;
    const { user, backend } = await renderApp({ modelLoaded: true, reply: () => [`Answer ${++n}`] });
    await user.type(screen.getByTestId("message-input"), "Question{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Answer 1"));

    await user.click(await screen.findByTestId("regenerate-button"));
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Answer 2"));
    expect(backend.callsOf("regenerate")).toHaveLength(1);
    expect(screen.getAllByTestId("message").map((m) => m.dataset.role)).toEqual(["user", "assistant"]);
    expect(within(lastAssistant()).getByRole("group", { name: "Version 2 of 2" })).toBeInTheDocument();
  });

  it("edit and resend shows the new version of the question and its reply", async () => {
    const { user, backend } = await renderApp({
      modelLoaded: true,
      reply: ({ prompt }) => [`Re: ${prompt}`],
    });
    await user.type(screen.getByTestId("message-input"), "First{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Re: First"));
    await user.type(screen.getByTestId("message-input"), "Second{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Re: Second"));

    const firstUser = screen.getAllByTestId("message")[0];
    await user.click(within(firstUser).getByTestId("edit-button"));
    const edit = screen.getByTestId("edit-input");
    await user.clear(edit);
    await user.type(edit, "Edited{Enter}");

    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Re: Edited"));
    const call = backend.callsOf("edit_and_resend")[0].args;
    expect(call.content).toBe("Edited");
    expect(call.messageId).toBe(firstUser.dataset.messageId);
    expect(screen.getAllByTestId("message").map((m) => m.textContent)).toEqual([
      expect.stringContaining("Edited"),
      expect.stringContaining("Re: Edited"),
    ]);
  });

  it("loads the model lazily and shows its progress on first message", async () => {
    const queue = new TokenQueue();
    const { user } = await renderApp({ reply: queue.reply, modelLoaded: false, tokenDelayMs: 5 });
    expect(screen.getByTestId("status-model")).toHaveTextContent("loads on first message");
    await user.type(screen.getByTestId("message-input"), "Hi{Enter}");
    await waitFor(() => expect(screen.getByTestId("status-model")).toHaveTextContent(/Loading SmolLM2 135M Instruct… \d+%/));
    queue.push("Hey");
    queue.end();
    await waitFor(() => expect(screen.getByTestId("status-model")).toHaveTextContent("SmolLM2 135M Instruct · Q4_1"));
  });

  it("Ctrl+N starts a new chat", async () => {
    const { user } = await renderApp({ modelLoaded: true, reply: () => ["Hi"] });
    await user.type(screen.getByTestId("message-input"), "Hello{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Hi"));
    expect(screen.getByTestId("chat-title")).toHaveTextContent("Hello");

    fireEvent.keyDown(window, { key: "n", ctrlKey: true });
    await waitFor(() => expect(screen.getByTestId("chat-title")).toHaveTextContent("New chat"));
    expect(screen.queryAllByTestId("message")).toHaveLength(0);
    await waitFor(() => expect(screen.getByTestId("message-input")).toHaveFocus());

    // Back to the old one from the sidebar.
    await user.click(screen.getByTestId("conversation-item"));
    await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(2));
  });

  it("a reply keeps streaming while another conversation is open", async () => {
    const queue = new TokenQueue();
    const { user, backend } = await renderApp({ reply: queue.reply, modelLoaded: true });
    backend.addConversation("Older chat", [["user", "old question"], ["assistant", "old answer"]], 60_000);
    await user.type(screen.getByTestId("message-input"), "Background{Enter}");
    queue.push("part one");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("part one"));

    await act(async () => {
      fireEvent.keyDown(window, { key: "n", ctrlKey: true });
    });
    queue.push(" part two");
    queue.end();
    await user.click(await screen.findByText("Background"));
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("part one part two"));
    await waitFor(() => expect(lastAssistant()).toHaveAttribute("data-streaming", "false"));
  });

  it("shows errors from the backend", async () => {
    const { user, backend } = await renderApp({ modelLoaded: true });
    backend.installed.length = 0;
    backend.loaded = null;
    backend.settings.defaultModelId = null;
    await user.type(screen.getByTestId("message-input"), "Anyone there?{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("No model installed");
  });
});
