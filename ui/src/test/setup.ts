import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";
import { setTransport } from "../api";
import { chatStore } from "../state/chatStore";
import { downloadStore } from "../state/downloadStore";

// Generous waits: CI shares 2 cores with a Rust build.
configure({ asyncUtilTimeout: 5000 });

// jsdom has no layout: give the bits the UI touches harmless stand-ins.
if (!Element.prototype.scrollIntoView) Element.prototype.scrollIntoView = () => undefined;

afterEach(() => {
  cleanup();
  chatStore.reset();
  downloadStore.reset();
  setTransport(null);
});
