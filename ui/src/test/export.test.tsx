import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderApp, setupBackend } from "./utils";

function seeded() {
  const backend = setupBackend({ modelLoaded: true });
  backend.addConversation("Sorting", [
    ["user", "How do I sort?"],
    ["assistant", "```rust\nv.sort();\n```"],
  ]);
  return backend;
}

describe("export and import", () => {
  it("exports one conversation from its row, as JSON or Markdown", async () => {
    const backend = seeded();
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByRole("button", { name: "Export Sorting" }));
    const menu = screen.getByRole("group", { name: "Export Sorting" });
    await user.click(within(menu).getByRole("button", { name: "JSON" }));
    expect(await screen.findByTestId("export-status")).toHaveTextContent("Exported to /home/user/Documents/Sorting.json");
    const file = JSON.parse(backend.exported[0].text);
    expect(file).toMatchObject({ format: "woolly.conversations", version: 2 });
    expect(file.conversations[0].messages.map((m: { role: string }) => m.role)).toEqual(["user", "assistant"]);

    await user.click(screen.getByRole("button", { name: "Export Sorting" }));
    await user.click(screen.getByRole("button", { name: "Markdown" }));
    await waitFor(() => expect(backend.exported).toHaveLength(2));
    expect(backend.exported[1].text).toContain("```rust\nv.sort();\n```");
    expect(backend.callsOf("export_conversation").map((c) => c.args.format)).toEqual(["json", "markdown"]);
  });

  it("a cancelled save dialog says nothing", async () => {
    const backend = seeded();
    backend.options.saveDir = null;
    const { user } = await renderApp({}, backend);
    await user.click(await screen.findByRole("button", { name: "Export Sorting" }));
    await user.click(screen.getByRole("button", { name: "Markdown" }));
    await waitFor(() => expect(backend.callsOf("export_conversation")).toHaveLength(1));
    expect(screen.queryByTestId("export-status")).not.toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });

  it("exports everything and imports it back from Settings; a bad file changes nothing", async () => {
    const backend = seeded();
    const { user } = await renderApp({}, backend);
    await user.click(screen.getByTestId("nav-settings"));
    const section = await screen.findByTestId("conversations-section");
    await user.click(within(section).getByRole("button", { name: "Export all as JSON…" }));
    await waitFor(() => expect(within(section).getByRole("status")).toHaveTextContent("Exported to /home/user/Documents/Woolly conversations.json"));

    backend.options.importText = backend.exported[0].text.slice(0, 40);
    await user.click(within(section).getByRole("button", { name: "Import from JSON…" }));
    expect(await within(section).findByRole("alert")).toHaveTextContent("Nothing was imported");
    expect(backend.conversations.size).toBe(1);

    backend.options.importText = backend.exported[0].text;
    await user.click(within(section).getByRole("button", { name: "Import from JSON…" }));
    await waitFor(() => expect(within(section).getByRole("status")).toHaveTextContent("Imported 1 conversation"));
    expect(backend.conversations.size).toBe(2);
    await waitFor(() => expect(screen.getAllByTestId("conversation-item")).toHaveLength(2));
    const copy = [...backend.conversations.values()].at(-1)!;
    expect(backend.messages.get(copy.id)!.map((m) => [m.role, m.content])).toEqual([
      ["user", "How do I sort?"],
      ["assistant", "```rust\nv.sort();\n```"],
    ]);
  });
});
