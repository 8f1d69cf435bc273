/** Files in a chat: chips with token counts, the meter by part, sending, drops, and
 *  removing a file as the way out of a full context window. */
import { act, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { lastAssistant, renderApp, setupBackend } from "./utils";

const NOTES = { name: "notes.md", text: "# Plan\n\nBake bread, then eat it with butter and jam." };
const REPORT = { name: "report.pdf", text: "The secret word is marmalade." };

describe("files in a chat", () => {
  it("attaches files from the dialog as chips with token counts and sends them with the message", async () => {
    const backend = setupBackend({ modelLoaded: true, attachFiles: [NOTES, REPORT], reply: () => ["Marmalade."] });
    const c = backend.addConversation("Files", [["user", "hi"], ["assistant", "hello"]]);
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByText("Files"));
    await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(2));

    await user.click(screen.getByRole("button", { name: "Attach files" }));
    const chips = await screen.findByRole("list", { name: "Files to send" });
    const items = within(chips).getAllByTestId("attachment-chip");
    expect(items.map((i) => within(i).getByText(/notes\.md|report\.pdf/).textContent)).toEqual(["notes.md", "report.pdf"]);
    // Token counts come from context_usage (the loaded model's tokenizer), by attachment.
    await waitFor(() => expect(items[0]).toHaveTextContent(/\d+ tokens/));
    expect(items[1]).toHaveTextContent(/PDF · \d+ tokens/);
    const usage = backend.callsOf("context_usage").at(-1)!;
    expect(usage.args.attachmentIds).toHaveLength(2);

    // The meter shows every part.
    const parts = screen.getByTestId("context-parts");
    expect(parts).toHaveTextContent(/System \d+/);
    expect(parts).toHaveTextContent(/History \d+/);
    expect(parts).toHaveTextContent(/Files [1-9]\d*/);
    expect(parts).toHaveTextContent(/Reply \d+/);

    await user.type(screen.getByTestId("message-input"), "What is the secret word?{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Marmalade."));
    expect(backend.callsOf("send_message").at(-1)!.args).toMatchObject({
      conversationId: c.id,
      content: "What is the secret word?",
      attachmentIds: usage.args.attachmentIds,
    });
    // The composer is empty again; the files show with the message they went with.
    expect(screen.queryByRole("list", { name: "Files to send" })).toBeNull();
    const sent = await screen.findByRole("list", { name: "Files sent with this message" });
    expect(within(sent).getAllByTestId("attachment-chip")).toHaveLength(2);
  });

  it("takes dropped files, says which it refused, and removes a chip", async () => {
    const { user, backend } = await renderApp({ modelLoaded: true });
    await waitFor(() => expect(backend.callsOf("watch_drops")).toHaveLength(1));
    act(() => {
      backend.dropFiles([NOTES, { name: "photo.jpg", text: "", error: "Not a text file: attach text, Markdown, source code or PDF files." }]);
    });
    const chips = await screen.findByRole("list", { name: "Files to send" });
    expect(within(chips).getByText("notes.md")).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("photo.jpg: Not a text file");

    await user.click(within(chips).getByRole("button", { name: "Remove notes.md" }));
    expect(screen.queryByRole("list", { name: "Files to send" })).toBeNull();
    expect(backend.callsOf("remove_attachment").at(-1)!.args).toMatchObject({ attachmentId: expect.stringMatching(/^att-/) });
  });

  it("offers to remove a file that makes the conversation too long", async () => {
    const long = { name: "long.txt", text: Array.from({ length: 80 }, (_, i) => `word${i}`).join(" ") };
    const backend = setupBackend({ modelLoaded: true, attachFiles: [long], reply: () => ["Short answer."] });
    const c = backend.addConversation("Small window", [["user", "hi"], ["assistant", "hello"]]);
    c.params.contextLength = 60;
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByText("Small window"));
    await user.click(screen.getByRole("button", { name: "Attach files" }));
    await screen.findByRole("list", { name: "Files to send" });
    await user.type(screen.getByTestId("message-input"), "Summarize{Enter}");

    const choice = await screen.findByTestId("context-full");
    const remove = within(choice).getByRole("button", { name: /^Remove long\.txt \(\d+ tokens\) and continue$/ });
    await user.click(remove);
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Short answer."));
    expect(backend.callsOf("remove_attachment")).toHaveLength(1);
    expect(backend.callsOf("regenerate").at(-1)!.args).toMatchObject({ conversationId: c.id });
    expect(screen.queryByTestId("context-full")).toBeNull();
  });

  it("an edited message keeps its files; each version shows its own", async () => {
    const backend = setupBackend({ modelLoaded: true, attachFiles: [NOTES], reply: () => ["Done."] });
    const c = backend.addConversation("Edit with files", []);
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByText("Edit with files"));
    await user.click(screen.getByRole("button", { name: "Attach files" }));
    await screen.findByRole("list", { name: "Files to send" });
    await user.type(screen.getByTestId("message-input"), "Read this{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Done."));
    await screen.findByRole("list", { name: "Files sent with this message" });

    const first = screen.getAllByTestId("message")[0];
    await user.click(within(first).getByRole("button", { name: "Edit message" }));
    const edit = screen.getByRole("textbox", { name: "Edit message" });
    await user.clear(edit);
    await user.type(edit, "Read this again");
    await user.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() =>
      expect(screen.getAllByTestId("message-content").map((m) => m.textContent)).toEqual(["Read this again", "Done."]),
    );
    // As the app: the new version got a copy of the file (a new id, the same name).
    const saved = await backend.invoke("list_attachments", { conversationId: c.id });
    expect(saved.map((a) => a.name)).toEqual(["notes.md", "notes.md"]);
    expect(saved[0].id).not.toEqual(saved[1].id);
    const sent = await screen.findByRole("list", { name: "Files sent with this message" });
    expect(within(sent).getByText("notes.md")).toBeInTheDocument();

    await user.click(within(screen.getAllByTestId("message")[0]).getByRole("button", { name: "Previous version" }));
    await waitFor(() =>
      expect(screen.getAllByTestId("message-content").map((m) => m.textContent)).toEqual(["Read this", "Done."]),
    );
    expect(within(await screen.findByRole("list", { name: "Files sent with this message" })).getByText("notes.md")).toBeInTheDocument();
  });
});
