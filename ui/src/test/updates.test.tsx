import { screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { renderApp } from "./utils";

const RELEASE = { version: "0.2.0", notes: "Faster downloads.\nNew models.", date: Date.UTC(2026, 11, 1) };

async function openSection() {
  const r = await renderApp({ seed: "empty" });
  await r.user.click(screen.getByTestId("nav-settings"));
  const section = await screen.findByTestId("updates-section");
  await waitFor(() => expect(within(section).getByTestId("update-version")).toHaveTextContent("Woolly 0.1.0"));
  return { ...r, section: within(section) };
}

describe("settings: updates", () => {
  it("says when Woolly is up to date and refreshes the catalog", async () => {
    const { user, backend, section } = await openSection();
    expect(section.getByTestId("catalog-info")).toHaveTextContent("as shipped with this version");
    await user.click(section.getByRole("button", { name: "Check now" }));
    expect(await section.findByTestId("update-note")).toHaveTextContent("up to date");
    expect(section.getByTestId("catalog-info")).toHaveTextContent("signed and refreshed");
    expect(section.queryByTestId("update-available")).toBeNull();
    expect(backend.callsOf("check_for_update")).toHaveLength(1);
    expect(backend.callsOf("refresh_catalog")).toHaveLength(1);
  });

  it("shows the new version with its release notes as text, then installs and restarts", async () => {
    const { user, backend, section } = await openSection();
    backend.updates.published = { ...RELEASE, notes: RELEASE.notes + "\n<b>not markup</b>" };
    await user.click(section.getByRole("button", { name: "Check now" }));
    const offer = await section.findByTestId("update-available");
    expect(offer).toHaveTextContent("Woolly 0.2.0 is available");
    expect(section.getByTestId("update-notes").textContent).toBe("Faster downloads.\nNew models.\n<b>not markup</b>");
    expect(offer.querySelector("b")).toBeNull();

    await user.click(section.getByRole("button", { name: "Install and restart" }));
    await waitFor(() => expect(section.getByTestId("update-progress")).toHaveTextContent("Restarting"));
    expect(backend.updates.restarted).toBe(true);
    expect(backend.callsOf("download_update")).toHaveLength(1);
  });

  it("refuses a tampered update or catalog with the backend's message", async () => {
    const { user, backend, section } = await openSection();
    backend.updates.published = RELEASE;
    backend.updates.tampered = true;
    backend.updates.catalogTampered = true;
    await user.click(section.getByRole("button", { name: "Check now" }));
    const alerts = await section.findAllByTestId("update-error");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toHaveTextContent("the current catalog is kept");
    expect(section.getByTestId("catalog-info")).toHaveTextContent("as shipped");

    await user.click(section.getByRole("button", { name: "Install and restart" }));
    await waitFor(() =>
      expect(section.getByTestId("update-error")).toHaveTextContent("The update to 0.2.0 was refused: its signature"),
    );
    expect(backend.updates.restarted).toBe(false);
    expect(backend.updates.downloaded).toBe(false);
    expect(section.queryByTestId("update-progress")).toBeNull();
  });

  it("saves the weekly opt-in with the settings, off by default", async () => {
    const { user, backend, section } = await openSection();
    const box = section.getByLabelText(/once a week/);
    expect(box).not.toBeChecked();
    await user.click(box);
    expect(box).toBeChecked();
    expect(backend.settings.checkUpdatesWeekly).toBe(false);
    await user.click(screen.getByTestId("settings-save"));
    await waitFor(() => expect(backend.settings.checkUpdatesWeekly).toBe(true));
  });
});
