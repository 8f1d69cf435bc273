import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderApp } from "./utils";

const MB = 1024 ** 2;

async function openModels(options = {}) {
  const ctx = await renderApp(options);
  await ctx.user.click(screen.getByTestId("nav-models"));
  await waitFor(() => expect(screen.getAllByTestId("catalog-entry").length).toBeGreaterThan(5));
  return ctx;
}

const card = (id: string) =>
  screen.getAllByTestId("catalog-entry").find((el) => el.dataset.catalogId === id)!;

describe("models page", () => {
  it("shows the catalog with fit badges and the installed model", async () => {
    const { backend } = await openModels();
    const verdicts = screen.getAllByTestId("fit-badge").map((b) => b.dataset.fit);
    expect(verdicts).toEqual(expect.arrayContaining(["fits", "tight", "too_big"]));
    expect(within(card("qwen2.5-14b-instruct-q4_k_m")).getByTestId("fit-badge")).toHaveTextContent("Too big");
    expect(within(card("smollm2-135m-instruct-q4_1")).getByText("Installed")).toBeInTheDocument();
    const installed = screen.getAllByTestId("installed-model");
    expect(installed).toHaveLength(1);
    expect(installed[0]).toHaveTextContent("SmolLM2 135M Instruct");
    expect(backend.callsOf("catalog")[0].args).toEqual({ contextLength: null });
  });

  it("hides models that don't fit when asked", async () => {
    const { user } = await openModels();
    const before = screen.getAllByTestId("catalog-entry").length;
    await user.click(screen.getByLabelText("Runs here"));
    expect(screen.getAllByTestId("catalog-entry").length).toBeLessThan(before);
    expect(screen.queryByText("Qwen2.5 14B Instruct")).not.toBeInTheDocument();
  });

  it("downloads with progress, pause, resume and cancel", async () => {
    const { user, backend } = await openModels({ downloadBytesPerSecond: 20 * MB });
    await user.click(within(card("smollm2-1.7b-instruct-q4_k_m")).getByTestId("download-model"));

    const row = await screen.findByTestId("download-row");
    expect(backend.callsOf("download_model")[0].args.source).toEqual({
      kind: "catalog",
      catalogId: "smollm2-1.7b-instruct-q4_k_m",
    });
    const bar = within(row).getByRole("progressbar");
    await waitFor(() => expect(Number(bar.getAttribute("aria-valuenow"))).toBeGreaterThan(0));

    await user.click(within(row).getByTestId("pause-download"));
    await waitFor(() => expect(screen.getByTestId("download-row")).toHaveAttribute("data-status", "paused"));
    const pausedAt = backend.downloads.values().next().value!.info.downloadedBytes;
    await new Promise((r) => setTimeout(r, 450));
    expect(backend.downloads.values().next().value!.info.downloadedBytes).toBe(pausedAt);

    await user.click(within(screen.getByTestId("download-row")).getByTestId("resume-download"));
    await waitFor(() => expect(screen.getByTestId("download-row")).toHaveAttribute("data-status", "downloading"));
    await waitFor(() =>
      expect(backend.downloads.values().next().value!.info.downloadedBytes).toBeGreaterThan(pausedAt),
    );

    await user.click(within(screen.getByTestId("download-row")).getByTestId("cancel-download"));
    await waitFor(() => expect(screen.queryByTestId("download-row")).not.toBeInTheDocument());
    expect(backend.callsOf("cancel_download")).toHaveLength(1);
    expect(backend.downloads.size).toBe(0);
  });

  it("a finished download appears among the installed models", async () => {
    const { user } = await openModels({ downloadBytesPerSecond: 4000 * MB });
    await user.click(within(card("smollm2-360m-instruct-q8_0")).getByTestId("download-model"));
    await waitFor(() => expect(screen.getAllByTestId("installed-model")).toHaveLength(2), { timeout: 3000 });
    expect(screen.queryByTestId("download-row")).not.toBeInTheDocument();
    await waitFor(() => expect(within(card("smollm2-360m-instruct-q8_0")).getByText("Installed")).toBeInTheDocument());
  });

  it("imports a GGUF file chosen with Browse and deletes a model", async () => {
    const { user, backend } = await openModels({ pickedFile: "/home/me/my-model.Q4_K_M.gguf" });
    // The path cannot be typed: only a file chosen in the dialog is imported.
    expect(screen.getByTestId("import-path")).toHaveAttribute("readonly");
    expect(screen.getByTestId("import-submit")).toBeDisabled();
    await user.click(screen.getByRole("button", { name: /Browse/ }));
    await waitFor(() => expect(screen.getByTestId("import-path")).toHaveValue("/home/me/my-model.Q4_K_M.gguf"));
    await user.click(screen.getByLabelText("Use in place"));
    await user.click(screen.getByTestId("import-submit"));
    await waitFor(() => expect(screen.getAllByTestId("installed-model")).toHaveLength(2));
    expect(backend.callsOf("import_model")[0].args).toEqual({ path: "/home/me/my-model.Q4_K_M.gguf", mode: "reference" });

    const imported = screen.getAllByTestId("installed-model")[1];
    await user.click(within(imported).getByTestId("delete-model"));
    await user.click(within(imported).getByTestId("confirm-delete-model"));
    await waitFor(() => expect(screen.getAllByTestId("installed-model")).toHaveLength(1));
    expect(backend.callsOf("delete_model")).toHaveLength(1);
  });

  it("shows why an import failed", async () => {
    const { user } = await openModels({ pickedFile: "/tmp/notes.txt" });
    await user.click(screen.getByRole("button", { name: /Browse/ }));
    await user.click(screen.getByTestId("import-submit"));
    expect(await screen.findByRole("alert")).toHaveTextContent("Choose a .gguf file.");
  });

  it("loads a model and the status bar shows it", async () => {
    const { user } = await openModels();
    await user.click(screen.getByTestId("load-model"));
    await waitFor(() => expect(screen.getByTestId("status-model")).toHaveTextContent("SmolLM2 135M Instruct · Q4_1"));
    expect(screen.getByText("Loaded")).toBeInTheDocument();
  });
});
