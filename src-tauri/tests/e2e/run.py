#!/usr/bin/env python3
"""End-to-end test of the real woolly-desktop window under Xvfb, driven through tauri-driver
and WebKitWebDriver with the real test model:

  send a message and watch the reply stream in; stop a long reply mid-way; restart the app
  and find the conversation again (with the partial reply); save a screenshot; print the
  first-token latency.

Environment: WOOLLY_DESKTOP_BIN (the app), TAURI_DRIVER (tauri-driver), WEBKIT_DRIVER
(default /usr/bin/WebKitWebDriver), WOOLLY_MODEL (default: the repo's test model),
WOOLLY_E2E_SCREENSHOT (default /tmp/woolly-e2e.png).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from webdriver import ENTER, Session, WebDriverError  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/woolly/target"))
APP = Path(os.environ.get("WOOLLY_DESKTOP_BIN", TARGET / "release/woolly-desktop"))
TAURI_DRIVER = os.environ.get("TAURI_DRIVER") or shutil.which("tauri-driver") or str(
    Path.home() / ".cache/woolly/tools/bin/tauri-driver")
WEBKIT_DRIVER = os.environ.get("WEBKIT_DRIVER", "/usr/bin/WebKitWebDriver")
MODEL = Path(os.environ.get("WOOLLY_MODEL", REPO / "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
SHOT = Path(os.environ.get("WOOLLY_E2E_SCREENSHOT", "/tmp/woolly-e2e.png"))

FIRST_PROMPT = "Tell me about Paris, the capital of France."
LONG_PROMPT = "Write a very long story about a dragon who learns to bake bread."


def log(msg):
    print(f"e2e: {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def start_xvfb():
    if os.environ.get("WOOLLY_E2E_USE_DISPLAY") and os.environ.get("DISPLAY"):
        return None
    for n in range(99, 140):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError("Xvfb did not start")
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{n}"
    return proc


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class App:
    """One run of the app: a WebDriver session (tauri-driver starts the binary)."""

    def __init__(self, driver_url):
        caps = {"alwaysMatch": {"tauri:options": {"application": str(APP)}}}
        self.s = Session(driver_url, caps, timeout=120)
        self.s.find('[data-testid="message-input"]', timeout=60)

    def messages(self, role=None):
        css = '[data-testid="message"]' + (f'[data-role="{role}"]' if role else "")
        return self.s.find_all(css)

    def last_assistant(self):
        found = self.messages("assistant")
        return found[-1] if found else None

    def content(self, message):
        # textContent, not the rendered text: it does not depend on scrolling or layout.
        parts = self.s.find_all('[data-testid="message-content"]', root=message)
        return (self.s.prop(parts[0], "textContent") or "") if parts else ""

    def send(self, text):
        box = self.s.find('[data-testid="message-input"]')
        self.s.click(box)
        self.s.type(box, text)
        before = len(self.messages("assistant"))
        sent_at = time.perf_counter()
        self.s.type(box, ENTER)
        return before, sent_at

    def wait_streaming_text(self, before, min_chars=1, timeout=120):
        def has_text():
            msgs = self.messages("assistant")
            if len(msgs) <= before:
                return None
            # Only reply text counts (class "markdown"), not the loading / typing placeholder.
            parts = self.s.find_all('[data-testid="message-content"].markdown', root=msgs[-1])
            text = (self.s.prop(parts[0], "textContent") or "") if parts else ""
            return (msgs[-1], text) if len(text.strip()) >= min_chars else None
        return self.s.wait(f"{min_chars} characters of reply", has_text, timeout=timeout, interval=0.02)

    def wait_idle(self, timeout=180):
        def idle():
            m = self.last_assistant()
            return m and self.s.attr(m, "data-streaming") == "false" and self.s.find_all('[data-testid="send-button"]')
        self.s.wait("the reply to finish", idle, timeout=timeout, interval=0.1)
        return self.last_assistant()

    def shot(self, path):
        time.sleep(0.6)  # let the last frame paint
        size = self.s.screenshot(path)
        log(f"screenshot {path} ({size} bytes)")


def main():
    for what, path in (("app", APP), ("tauri-driver", TAURI_DRIVER), ("WebKitWebDriver", WEBKIT_DRIVER), ("model", MODEL)):
        if not Path(path).exists():
            sys.exit(f"e2e: {what} not found at {path}")
    home = Path(tempfile.mkdtemp(prefix="woolly-e2e-"))
    os.environ.update({
        "WOOLLY_DATA_DIR": str(home / "data"),
        "WOOLLY_CONFIG_DIR": str(home / "config"),
        "WOOLLY_MODEL": str(MODEL),
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "XDG_CACHE_HOME": str(home / "xdg-cache"),
        "NO_AT_BRIDGE": "1",
    })
    # Short, reproducible replies (the settings file format the app reads: versioned JSON).
    (home / "config").mkdir(parents=True)
    (home / "config/settings.json").write_text(json.dumps({"version": 1, "settings": {
        "defaultParams": {"temperature": 0.3, "seed": 42, "maxTokens": 160, "contextLength": 2048}}}))

    xvfb = start_xvfb()
    port = free_port()
    driver = subprocess.Popen([TAURI_DRIVER, "--port", str(port), "--native-port", str(free_port()),
                               "--native-driver", WEBKIT_DRIVER],
                              stdout=subprocess.DEVNULL, stderr=open(home / "tauri-driver.log", "w"))
    url = f"http://127.0.0.1:{port}"
    app = None
    try:
        wait_port(port, driver)
        log(f"starting {APP} on {os.environ['DISPLAY']}")
        app = App(url)
        assert app.s.title() == "Woolly", app.s.title()

        # 1. Send a message; the reply streams in.
        app.s.click(app.s.find('[data-testid="new-chat"]'))
        before, sent_at = app.send(FIRST_PROMPT)
        message, first = app.wait_streaming_text(before, 1, timeout=120)
        first_token_ms = (time.perf_counter() - sent_at) * 1000
        # Watch it grow: several different lengths while data-streaming="true".
        seen = {len(first)}
        try:
            while app.s.attr(message, "data-streaming") == "true":
                seen.add(len(app.content(message)))
                time.sleep(0.05)
        except WebDriverError:
            pass  # the streaming element was replaced by the saved message
        final = app.wait_idle()
        reply = app.content(final)
        assert reply.strip(), "empty reply"
        assert len(seen) >= 3, f"the reply did not stream in (lengths seen: {sorted(seen)})"
        stats = app.s.prop(app.s.find('[data-testid="generation-stats"]', root=final), "textContent")
        log(f"first reply streamed in ({len(seen)} partial lengths seen), {len(reply)} chars: {reply[:160]!r}")
        log(f"stats: {stats!r}")
        title = app.s.prop(app.s.find('[data-testid="chat-title"]'), "textContent").strip()
        assert title.startswith(FIRST_PROMPT), title

        # 2. A long reply, stopped mid-way.
        before, _ = app.send(LONG_PROMPT)
        app.wait_streaming_text(before, 80, timeout=120)
        app.s.click(app.s.find('[data-testid="stop-button"]', timeout=5))
        stopped_at = time.perf_counter()
        stopped = app.wait_idle(timeout=30)
        stop_ms = (time.perf_counter() - stopped_at) * 1000
        partial = app.content(stopped)
        stop_stats = app.s.prop(app.s.find('[data-testid="generation-stats"]', root=stopped), "textContent")
        assert "stopped" in stop_stats, stop_stats
        assert len(partial) >= 80, partial
        log(f"stopped after {len(partial)} chars, idle {stop_ms:.0f} ms after the click; stats: {stop_stats!r}")
        app.shot(str(SHOT.with_name(SHOT.stem + "-before-restart.png")))

        # 3. Restart: the conversation is listed and opens with every message.
        app.s.quit()
        app = App(url)
        item = app.s.wait("the saved conversation in the sidebar", lambda: next(
            (e for e in app.s.find_all('[data-testid="conversation-item"]') if (app.s.prop(e, "textContent") or "").strip().startswith(FIRST_PROMPT[:20])), None), timeout=30)
        app.s.click(item)
        app.s.wait("4 messages", lambda: len(app.messages()) == 4, timeout=30)
        texts = [app.content(m) for m in app.messages()]
        assert texts[0].strip() == FIRST_PROMPT, texts
        assert texts[1].strip() == reply.strip(), (texts[1], reply)
        assert texts[2].strip() == LONG_PROMPT, texts
        assert texts[3].strip() == partial.strip(), (texts[3], partial)
        log("after a restart the conversation is back with all 4 messages, partial reply included")
        app.shot(str(SHOT))
        print(f"e2e: PASS — first token after {first_token_ms:.0f} ms (click to first text in the window, "
              f"model load included); screenshot {SHOT}", flush=True)
    except Exception:
        if app:
            try:
                app.shot(str(SHOT.with_name(SHOT.stem + "-failure.png")))
            except Exception:
                pass
        sys.stderr.write((home / "tauri-driver.log").read_text()[-4000:] + "\n")
        raise
    finally:
        if app:
            app.s.quit()
        stop(driver)
        stop(xvfb)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
