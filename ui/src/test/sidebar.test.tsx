import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { MockBackend } from "../api";
import { renderApp, setupBackend } from "./utils";

function seed(backend: MockBackend) {
  backend.addConversation("Rust iterator tips", [["user", "sum of squares"], ["assistant", "use iter().map().sum()"]], 1000);
  backend.addConversation("Trip packing list", [["user", "what to bring"], ["assistant", "A compass and water"]], 2000);
  backend.addConversation("Dinner ideas", [["user", "quick pasta?"], ["assistant", "Aglio e olio"]], 3000);
}

const titles = () => screen.queryAllByTestId("conversation-item").map((el) => el.textContent);

describe("conversation sidebar", () => {
  it("lists conversations newest first", async () => {
    const backend = setupBackend();
    seed(backend);
    await renderApp({}, backend);
    await waitFor(() => expect(titles()).toEqual(["Rust iterator tips", "Trip packing list", "Dinner ideas"]));
  });

  it("search filters by title and by message text", async () => {
    const backend = setupBackend();
    seed(backend);
    const { user } = await renderApp({}, backend);
    await waitFor(() => expect(titles()).toHaveLength(3));
    const search = screen.getByTestId("conversation-search");

    await user.type(search, "rust");
    await waitFor(() => expect(titles()).toEqual(["Rust iterator tips"]));

    await user.clear(search);
    await user.type(search, "compass");
    // Only a full-text (message) match: comes from search_conversations, with a snippet.
    await waitFor(() => expect(titles()).toEqual([expect.stringContaining("Trip packing list")]));
    expect(screen.getByTestId("conversation-item")).toHaveTextContent("A compass and water");
    expect(backend.callsOf("search_conversations").at(-1)!.args).toEqual({ query: "compass" });

    await user.clear(search);
    await user.type(search, "zebra");
    await waitFor(() => expect(titles()).toEqual([]));
    expect(screen.getByText(/No conversations match/)).toBeInTheDocument();

    await user.clear(search);
    await waitFor(() => expect(titles()).toHaveLength(3));
  });

  it("opens a conversation and shows its messages", async () => {
    const backend = setupBackend();
    seed(backend);
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByText("Dinner ideas"));
    await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(2));
    expect(screen.getByTestId("chat-title")).toHaveTextContent("Dinner ideas");
    expect(screen.getByRole("button", { name: "Dinner ideas" })).toHaveAttribute("aria-current", "page");
  });

  it("renames a conversation inline", async () => {
    const backend = setupBackend();
    seed(backend);
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByRole("button", { name: "Rename Dinner ideas" }));
    const input = screen.getByTestId("rename-input");
    await user.clear(input);
    await user.type(input, "Pasta night{Enter}");
    await waitFor(() => expect(titles()).toContain("Pasta night"));
    const renames = backend.callsOf("rename_conversation");
    expect(renames).toHaveLength(1);
    expect(renames[0].args.title).toBe("Pasta night");
  });

  it("Escape cancels a rename", async () => {
    const backend = setupBackend();
    seed(backend);
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByRole("button", { name: "Rename Dinner ideas" }));
    await user.type(screen.getByTestId("rename-input"), " changed{Escape}");
    await waitFor(() => expect(titles()).toContain("Dinner ideas"));
    expect(backend.callsOf("rename_conversation")).toHaveLength(0);
  });

  it("deletes a conversation after confirmation", async () => {
    const backend = setupBackend();
    seed(backend);
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByText("Trip packing list"));
    await user.click(screen.getByRole("button", { name: "Delete Trip packing list" }));
    const confirm = screen.getByRole("group", { name: "Delete Trip packing list?" });
    await user.click(within(confirm).getByTestId("confirm-delete"));
    await waitFor(() => expect(titles()).toEqual(["Rust iterator tips", "Dinner ideas"]));
    expect(backend.conversations.size).toBe(2);
    // The deleted chat was open: we are back on a new chat.
    expect(screen.getByTestId("chat-title")).toHaveTextContent("New chat");
  });

  it("the new chat button opens an empty chat with the input focused", async () => {
    const backend = setupBackend();
    seed(backend);
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByText("Dinner ideas"));
    await user.click(screen.getByTestId("new-chat"));
    expect(screen.getByTestId("chat-title")).toHaveTextContent("New chat");
    expect(screen.queryAllByTestId("message")).toHaveLength(0);
    await waitFor(() => expect(screen.getByTestId("message-input")).toHaveFocus());
    // Nothing is created until the first message.
    expect(backend.callsOf("create_conversation")).toHaveLength(0);
  });
});
