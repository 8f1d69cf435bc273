import { screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderApp, setupBackend } from "./utils";

describe("start-up notices", () => {
  it("shows what start-up recovered from until dismissed", async () => {
    const backend = setupBackend();
    backend.notices = ["Your settings file could not be read, so Woolly started with the default settings."];
    const { user } = await renderApp({}, backend);
    const notice = await screen.findByText(/settings file could not be read/);
    expect(notice.closest('[role="status"]')).not.toBeNull();
    await user.click(screen.getByRole("button", { name: "Dismiss" }));
    await waitFor(() => expect(screen.queryByText(/settings file could not be read/)).not.toBeInTheDocument());
  });

  it("shows nothing when start-up had nothing to recover", async () => {
    await renderApp();
    expect(screen.queryByRole("button", { name: "Dismiss" })).not.toBeInTheDocument();
  });
});
