/**
 * Automated accessibility checks (axe-core) of each view. jsdom has no layout, so colour
 * contrast is checked in the real window instead (src-tauri/tests/e2e: axe-core on the chat,
 * Models and Settings views, light and dark); everything else
 * (labels, roles, names, landmarks, ARIA validity) is checked here.
 */
import axe from "axe-core";
import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { lastAssistant, renderApp } from "./utils";

async function violations() {
  const result = await axe.run(document.body, {
    rules: { "color-contrast": { enabled: false } },
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

describe("accessibility", () => {
  it("chat view with messages, code and the settings panel", async () => {
    const { user } = await renderApp({
      modelLoaded: true,
      reply: () => [
        "Here:\n\n```rust\nfn main() {}\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nWith $e^{i\\pi}+1=0$ and\n\n$$\n\\sum_{k=1}^n k = \\frac{n(n+1)}{2}\n$$",
      ],
    });
    await user.type(screen.getByTestId("message-input"), "Show code{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveAttribute("data-streaming", "false"));
    await user.click(screen.getByTestId("conversation-settings-toggle"));
    expect(await violations()).toEqual([]);
  });

  it("empty chat", async () => {
    await renderApp();
    expect(await violations()).toEqual([]);
  });

  it("settings page", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("nav-settings"));
    await screen.findByRole("heading", { name: "Settings" });
    expect(await violations()).toEqual([]);
  });

  it("models page", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("nav-models"));
    await waitFor(() => expect(screen.getAllByTestId("catalog-entry").length).toBeGreaterThan(0));
    expect(await violations()).toEqual([]);
  });

  it("models page: Hugging Face results and a repository's files", async () => {
    const { user } = await renderApp();
    await user.click(screen.getByTestId("nav-models"));
    await user.type(screen.getByTestId("hub-search-input"), "qwen{Enter}");
    await waitFor(() => expect(screen.getAllByTestId("hub-result").length).toBeGreaterThan(0));
    expect(await violations()).toEqual([]);
    await user.click(screen.getAllByTestId("hub-open-repo")[0]);
    await waitFor(() => expect(screen.getAllByTestId("hub-file").length).toBeGreaterThan(0));
    expect(await violations()).toEqual([]);
  });

  it("keyboard shortcuts overlay", async () => {
    const { user } = await renderApp();
    await user.keyboard("{Control>}/{/Control}");
    await screen.findByRole("dialog", { name: "Keyboard shortcuts" });
    expect(await violations()).toEqual([]);
  });

  it("chat with attached files, their chips and the meter by part", async () => {
    const { user } = await renderApp({
      modelLoaded: true,
      attachFiles: [{ name: "notes.md", text: "Some notes \uFFFD here" }, { name: "report.pdf", text: "Text" }],
      reply: () => ["Done."],
    });
    await user.type(screen.getByTestId("message-input"), "First{Enter}");
    await waitFor(() => expect(lastAssistant()).toHaveAttribute("data-streaming", "false"));
    await user.click(screen.getByRole("button", { name: "Attach files" }));
    await waitFor(() => expect(screen.getByTestId("context-parts")).toHaveTextContent(/Files [1-9]/));
    expect(await violations()).toEqual([]);
  });
});
