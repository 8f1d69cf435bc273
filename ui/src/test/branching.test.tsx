/**
 * Edit and branch: an edit or a regenerated reply is a new version; the `‹ n/m ›`
 * switcher (accessible names "Previous version", "Next version", "Version 2 of 3") moves
 * between versions, each with its own continuation; search opens the branch holding a hit.
 */
import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { Message } from "../api";
import { lastAssistant, renderApp } from "./utils";

const texts = () => screen.getAllByTestId("message-content").map((m) => m.textContent);
const nthMessage = (i: number) => screen.getAllByTestId("message")[i];

/** A mock reply that echoes the prompt and records the history it was sent. */
function echo() {
  const sent: string[][] = [];
  const reply = ({ prompt, messages }: { prompt: string; messages: Message[] }) => {
    sent.push([...messages.map((m) => m.content), prompt]);
    return [`Re: ${prompt}`];
  };
  return { sent, reply };
}

describe("edit and branch", () => {
  it("an edit is version 2 of 2; the switcher goes back to the old thread and forth", async () => {
    const { sent, reply } = echo();
    const { user, backend } = await renderApp({ modelLoaded: true, reply });
    await user.type(screen.getByTestId("message-input"), "First{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Re: First"));
    await user.type(screen.getByTestId("message-input"), "Second{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Re: Second"));
    expect(screen.queryByTestId("version-switcher")).not.toBeInTheDocument();

    await user.click(within(nthMessage(0)).getByRole("button", { name: "Edit message" }));
    const edit = screen.getByRole("textbox", { name: "Edit message" });
    await user.clear(edit);
    await user.type(edit, "Edited");
    await user.click(screen.getByRole("button", { name: "Save" }));

    await waitFor(() => expect(texts()).toEqual(["Edited", "Re: Edited"]));
    // The reply was sent only the path to the edit, not the old thread.
    expect(sent.at(-1)).toEqual(["Edited"]);
    const switcher = within(nthMessage(0)).getByRole("group", { name: "Version 2 of 2" });
    expect(switcher).toHaveTextContent("2/2");
    expect(within(switcher).getByRole("button", { name: "Next version" })).toBeDisabled();

    const editedId = nthMessage(0).dataset.messageId;
    await user.click(within(switcher).getByRole("button", { name: "Previous version" }));
    await waitFor(() => expect(texts()).toEqual(["First", "Re: First", "Second", "Re: Second"]));
    expect(within(nthMessage(0)).getByRole("group", { name: "Version 1 of 2" })).toBeInTheDocument();
    expect(backend.callsOf("switch_branch").at(-1)!.args).toMatchObject({ messageId: editedId, version: 1 });
    // The choice is the backend's: a reload shows the same thread.
    const conversationId = backend.callsOf("send_message")[0].args.conversationId as string;
    expect(backend.thread(conversationId).map((m) => m.content)).toEqual(["First", "Re: First", "Second", "Re: Second"]);

    await user.click(within(nthMessage(0)).getByRole("button", { name: "Next version" }));
    await waitFor(() => expect(texts()).toEqual(["Edited", "Re: Edited"]));
  });

  it("the inline editor is keyboard driven: Escape cancels, Enter saves, Cancel does nothing", async () => {
    const { reply } = echo();
    const { user, backend } = await renderApp({ modelLoaded: true, reply });
    await user.type(screen.getByTestId("message-input"), "Question{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Re: Question"));

    await user.click(within(nthMessage(0)).getByRole("button", { name: "Edit message" }));
    const edit = screen.getByRole("textbox", { name: "Edit message" });
    expect(edit).toHaveFocus();
    await user.type(edit, " changed{Escape}");
    expect(screen.queryByRole("textbox", { name: "Edit message" })).not.toBeInTheDocument();
    expect(texts()).toEqual(["Question", "Re: Question"]);

    await user.click(within(nthMessage(0)).getByRole("button", { name: "Edit message" }));
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    expect(backend.callsOf("edit_and_resend")).toHaveLength(0);

    await user.click(within(nthMessage(0)).getByRole("button", { name: "Edit message" }));
    await user.type(screen.getByRole("textbox", { name: "Edit message" }), " again{Enter}");
    await waitFor(() => expect(texts()).toEqual(["Question again", "Re: Question again"]));
    expect(backend.callsOf("edit_and_resend")).toHaveLength(1);
    expect(within(nthMessage(0)).getByRole("group", { name: "Version 2 of 2" })).toBeInTheDocument();
  });

  it("regenerating any reply adds a version; the earlier one stays reachable", async () => {
    let n = 0;
    const { user, backend } = await renderApp({ modelLoaded: true, reply: ({ prompt }) => [`${prompt} ${++n}`] });
    await user.type(screen.getByTestId("message-input"), "One{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("One 1"));
    await user.type(screen.getByTestId("message-input"), "Two{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Two 2"));

    // The first reply, not the last: its new version starts a new branch there.
    await user.click(within(nthMessage(1)).getByRole("button", { name: "Regenerate reply" }));
    await waitFor(() => expect(texts()).toEqual(["One", "One 3"]));
    expect(backend.callsOf("regenerate").at(-1)!.args.messageId).toBeDefined();
    const switcher = within(nthMessage(1)).getByRole("group", { name: "Version 2 of 2" });

    await user.click(within(switcher).getByRole("button", { name: "Previous version" }));
    await waitFor(() => expect(texts()).toEqual(["One", "One 1", "Two", "Two 2"]));
    expect(within(nthMessage(1)).getByRole("group", { name: "Version 1 of 2" })).toBeInTheDocument();

    // The last reply again: version 2 of 2 there, the old one at 1/2.
    await user.click(within(nthMessage(3)).getByRole("button", { name: "Regenerate reply" }));
    await waitFor(() => expect(texts()).toEqual(["One", "One 1", "Two", "Two 4"]));
    expect(within(nthMessage(3)).getByRole("group", { name: "Version 2 of 2" })).toBeInTheDocument();
  });

  it("a search hit in an older version opens the branch that holds it", async () => {
    const { reply } = echo();
    const { user } = await renderApp({ modelLoaded: true, reply });
    await user.type(screen.getByTestId("message-input"), "Start{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Re: Start"));
    await user.type(screen.getByTestId("message-input"), "Pelican facts{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveTextContent("Re: Pelican facts"));
    await user.click(within(nthMessage(2)).getByRole("button", { name: "Edit message" }));
    const edit = screen.getByRole("textbox", { name: "Edit message" });
    await user.clear(edit);
    await user.type(edit, "Heron facts{Enter}");
    await waitFor(() => expect(texts()).toEqual(["Start", "Re: Start", "Heron facts", "Re: Heron facts"]));

    await user.type(screen.getByTestId("conversation-search"), "pelican");
    await waitFor(() => expect(screen.getByTestId("conversation-item")).toHaveTextContent("Pelican facts"));
    await user.click(screen.getByTestId("conversation-item"));
    await waitFor(() => expect(texts()).toEqual(["Start", "Re: Start", "Pelican facts", "Re: Pelican facts"]));
    expect(within(nthMessage(2)).getByRole("group", { name: "Version 1 of 2" })).toBeInTheDocument();
  });
});
