#!/usr/bin/env python3
"""End-to-end test of the real woolly-desktop window under Xvfb, driven through tauri-driver
and WebKitWebDriver with the real test model:

  send a message and watch the reply stream in; stop a long reply mid-way; restart the app
  and find the conversation again (with the partial reply); save a screenshot; kill the app
  (SIGKILL) in the middle of another reply, restart it and check that no earlier message was
  lost and that the reply streamed so far was kept; in Settings start the local API server,
  call it over HTTP, add it as a remote provider and chat through it; attach a file to a new
  chat (the dialog's answer given by WOOLLY_E2E_ATTACH_FILES), ask about it and find it saved
  with the message, its chip showing its tokens and the context meter by part; print the
  first-token latency.

Environment: WOOLLY_DESKTOP_BIN (the app), TAURI_DRIVER (tauri-driver), WEBKIT_DRIVER
(default /usr/bin/WebKitWebDriver), WOOLLY_MODEL (default: the repo's test model),
WOOLLY_E2E_SCREENSHOT (default /tmp/woolly-e2e.png).
"""

import json
import os
import shutil
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
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
CRASH_PROMPT = "Now write another long story, about a robot who plants a forest."
# The app writes a streaming reply to SQLite at least this often (src-tauri/src/turn.rs
# FLUSH_EVERY is 250 ms); waiting longer than this before the kill means what was on screen
# must be on disk.
FLUSH_WAIT_S = 0.6
ATTACH_NAME = "pantry.md"
ATTACH_TEXT = "# Pantry\n\n- flour: 2 kg\n- honey: 1 jar\n- the secret word is marmalade\n"
ATTACH_PROMPT = "What is the secret word in the file?"


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


def descendants(root):
    """Pids of every process below `root` (tauri-driver -> WebKitWebDriver -> the app)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        pid = int(text.split(" ", 1)[0])
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def app_pid(driver):
    """The woolly-desktop process tauri-driver started (never another session's app)."""
    want = APP.resolve()
    pids = []
    for pid in descendants(driver.pid):
        try:
            if Path(f"/proc/{pid}/exe").resolve() == want:
                pids.append(pid)
        except OSError:
            pass
    assert len(pids) == 1, f"expected one {APP.name} under tauri-driver, found {pids}"
    return pids[0]


def wait_dead(pid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)
    raise RuntimeError(f"process {pid} still alive {timeout}s after SIGKILL")


def saved_messages(db_path):
    """Every saved message, oldest first, read straight from the app's SQLite database (a
    read-only reader: WAL lets it look while the app writes, and after a crash it sees what
    was committed)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return con.execute(
            "SELECT conversation_id, id, role, content, stats FROM messages ORDER BY seq").fetchall()
    finally:
        con.close()


def http_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, json.loads(r.read())


def words(text):
    """Words of a text, for comparing raw Markdown with its rendering (markup and list
    numbers are not words)."""
    return [w for w in re.findall(r"[^\W_]+", text.lower()) if not w.isdigit()]


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
        # What the attach dialog "returns" (src-tauri/src/commands/attachments.rs).
        "WOOLLY_E2E_ATTACH_FILES": str(home / ATTACH_NAME),
    })
    (home / ATTACH_NAME).write_text(ATTACH_TEXT)
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

        # 4. Kill the app (SIGKILL: no exit handler runs) while a reply streams, restart it:
        # no earlier message is lost, and the reply keeps what streamed before the kill.
        db_path = home / "data/woolly.db"
        earlier = saved_messages(db_path)
        assert len(earlier) == 4 and len({r[0] for r in earlier}) == 1, earlier
        before, _ = app.send(CRASH_PROMPT)
        streaming, _ = app.wait_streaming_text(before, 80, timeout=120)
        time.sleep(FLUSH_WAIT_S)
        on_screen = app.content(streaming)
        assert app.s.attr(streaming, "data-streaming") == "true", "the reply ended before the kill"
        pid = app_pid(driver)
        os.kill(pid, signal.SIGKILL)
        wait_dead(pid)
        killed_at = time.perf_counter()
        log(f"killed {APP.name} (pid {pid}) mid-reply with {len(on_screen)} chars on screen")
        app.s.quit()
        app = None

        rows = saved_messages(db_path)
        assert rows[:4] == earlier, "an earlier message changed or vanished after the kill"
        assert len(rows) == 6, rows
        conv, _, role, content, stats = rows[4]
        assert (conv, role, content, stats) == (earlier[0][0], "user", CRASH_PROMPT, None), rows[4]
        conv, _, role, partial_raw, stats = rows[5]
        assert (conv, role, stats) == (earlier[0][0], "assistant", None), rows[5]
        # What was on screen FLUSH_WAIT_S before the kill is on disk (80 rendered characters).
        assert len(partial_raw.strip()) >= 60, repr(partial_raw)
        log(f"on disk after the kill: 4 earlier messages unchanged, the prompt, and "
            f"{len(partial_raw)} chars of the interrupted reply")

        app = App(url)
        item = app.s.wait("the conversation after the kill", lambda: next(
            (e for e in app.s.find_all('[data-testid="conversation-item"]') if (app.s.prop(e, "textContent") or "").strip().startswith(FIRST_PROMPT[:20])), None), timeout=30)
        log(f"restarted in {(time.perf_counter() - killed_at):.1f} s")
        app.s.click(item)
        app.s.wait("6 messages", lambda: len(app.messages()) == 6, timeout=30)
        after = [app.content(m) for m in app.messages()]
        assert after[:4] == texts, (after[:4], texts)
        assert after[4].strip() == CRASH_PROMPT, after[4]
        shown = words(after[5])
        assert shown and set(words(partial_raw)) <= set(shown), (after[5], partial_raw)
        last = app.messages()[-1]
        assert app.s.attr(last, "data-streaming") == "false", "the interrupted reply still looks live"
        # Nothing is stuck: the composer is ready and the reply can be generated again.
        app.s.find('[data-testid="send-button"]', timeout=5)
        app.s.find('[data-testid="regenerate-button"]', root=last, timeout=5)
        log("after the kill and a restart all 6 messages are back, the interrupted reply as saved")
        app.shot(str(SHOT.with_name(SHOT.stem + "-after-kill.png")))

        # 5. Settings, through the real IPC and its capability: start the local API server on
        # a free port, call it like any OpenAI client would, add it as a remote provider.
        text = lambda el: app.s.prop(el, "textContent") or ""  # noqa: E731
        app.s.click(app.s.find('[data-testid="nav-settings"]'))
        status = app.s.find('[data-testid="server-status"]', timeout=10)
        app.s.wait("the server status", lambda: "Stopped" in text(status), timeout=10)
        api_port = free_port()
        port_box = app.s.find('[data-testid="server-port"]')
        app.s.clear(port_box)
        app.s.type(port_box, str(api_port))
        app.s.click(app.s.find('[data-testid="server-toggle"]'))
        base = f"http://127.0.0.1:{api_port}/v1"
        app.s.wait("the server to listen", lambda: base in text(status), timeout=30)
        code, models = http_json(f"{base}/models")
        served = models["data"][0]["id"]
        assert code == 200 and served == MODEL.stem, models
        log(f"local API server listening at {base}, serving {served}")

        app.s.type(app.s.find('[data-testid="provider-name"]'), "This computer")
        app.s.type(app.s.find('[data-testid="provider-url"]'), base)
        app.s.click(app.s.find('[data-testid="provider-add"]'))
        listed = app.s.find('[data-testid="provider-models"]', timeout=30)
        assert served in text(listed), text(listed)
        app.shot(str(SHOT.with_name(SHOT.stem + "-settings.png")))

        # A new chat on the provider's model: the reply streams in over HTTP.
        app.s.click(app.s.find('[data-testid="nav-chat"]'))
        app.s.click(app.s.find('[data-testid="new-chat"]'))
        app.s.click(app.s.find('[data-testid="conversation-settings-toggle"]'))
        app.s.click(app.s.find('[data-testid="conversation-model"] option[value^="remote:"]', timeout=30))
        app.s.click(app.s.find('[data-testid="conversation-settings-save"]'))
        chip = app.s.find('[data-testid="remote-model-chip"]', timeout=10)
        assert "This computer" in text(chip), text(chip)
        before, _ = app.send("Name three colors.")
        app.wait_streaming_text(before, 1, timeout=120)
        remote_reply = app.content(app.wait_idle(timeout=120))
        assert remote_reply.strip(), "empty reply through the provider"
        last = saved_messages(db_path)[-1]
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        model_id = con.execute("SELECT model_id FROM messages WHERE id = ?", (last[1],)).fetchone()[0]
        con.close()
        assert model_id.startswith("remote:") and model_id.endswith(served), model_id
        log(f"chatted through the provider: {remote_reply[:80]!r}")
        app.shot(str(SHOT.with_name(SHOT.stem + "-remote.png")))

        app.s.click(app.s.find('[data-testid="nav-settings"]'))
        status = app.s.find('[data-testid="server-status"]', timeout=10)
        app.s.click(app.s.find('[data-testid="server-toggle"]'))
        app.s.wait("the server to stop", lambda: "Stopped" in text(status), timeout=30)
        try:
            http_json(f"{base}/models")
            raise AssertionError("the server still answers after Stop")
        except urllib.error.URLError:
            pass
        log("server stopped; its port is closed")

        # 6. Files in a chat: attach a file, see its chip, ask about it; the file is saved with
        # the message, its chip shows its tokens, the context meter shows every part.
        app.s.click(app.s.find('[data-testid="nav-chat"]'))
        app.s.click(app.s.find('[data-testid="new-chat"]'))
        app.s.click(app.s.find('[data-testid="attach-button"]'))
        chip = app.s.find('[data-testid="attachment-chips"] [data-testid="attachment-chip"]', timeout=10)
        assert ATTACH_NAME in text(chip), text(chip)
        before, _ = app.send(ATTACH_PROMPT)
        app.wait_streaming_text(before, 1, timeout=120)
        answer = app.content(app.wait_idle(timeout=120))
        sent = app.s.find('[data-testid="message-attachments"]', timeout=10)
        app.s.wait("the file's token count", lambda: "tokens" in text(sent), timeout=30)
        parts = app.s.find('[data-testid="context-parts"]', timeout=30)
        app.s.wait("the meter by part", lambda: re.search(r"Files [1-9]", text(parts)), timeout=30)
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        saved = con.execute(
            "SELECT a.name, a.content, m.content FROM attachments a JOIN messages m ON m.id = a.message_id").fetchall()
        con.close()
        assert saved == [(ATTACH_NAME, ATTACH_TEXT, ATTACH_PROMPT)], saved
        log(f"attached {ATTACH_NAME}: chip {text(sent).strip()!r}, meter {text(parts).strip()!r}; "
            f"answer {answer[:80]!r}")
        app.shot(str(SHOT.with_name(SHOT.stem + "-attachment.png")))
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
