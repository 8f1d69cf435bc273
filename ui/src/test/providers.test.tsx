import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderApp } from "./utils";

async function openProviders(options = {}) {
  const r = await renderApp(options);
  await r.user.click(screen.getByTestId("nav-settings"));
  const section = within(await screen.findByTestId("providers-section"));
  return { ...r, section };
}

async function addProvider(
  r: Awaited<ReturnType<typeof openProviders>>,
  name: string,
  baseUrl: string,
  key = "",
) {
  const form = within(r.section.getByRole("form", { name: "Add a provider" }));
  await r.user.type(form.getByLabelText("Name"), name);
  await r.user.type(form.getByLabelText("Base URL"), baseUrl);
  if (key) await r.user.type(form.getByLabelText("API key (optional)"), key);
  await r.user.click(form.getByRole("button", { name: "Add provider" }));
  return within(await r.section.findByRole("listitem", { name }));
}

describe("settings: remote providers", () => {
  it("adds a provider, keeps its key out of the page and lists its models", async () => {
    const r = await openProviders();
    const row = await addProvider(r, "GPU box", "https://gpu-box:8000/v1/", "sk-abc");

    const [saved] = [...r.backend.providers.values()];
    expect(r.backend.callsOf("add_provider")[0].args).toEqual({ name: "GPU box", baseUrl: "https://gpu-box:8000/v1/", apiKey: "sk-abc" });
    expect(r.backend.providerKeys.get(saved.id)).toBe("sk-abc");
    expect(row.getByText("https://gpu-box:8000/v1")).toBeInTheDocument();
    expect(row.getByTestId("provider-key-state")).toHaveTextContent("Key saved");
    expect(document.body.textContent).not.toContain("sk-abc");
    // A provider just added is checked at once.
    expect(await row.findByTestId("provider-models")).toHaveTextContent("2 models: gpt-4o-mini, llama3.1:8b");
    // The add form is empty again.
    expect(within(r.section.getByRole("form", { name: "Add a provider" })).getByLabelText("Name")).toHaveValue("");
  });

  it("shows clear errors: a bad URL, an unreachable endpoint, a refused key", async () => {
    const r = await openProviders();
    const form = within(r.section.getByRole("form", { name: "Add a provider" }));
    await r.user.type(form.getByLabelText("Name"), "Typo");
    await r.user.type(form.getByLabelText("Base URL"), "localhost:8080");
    await r.user.click(form.getByRole("button", { name: "Add provider" }));
    expect(await form.findByRole("alert")).toHaveTextContent("base URL");
    expect(r.backend.providers.size).toBe(0);
    await r.user.clear(form.getByLabelText("Name"));
    await r.user.clear(form.getByLabelText("Base URL"));

    const down = await addProvider(r, "Down", "https://unreachable.example:1/v1");
    expect(await down.findByTestId("provider-models-error")).toHaveTextContent("could not be reached");

    const wrong = await addProvider(r, "Wrong key", "https://gpu-box:8000/v1", "bad-key");
    expect(await wrong.findByTestId("provider-models-error")).toHaveTextContent("refused the API key");
    // A new key, then the check passes.
    await r.user.type(wrong.getByLabelText("API key for Wrong key"), "good-key");
    await r.user.click(wrong.getByRole("button", { name: "Save key" }));
    expect(await wrong.findByTestId("provider-models")).toHaveTextContent("gpt-4o-mini");
    expect(wrong.queryByTestId("provider-models-error")).not.toBeInTheDocument();
  });

  it("edits and removes a provider", async () => {
    const r = await openProviders();
    await addProvider(r, "Old name", "https://a:1/v1", "k1");
    const id = [...r.backend.providers.keys()][0];
    await r.user.click(r.section.getByRole("button", { name: "Edit Old name" }));
    const edit = within(r.section.getByRole("form", { name: "Edit Old name" }));
    await r.user.clear(edit.getByLabelText("Name"));
    await r.user.type(edit.getByLabelText("Name"), "New name");
    await r.user.click(edit.getByRole("button", { name: "Save" }));
    const row = within(await r.section.findByRole("listitem", { name: "New name" }));
    expect(r.backend.providers.get(id)!.name).toBe("New name");

    await r.user.click(row.getByRole("button", { name: "Remove the key of New name" }));
    await waitFor(() => expect(row.getByTestId("provider-key-state")).toHaveTextContent("No key"));
    expect(r.backend.providerKeys.has(id)).toBe(false);

    await r.user.click(row.getByRole("button", { name: "Remove New name" }));
    await waitFor(() => expect(r.section.queryByRole("listitem", { name: "New name" })).not.toBeInTheDocument());
    expect(r.backend.providers.size).toBe(0);
  });

  it("asks for https:// off this machine and for a new key when the host changes", async () => {
    const r = await openProviders();
    const form = within(r.section.getByRole("form", { name: "Add a provider" }));
    await r.user.type(form.getByLabelText("Name"), "Plain");
    await r.user.type(form.getByLabelText("Base URL"), "http://gpu-box:8000/v1");
    await r.user.click(form.getByRole("button", { name: "Add provider" }));
    expect(await form.findByRole("alert")).toHaveTextContent("Use https://");
    expect(r.backend.providers.size).toBe(0);
    await r.user.clear(form.getByLabelText("Name"));
    await r.user.clear(form.getByLabelText("Base URL"));

    const row = await addProvider(r, "Box", "https://gpu-box:8000/v1", "k1");
    expect(row.getByTestId("provider-key-state")).toHaveTextContent("Key saved");
    await r.user.click(row.getByRole("button", { name: "Edit Box" }));
    const edit = within(r.section.getByRole("form", { name: "Edit Box" }));
    await r.user.clear(edit.getByLabelText("Base URL"));
    await r.user.type(edit.getByLabelText("Base URL"), "https://other-box:8000/v1");
    await r.user.click(edit.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(row.getByTestId("provider-key-state")).toHaveTextContent("No key"));
    expect(r.backend.providerKeys.size).toBe(0);
  });
});

describe("chatting through a remote provider", () => {
  it("picks a provider's model in chat settings and streams the reply through it", async () => {
    const r = await openProviders({ reply: () => ["Hello", " from", " far", " away."] });
    await addProvider(r, "GPU box", "https://gpu-box:8000/v1", "sk-abc");
    const providerId = [...r.backend.providers.keys()][0];

    await r.user.click(screen.getByTestId("nav-chat"));
    await r.user.click(screen.getByTestId("conversation-settings-toggle"));
    const panel = within(screen.getByRole("complementary", { name: "Chat settings" }));
    const select = panel.getByLabelText("Model");
    await waitFor(() => expect(within(select).getByRole("option", { name: "llama3.1:8b" })).toBeInTheDocument());
    await r.user.selectOptions(select, `remote:${providerId}:llama3.1:8b`);
    expect(panel.getByTestId("remote-model-hint")).toHaveTextContent("sent to https://gpu-box:8000/v1");
    await r.user.click(panel.getByTestId("conversation-settings-save"));
    expect(await screen.findByTestId("remote-model-chip")).toHaveTextContent("llama3.1:8b · GPU box");

    await r.user.type(screen.getByTestId("message-input"), "Hi there{Enter}");
    await waitFor(() => expect(screen.getAllByTestId("message")).toHaveLength(2));
    await waitFor(() => expect(screen.getAllByTestId("message")[1]).toHaveTextContent("Hello from far away."));
    const id = r.backend.callsOf("send_message")[0].args.conversationId as string;
    expect(r.backend.conversations.get(id)!.modelId).toBe(`remote:${providerId}:llama3.1:8b`);
    // No local model was loaded for it.
    expect(r.backend.loaded).toBeNull();
  });

  it("shows the provider's error when the chat cannot reach it", async () => {
    const r = await openProviders();
    await addProvider(r, "Flaky", "https://gpu-box:8000/v1");
    const providerId = [...r.backend.providers.keys()][0];
    await r.user.click(screen.getByTestId("nav-chat"));
    await r.user.click(screen.getByTestId("conversation-settings-toggle"));
    const panel = within(screen.getByRole("complementary", { name: "Chat settings" }));
    const select = panel.getByLabelText("Model");
    await waitFor(() => expect(within(select).getByRole("option", { name: "gpt-4o-mini" })).toBeInTheDocument());
    await r.user.selectOptions(select, `remote:${providerId}:gpt-4o-mini`);
    await r.user.click(panel.getByTestId("conversation-settings-save"));

    // The endpoint goes away before the message is sent.
    r.backend.providers.get(providerId)!.baseUrl = "https://unreachable.example:1/v1";
    await r.user.type(screen.getByTestId("message-input"), "Hello?{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("could not be reached");
    expect(r.backend.loaded).toBeNull();
  });
});
