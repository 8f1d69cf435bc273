import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderApp } from "./utils";

async function openSection(options = {}) {
  const r = await renderApp({ seed: "empty", ...options });
  await r.user.click(screen.getByTestId("nav-settings"));
  const section = await screen.findByTestId("server-section");
  await waitFor(() => expect(within(section).getByTestId("server-port")).toHaveValue("8080"));
  return { ...r, section: within(section) };
}

describe("settings: local API server", () => {
  it("starts on the chosen port, shows the address, and stops", async () => {
    const { user, backend, section } = await openSection();
    expect(section.getByTestId("server-status")).toHaveTextContent("Stopped");
    const port = section.getByLabelText("Port");
    await user.clear(port);
    await user.type(port, "9123");
    await user.click(section.getByRole("button", { name: "Start server" }));

    await waitFor(() => expect(section.getByTestId("server-status")).toHaveTextContent("http://127.0.0.1:9123/v1"));
    expect(backend.callsOf("start_server")[0].args).toEqual({ port: 9123 });
    expect(backend.server.running).toBe(true);
    // The port cannot change under a running server.
    expect(section.getByLabelText("Port")).toBeDisabled();

    await user.click(section.getByRole("button", { name: "Stop server" }));
    await waitFor(() => expect(section.getByTestId("server-status")).toHaveTextContent("Stopped"));
    expect(backend.server.running).toBe(false);
    expect(section.getByLabelText("Port")).toHaveValue("9123");
  });

  it("shows why a start failed and refuses a bad port without calling the backend", async () => {
    const { user, backend, section } = await openSection();
    backend.busyPorts.add(8080);
    await user.click(section.getByRole("button", { name: "Start server" }));
    expect(await section.findByRole("alert")).toHaveTextContent("Port 8080 is already in use");
    expect(backend.server.running).toBe(false);

    const port = section.getByLabelText("Port");
    await user.clear(port);
    await user.type(port, "70000");
    await user.click(section.getByRole("button", { name: "Start server" }));
    await waitFor(() => expect(section.getByRole("alert")).toHaveTextContent("from 1 to 65535"));
    expect(backend.callsOf("start_server")).toHaveLength(1);
  });

  it("saves the API key to the backend, never shows it back, and can remove it", async () => {
    const { user, backend, section } = await openSection();
    expect(section.getByTestId("server-key-state")).toHaveTextContent("No key");
    await user.type(section.getByLabelText("Server API key"), "wk-secret-1");
    await user.click(section.getByRole("button", { name: "Save key" }));

    await waitFor(() => expect(section.getByTestId("server-key-state")).toHaveTextContent("A key is saved"));
    expect(backend.server.apiKey).toBe("wk-secret-1");
    expect(section.getByLabelText("Server API key")).toHaveValue("");
    expect(document.body.textContent).not.toContain("wk-secret-1");

    await user.click(section.getByRole("button", { name: "Remove key" }));
    await waitFor(() => expect(section.getByTestId("server-key-state")).toHaveTextContent("No key"));
    expect(backend.callsOf("set_server_api_key").map((c) => c.args)).toEqual([{ apiKey: "wk-secret-1" }, { apiKey: null }]);
  });

  it("generates a key the user can see before saving it", async () => {
    const { user, backend, section } = await openSection();
    await user.click(section.getByRole("button", { name: "Generate" }));
    const input = section.getByLabelText("Server API key") as HTMLInputElement;
    expect(input.type).toBe("text");
    expect(input.value).toMatch(/^wk-[0-9a-f]{48}$/);
    const generated = input.value;
    await user.click(section.getByRole("button", { name: "Save key" }));
    await waitFor(() => expect(backend.server.apiKey).toBe(generated));
  });
});
