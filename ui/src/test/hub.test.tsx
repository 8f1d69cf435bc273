import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderApp } from "./utils";

const MB = 1024 ** 2;

async function openModels(options = {}) {
  const ctx = await renderApp(options);
  await ctx.user.click(screen.getByTestId("nav-models"));
  await screen.findByTestId("hub-section");
  return ctx;
}

const results = () => screen.getAllByTestId("hub-result").map((r) => r.dataset.repoId);
const file = (path: string) => screen.getAllByTestId("hub-file").find((f) => f.dataset.path === path)!;

describe("Hugging Face search", () => {
  it("searches GGUF repositories, sorted by downloads or recency", async () => {
    const { user, backend } = await openModels();
    const box = screen.getByRole("searchbox", { name: "GGUF models on Hugging Face" });
    await user.type(box, "qwen{Enter}");
    await waitFor(() => expect(results()).toEqual(["bartowski/Qwen2.5-7B-Instruct-GGUF", "Qwen/Qwen2.5-0.5B-Instruct-GGUF"]));
    expect(backend.callsOf("hub_search")[0].args).toEqual({ query: "qwen", sort: "downloads", limit: null });
    expect(screen.getByTestId("hub-result-count")).toHaveTextContent("2 repositories, most downloaded first");
    expect(screen.getAllByTestId("hub-result")[0]).toHaveTextContent("184.2k downloads");

    // Changing the order asks the Hub again.
    await user.selectOptions(screen.getByRole("combobox", { name: "Sort by" }), "recent");
    await waitFor(() => expect(results()).toEqual(["Qwen/Qwen2.5-0.5B-Instruct-GGUF", "bartowski/Qwen2.5-7B-Instruct-GGUF"]));
    expect(backend.callsOf("hub_search")[1].args).toEqual({ query: "qwen", sort: "recent", limit: null });

    // Gated repositories are marked; private ones only show with a token.
    await user.clear(box);
    await user.type(box, "{Enter}");
    await waitFor(() => expect(results()).toContain("google/gemma-2-2b-it-GGUF"));
    const gemma = screen.getAllByTestId("hub-result").find((r) => r.dataset.repoId === "google/gemma-2-2b-it-GGUF")!;
    expect(within(gemma).getByText("Gated")).toBeInTheDocument();
    expect(results()).not.toContain("me/private-qwen-GGUF");

    await user.clear(box);
    await user.type(box, "no such model{Enter}");
    await waitFor(() => expect(screen.getByTestId("hub-result-count")).toHaveTextContent("No GGUF repositories found."));
  });

  it("opens a repository: quantization, size, fit badge; split models are refused", async () => {
    const { user, backend } = await openModels();
    await user.type(screen.getByTestId("hub-search-input"), "bartowski{Enter}");
    await user.click(await screen.findByRole("button", { name: "Show the files of bartowski/Qwen2.5-7B-Instruct-GGUF" }));
    await waitFor(() => expect(screen.getAllByTestId("hub-file")).toHaveLength(4));
    expect(backend.callsOf("hub_files")[0].args).toEqual({ repo: "bartowski/Qwen2.5-7B-Instruct-GGUF" });

    const q4 = file("Qwen2.5-7B-Instruct-Q4_K_M.gguf");
    expect(within(q4).getByText("Q4_K_M")).toBeInTheDocument();
    expect(q4).toHaveTextContent("4.4 GB");
    expect(within(q4).getByTestId("fit-badge")).toHaveAttribute("data-fit");
    expect(within(q4).getByRole("button", { name: /^Download Qwen2.5-7B-Instruct-Q4_K_M.gguf \(4.4 GB\)/ })).toBeEnabled();

    const split = file("Qwen2.5-7B-Instruct-Q8_0/Qwen2.5-7B-Instruct-Q8_0-00001-of-00002.gguf");
    expect(split).toHaveAttribute("data-downloadable", "false");
    expect(within(split).getByTestId("hub-split")).toHaveTextContent("Split · 2 files");
    expect(within(split).getByTestId("hub-file-note")).toHaveTextContent(/single-file GGUF models only/);
    expect(within(split).queryByTestId("hub-download")).not.toBeInTheDocument();
    expect(within(split).getByText("Not downloadable")).toBeInTheDocument();

    // The f16 does not fit the mock machine.
    expect(within(file("Qwen2.5-7B-Instruct-f16.gguf")).getByTestId("fit-badge")).toHaveAttribute("data-fit", "too_big");

    await user.click(screen.getByTestId("hub-back"));
    expect(screen.getAllByTestId("hub-result").length).toBeGreaterThan(0);
  });

  it("downloads a file through the download list; it then shows as installed", async () => {
    const { user, backend } = await openModels({ downloadBytesPerSecond: 4000 * MB });
    await user.type(screen.getByTestId("hub-search-input"), "0.5b{Enter}");
    await user.click(await screen.findByTestId("hub-open-repo"));
    await waitFor(() => expect(screen.getAllByTestId("hub-file")).toHaveLength(2));
    await user.click(within(file("qwen2.5-0.5b-instruct-q4_k_m.gguf")).getByTestId("hub-download"));
    expect(backend.callsOf("download_model")[0].args.source).toEqual({
      kind: "hub",
      repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
      file: "qwen2.5-0.5b-instruct-q4_k_m.gguf",
    });
    await waitFor(() => expect(screen.getAllByTestId("installed-model")).toHaveLength(2), { timeout: 3000 });
    await waitFor(() => expect(within(file("qwen2.5-0.5b-instruct-q4_k_m.gguf")).getByText("Installed")).toBeInTheDocument());
    const added = backend.installed.find((m) => m.id === "qwen2.5-0.5b-instruct-q4_k_m.gguf")!;
    expect(added.quantization).toBe("Q4_K_M");
  });

  it("a gated file without a token fails with the reason in the download row", async () => {
    const { user } = await openModels();
    await user.type(screen.getByTestId("hub-search-input"), "gemma{Enter}");
    await user.click(await screen.findByTestId("hub-open-repo"));
    expect(await screen.findByText(/Gated repository: accept its terms/)).toBeInTheDocument();
    await user.click(await screen.findByTestId("hub-download"));
    const row = await screen.findByTestId("download-row");
    await waitFor(() => expect(row).toHaveAttribute("data-status", "failed"));
    expect(row).toHaveTextContent(/401 Unauthorized.*Hugging Face token/);
  });

  it("network errors reach the page as a clear message", async () => {
    const { user } = await openModels({ hubOffline: true });
    await user.type(screen.getByTestId("hub-search-input"), "qwen{Enter}");
    expect(await screen.findByTestId("hub-error")).toHaveTextContent("Couldn’t search Hugging Face: Hugging Face Hub: could not reach the Hub");
    expect(screen.getByTestId("hub-error")).toHaveAttribute("role", "alert");
    expect(screen.queryByTestId("hub-result")).not.toBeInTheDocument();
  });

  it("a repository that is gone says so", async () => {
    const { user, backend } = await openModels();
    await user.type(screen.getByTestId("hub-search-input"), "qwen{Enter}");
    await screen.findAllByTestId("hub-result");
    backend.hubRepos = backend.hubRepos.filter((r) => r.model.id !== "bartowski/Qwen2.5-7B-Instruct-GGUF");
    await user.click(screen.getByRole("button", { name: "Show the files of bartowski/Qwen2.5-7B-Instruct-GGUF" }));
    expect(await screen.findByRole("alert")).toHaveTextContent(/Couldn’t list the files: .*no such repository/);
  });
});
