import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { DEFAULT_PARAMS } from "../api";
import { renderApp } from "./utils";

const GIB = 1024 ** 3;

describe("settings page", () => {
  it("saves the values the user entered", async () => {
    const { user, backend } = await renderApp();
    await user.click(screen.getByTestId("nav-settings"));
    await screen.findByRole("heading", { name: "Settings" });

    await user.click(within(screen.getByTestId("theme")).getByLabelText("Dark"));
    await user.click(within(screen.getByTestId("device")).getByLabelText(/^CPU/));
    await user.type(screen.getByLabelText("CPU threads"), "6");
    await user.type(screen.getByLabelText("Memory limit (GB)"), "8");
    await user.type(screen.getByLabelText("Unload model after idle (minutes)"), "30");
    await user.selectOptions(screen.getByTestId("default-model"), "smollm2-135m-instruct-q4_1");
    const prompt = screen.getByLabelText("Default system prompt");
    await user.clear(prompt);
    await user.type(prompt, "Be brief.");
    await user.click(screen.getByText("Default sampling settings"));
    const temperature = screen.getByLabelText("Temperature");
    await user.clear(temperature);
    await user.type(temperature, "0.3");

    await user.click(screen.getByTestId("settings-save"));

    await waitFor(() => expect(screen.getByTestId("settings-status")).toHaveTextContent("Settings saved"));
    const saved = backend.callsOf("save_settings");
    expect(saved).toHaveLength(1);
    expect(saved[0].args.settings).toEqual({
      theme: "dark",
      defaultModelId: "smollm2-135m-instruct-q4_1",
      device: "cpu",
      threads: 6,
      memoryLimitBytes: 8 * GIB,
      unloadAfterMinutes: 30,
      defaultSystemPrompt: "Be brief.",
      defaultParams: { ...DEFAULT_PARAMS, temperature: 0.3 },
      checkUpdatesWeekly: false,
    });
    expect(backend.settings.threads).toBe(6);
    // The theme is applied at once.
    expect(document.documentElement.dataset.theme).toBe("dark");
  });

  it("empty threads and memory mean automatic", async () => {
    const { user, backend } = await renderApp();
    backend.settings.threads = 4;
    await user.click(screen.getByTestId("nav-settings"));
    await screen.findByRole("heading", { name: "Settings" });
    await user.click(screen.getByTestId("settings-save"));
    await waitFor(() => expect(backend.callsOf("save_settings")).toHaveLength(1));
    expect(backend.callsOf("save_settings")[0].args.settings).toMatchObject({ threads: null, memoryLimitBytes: null });
  });

  it("rejects invalid values without saving", async () => {
    const { user, backend } = await renderApp();
    await user.click(screen.getByTestId("nav-settings"));
    await user.type(await screen.findByLabelText("CPU threads"), "1.5");
    await user.type(screen.getByLabelText("Memory limit (GB)"), "4");
    await user.click(screen.getByTestId("settings-save"));
    expect(await screen.findByRole("alert")).toHaveTextContent("Threads must be a whole number");
    expect(backend.callsOf("save_settings")).toHaveLength(0);
  });
});

describe("per-conversation settings", () => {
  it("saves the system prompt and sampling parameters of a conversation", async () => {
    const { user, backend } = await renderApp({ modelLoaded: true, reply: () => ["ok"] });
    await user.type(screen.getByTestId("message-input"), "Hi{Enter}");
    await waitFor(() => expect(screen.getByTestId("send-button")).toBeInTheDocument());
    await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(2));

    await user.click(screen.getByTestId("conversation-settings-toggle"));
    const panel = screen.getByRole("complementary", { name: "Chat settings" });
    const prompt = within(panel).getByLabelText("System prompt");
    await user.clear(prompt);
    await user.type(prompt, "You are a pirate.");
    for (const [label, value] of [
      ["Temperature", "1.2"],
      ["Top-p", "0.8"],
      ["Top-k", "20"],
      ["Min-p", "0.1"],
      ["Repeat penalty", "1.3"],
      ["Seed", "42"],
      ["Max tokens", "256"],
    ]) {
      const input = within(panel).getByLabelText(label);
      await user.clear(input);
      await user.type(input, value);
    }
    await user.selectOptions(within(panel).getByLabelText("Context length"), "8192");
    await user.click(within(panel).getByTestId("conversation-settings-save"));

    await waitFor(() => expect(backend.callsOf("update_conversation")).toHaveLength(1));
    const args = backend.callsOf("update_conversation")[0].args;
    expect(args).toEqual({
      conversationId: backend.callsOf("send_message")[0].args.conversationId,
      systemPrompt: "You are a pirate.",
      modelId: null,
      params: {
        temperature: 1.2,
        topP: 0.8,
        topK: 20,
        minP: 0.1,
        repeatPenalty: 1.3,
        seed: 42,
        maxTokens: 256,
        contextLength: 8192,
      },
    });
    expect(within(panel).getByRole("status")).toHaveTextContent("Saved");
    // The context meter follows the new context length only after the next turn.
  });

  it("settings chosen before the first message apply to the new conversation", async () => {
    const { user, backend } = await renderApp({ modelLoaded: true, reply: () => ["ok"] });
    await user.click(screen.getByTestId("conversation-settings-toggle"));
    const temperature = screen.getByLabelText("Temperature");
    await user.clear(temperature);
    await user.type(temperature, "0");
    await user.click(screen.getByTestId("conversation-settings-save"));
    await user.type(screen.getByTestId("message-input"), "Deterministic please{Enter}");
    await waitFor(() => expect(backend.callsOf("send_message")).toHaveLength(1));
    const id = backend.callsOf("send_message")[0].args.conversationId as string;
    expect(backend.conversations.get(id)!.params.temperature).toBe(0);
    const order = backend.calls.map((c) => c.command).filter((c) => c !== "system_info" && c !== "list_conversations");
    expect(order.indexOf("update_conversation")).toBeLessThan(order.indexOf("send_message"));
  });
});
