#!/usr/bin/env python3
"""End-to-end test of the real woolly-desktop window under Xvfb, driven through tauri-driver
and WebKitWebDriver with the real test model:

  send a message and watch the reply stream in; stop a long reply mid-way; restart the app
  and find the conversation again (with the partial reply); save a screenshot; kill the app
  (SIGKILL) in the middle of another reply, restart it and check that no earlier message was
  lost and that the reply streamed so far was kept; edit the first message (a new version,
  2/2, with its own reply), switch back to 1/2 and see the old thread, save a screenshot of
  the branched conversation, export it as JSON and import it again (the native dialogs are
  answered by the app's test hook WOOLLY_TEST_DIALOG_PATH), the copy showing the same
  branch and switching the same way; in Settings start the local API server,
  call it over HTTP, add it as a remote provider and chat through it; attach a file to a new
  chat (the dialog's answer given by WOOLLY_E2E_ATTACH_FILES), ask about it and find it saved
  with the message, its chip showing its tokens and the context meter by part, and export it
  (the file is in the JSON with its message); run axe-core (colour contrast included) on
  Settings and the chat in the dark and the light theme and on Models; in Models
  search the Hugging Face Hub against a loopback stand-in of its API (the recorded response
  shapes of crates/woolly-hub/tests/fixtures/hf/), open a repository (a split model is
  refused), save a screenshot, download a file from the stand-in with a pause and a resume
  (HTTP Range), import a GGUF file through the native file dialog (driven with XTest) and
  delete both; print the first-token latency.

Environment: WOOLLY_DESKTOP_BIN (the app), TAURI_DRIVER (tauri-driver), WEBKIT_DRIVER
(default /usr/bin/WebKitWebDriver), WOOLLY_MODEL (default: the repo's test model),
WOOLLY_E2E_SCREENSHOT (default /tmp/woolly-e2e.png; the other screenshots are saved next to
it: -before-restart, -after-kill, -branches, -imported, -settings, -remote, -attachment, -hub-search),
WOOLLY_E2E_ONLY=models (only the Models steps: Hub search, download with pause and resume,
import, delete).
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
import hashlib
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from webdriver import ELEMENT, ENTER, Session, WebDriverError  # noqa: E402

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
EDIT_PROMPT = "Name one color."
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


HF_FIXTURES = REPO / "crates/woolly-hub/tests/fixtures/hf"
HUB_REPO = "woolly-e2e/SmolLM2-135M-Instruct-GGUF"
HUB_FILE = "smollm2-135m-e2e-Q4_1.gguf"
HUB_SPLIT = "split/smollm2-135m-e2e-Q8_0-00001-of-00002.gguf"
# Bytes per second the stand-in serves the model at: slow enough to pause mid-way.
HUB_RATE = 8 * 1024 * 1024


class HubStandIn:
    """A loopback stand-in of the Hugging Face Hub API: /api/models (the recorded search
    shape, with the e2e repository first), /api/models/{repo}/tree/main (the recorded tree
    shape, the test model as an LFS file with its real SHA-256, a split model in a folder)
    and /{repo}/resolve/main/{file} (the model, throttled, with HTTP Range)."""

    def __init__(self, model):
        self.data = model.read_bytes()
        self.sha = hashlib.sha256(self.data).hexdigest()
        self.log = []
        search = json.loads((HF_FIXTURES / "search-gguf.json").read_text())
        first = dict(search[0], _id="66e9a7d0d6f1c4f3a2b9e0ff", id=HUB_REPO, downloads=4321,
                     likes=7, lastModified="2025-11-02T09:30:00.000Z")
        self.search = json.dumps([first] + search).encode()
        tree = json.loads((HF_FIXTURES / "tree-qwen2.5-7b-instruct.json").read_text())
        by_type = {e["type"]: e for e in tree}
        lfs_file = next(e for e in tree if "lfs" in e)
        part = lambda n: dict(lfs_file, path=HUB_SPLIT.replace("00001", f"0000{n}"),  # noqa: E731
                              lfs=dict(lfs_file["lfs"], size=1 << 30))
        self.tree = json.dumps([
            tree[0], tree[1], dict(by_type["directory"], path="split"), part(1), part(2),
            dict(lfs_file, path=HUB_FILE, lfs=dict(lfs_file["lfs"], oid=self.sha, size=len(self.data))),
        ]).encode()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                stand_in.log.append((url.path, urllib.parse.parse_qs(url.query), self.headers.get("Range")))
                if url.path == "/api/models":
                    return self.send(stand_in.search)
                if url.path == f"/api/models/{HUB_REPO}/tree/main":
                    return self.send(stand_in.tree)
                if url.path == f"/{HUB_REPO}/resolve/main/{HUB_FILE}":
                    return self.file()
                self.send(b'{"error":"Repository not found"}', 404)

            def send(self, body, status=200):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def file(self):
                data = stand_in.data
                start = 0
                m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if m:
                    start = int(m.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                chunk = HUB_RATE // 20
                try:
                    for at in range(start, len(data), chunk):
                        self.wfile.write(data[at:at + chunk])
                        time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # paused: the app closed the connection

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self, path):
        return [(q, r) for p, q, r in self.log if p == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class XTest:
    """Types into the native file dialog, which WebDriver cannot reach, through the X
    server's XTest extension (libX11 and libXtst, which GTK's stack already brings)."""

    def __init__(self):
        import ctypes
        self.c = ctypes
        self.x = ctypes.CDLL("libX11.so.6")
        self.t = ctypes.CDLL("libXtst.so.6")
        self.x.XOpenDisplay.restype = ctypes.c_void_p
        self.x.XDefaultRootWindow.restype = ctypes.c_ulong
        self.x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.x.XStringToKeysym.restype = ctypes.c_ulong
        self.x.XStringToKeysym.argtypes = [ctypes.c_char_p]
        self.x.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        self.x.XKeysymToKeycode.restype = ctypes.c_ubyte
        self.x.XKeycodeToKeysym.argtypes = [ctypes.c_void_p, ctypes.c_ubyte, ctypes.c_int]
        self.x.XKeycodeToKeysym.restype = ctypes.c_ulong
        self.x.XFetchName.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_char_p)]
        self.x.XQueryTree.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_ulong),
                                      ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.POINTER(ctypes.c_ulong)),
                                      ctypes.POINTER(ctypes.c_uint)]
        self.x.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
        self.x.XFlush.argtypes = [ctypes.c_void_p]
        self.x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.t.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
        self.d = self.x.XOpenDisplay(None)
        if not self.d:
            raise RuntimeError("cannot open the X display")

    def windows(self, win=None):
        c = self.c
        win = win or self.x.XDefaultRootWindow(self.d)
        root, parent, children, n = c.c_ulong(), c.c_ulong(), c.POINTER(c.c_ulong)(), c.c_uint()
        if not self.x.XQueryTree(self.d, win, c.byref(root), c.byref(parent), c.byref(children), c.byref(n)):
            return []
        found = [children[i] for i in range(n.value)]
        return found + [w for child in found for w in self.windows(child)]

    def find(self, title):
        for w in self.windows():
            name = self.c.c_char_p()
            if self.x.XFetchName(self.d, w, self.c.byref(name)) and name.value and title in name.value.decode(errors="replace"):
                return w
        return None

    def key(self, keysym_name, shift=False, ctrl=False):
        sym = self.x.XStringToKeysym(keysym_name.encode())
        code = self.x.XKeysymToKeycode(self.d, sym)
        if not code:
            raise RuntimeError(f"no key for {keysym_name}")
        shift = shift or self.x.XKeycodeToKeysym(self.d, code, 0) != sym
        mods = [m for m, on in (("Control_L", ctrl), ("Shift_L", shift)) if on]
        mod_codes = [self.x.XKeysymToKeycode(self.d, self.x.XStringToKeysym(m.encode())) for m in mods]
        for mc in mod_codes:
            self.t.XTestFakeKeyEvent(self.d, mc, 1, 0)
        self.t.XTestFakeKeyEvent(self.d, code, 1, 0)
        self.t.XTestFakeKeyEvent(self.d, code, 0, 0)
        for mc in reversed(mod_codes):
            self.t.XTestFakeKeyEvent(self.d, mc, 0, 0)
        self.x.XSync(self.d, 0)
        time.sleep(0.02)

    NAMES = {"/": "slash", ".": "period", "-": "minus", "_": "underscore", " ": "space", ":": "colon"}

    def type(self, text):
        for ch in text:
            self.key(self.NAMES.get(ch, ch))

    def choose_file(self, title, path, timeout=30):
        deadline = time.time() + timeout
        while (win := self.find(title)) is None:
            if time.time() > deadline:
                raise RuntimeError(f"no window titled {title!r}")
            time.sleep(0.2)
        time.sleep(1.0)  # let the dialog map and take its first focus
        self.x.XSetInputFocus(self.d, win, 2, 0)  # RevertToParent, CurrentTime
        self.x.XSync(self.d, 0)
        self.key("l", ctrl=True)
        time.sleep(0.5)
        self.type(str(path))
        time.sleep(0.5)
        self.key("Return")


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

    def version(self, message):
        """The `‹ n/m ›` of a message as "n/m" (its accessible name: "Version n of m"), or
        None when it has a single version."""
        found = self.s.find_all('[data-testid="version-switcher"]', root=message)
        if not found:
            return None
        name = self.s.attr(found[0], "aria-label") or ""
        label = self.s.prop(self.s.find('[data-testid="version-label"]', root=found[0]), "textContent")
        m = re.fullmatch(r"Version (\d+) of (\d+)", name)
        assert m and label == f"{m[1]}/{m[2]}", (name, label)
        return label

    def find_conversation(self, prefix, timeout=30, skip=()):
        return self.s.wait(f"a conversation {prefix!r} in the sidebar", lambda: next(
            (e for e in self.s.find_all('[data-testid="conversation-item"]')
             if (self.s.prop(e, "textContent") or "").strip().startswith(prefix)
             and self.s.attr(e, "data-conversation-id") not in skip), None), timeout=timeout)

    def shot(self, path):
        time.sleep(0.6)  # let the last frame paint
        size = self.s.screenshot(path)
        log(f"screenshot {path} ({size} bytes)")


# axe-core (the UI's pinned dev dependency) checks the live window, colour contrast included,
# which jsdom (the vitest accessibility checks) cannot judge.
AXE_JS = next((p for p in (REPO / "node_modules/axe-core/axe.min.js", REPO / "ui/node_modules/axe-core/axe.min.js")
               if p.exists()), None)


def axe_check(app, view):
    """No axe-core violations on what the window shows now."""
    assert AXE_JS, "axe-core is not installed (npm ci)"
    # Colours mid-transition (a theme just changed) are neither theme's: wait until the
    # page's colours stop changing (the window's frame clock is slow under Xvfb).
    colours = "return [...document.querySelectorAll('body *')].map((e) => " \
        "{ const s = getComputedStyle(e); return s.color + s.backgroundColor; }).join()"
    seen = [None]

    def settled():
        now = app.s.script(colours)
        same, seen[0] = now == seen[0], now
        return same
    app.s.wait("the colours to settle", settled, timeout=30, interval=0.5)
    if not app.s.script("return !!window.axe"):
        app.s.script(AXE_JS.read_text() + "\nreturn !!window.axe")
    found = json.loads(app.s.script_async("""
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ["violations"] })
          .then((r) => done(JSON.stringify(r.violations.map((v) => ({
            id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ") + ": " + n.failureSummary) })))))
          .catch((e) => done(JSON.stringify([{ id: "axe-error", help: String(e), nodes: [] }])));"""))
    assert not found, f"axe-core on {view}:\n" + "\n".join(
        f"- {v['id']} ({v['help']}): " + "; ".join(v["nodes"][:6]) for v in found)
    log(f"axe-core: no violations on {view}")


def models_steps(app, hub, home):
    """Models: Hugging Face search against the stand-in, a download paused and resumed, an
    import through the native dialog, deletes."""
    text = lambda el: app.s.prop(el, "textContent") or ""  # noqa: E731
    # 9. Models: search the Hub (a loopback stand-in of its API), sort by recency, open a
    # repository: its GGUF files with quantization, size and a fit badge; a split model
    # is listed and refused.
    app.s.click(app.s.find('[data-testid="nav-models"]'))
    box = app.s.find('[data-testid="hub-search-input"]', timeout=10)
    app.s.type(box, "smollm")
    app.s.type(box, ENTER)
    result = f'[data-testid="hub-result"][data-repo-id="{HUB_REPO}"]'
    app.s.find(result, timeout=30)
    searched = hub.requests("/api/models")
    assert searched and searched[-1][0].get("sort") == ["downloads"], searched
    assert searched[-1][0].get("search") == ["smollm"] and searched[-1][0].get("filter") == ["gguf"], searched
    app.s.click(app.s.find('[data-testid="hub-sort"] option[value="recent"]'))
    app.s.wait("a search sorted by recency",
               lambda: hub.requests("/api/models")[-1][0].get("sort") == ["lastModified"], timeout=30)
    app.s.find(result, timeout=30)
    shown = [app.s.attr(e, "data-repo-id") for e in app.s.find_all('[data-testid="hub-result"]')]
    assert shown[0] == HUB_REPO and "google/gemma-2-2b-it-GGUF" in shown, shown
    log(f"Hub search: {len(shown)} repositories, sort passed through (downloads, then lastModified)")
    app.s.click(app.s.find('[data-testid="hub-open-repo"]', root=app.s.find(result)))
    row = app.s.find(f'[data-testid="hub-file"][data-path="{HUB_FILE}"]', timeout=30)
    split = app.s.find(f'[data-testid="hub-file"][data-path="{HUB_SPLIT}"]')
    assert app.s.attr(split, "data-downloadable") == "false"
    note = text(app.s.find('[data-testid="hub-file-note"]', root=split))
    assert "single-file" in note, note
    assert "Q4_1" in text(row) and app.s.attr(app.s.find('[data-testid="fit-badge"]', root=row), "data-fit") == "fits", text(row)
    app.s.script("document.querySelector('[data-testid=\"hub-section\"]').scrollIntoView()")
    app.shot(str(SHOT.with_name(SHOT.stem + "-hub-search.png")))
    axe_check(app, "Models (Hugging Face results and a repository's files)")

    # Download it from the stand-in: pause mid-way (the .part stays still), resume (HTTP
    # Range from where it stopped), verified against the listing's SHA-256, installed.
    part = home / "data/models" / (HUB_FILE + ".part")
    app.s.click(app.s.find('[data-testid="hub-download"]', root=row))
    drow = app.s.find('[data-testid="download-row"]', timeout=30)
    app.s.wait("some bytes", lambda: part.exists() and part.stat().st_size > 8 << 20, timeout=60)
    app.s.click(app.s.find('[data-testid="pause-download"]', root=drow))
    app.s.wait("the download to pause", lambda: app.s.attr(
        app.s.find('[data-testid="download-row"]'), "data-status") == "paused", timeout=30)
    time.sleep(1.0)
    paused_at = part.stat().st_size
    time.sleep(1.0)
    assert part.stat().st_size == paused_at, "the download went on while paused"
    assert paused_at < len(hub.data), paused_at
    log(f"paused at {paused_at} of {len(hub.data)} bytes")
    app.s.click(app.s.find('[data-testid="resume-download"]'))
    model_row = f'[data-testid="installed-model"][data-model-id="{HUB_FILE}"]'
    app.s.find(model_row, timeout=120)
    ranges = [r for _, r in hub.requests(f"/{HUB_REPO}/resolve/main/{HUB_FILE}") if r]
    assert ranges and int(ranges[-1][len("bytes="):-1]) >= paused_at - (1 << 20), ranges
    installed = home / "data/models" / HUB_FILE
    assert hashlib.sha256(installed.read_bytes()).hexdigest() == hub.sha and not part.exists()
    assert not app.s.find_all('[data-testid="download-row"]')
    log(f"downloaded, resumed with Range {ranges[-1]}, verified and installed: {HUB_FILE}")

    # Import a GGUF file through the native open dialog (copied into the store).
    to_import = home / "import-me.gguf"
    shutil.copyfile(MODEL, to_import)
    app.s.click(app.s.find('button[data-testid="import-browse"]'))
    XTest().choose_file("Import a GGUF model", to_import)
    path_box = app.s.find('[data-testid="import-path"]')
    app.s.wait("the chosen path", lambda: app.s.prop(path_box, "value") == str(to_import), timeout=30)
    app.s.click(app.s.find('[data-testid="import-submit"]'))
    imported = '[data-testid="installed-model"][data-model-id="import-me.gguf"]'
    app.s.find(imported, timeout=60)
    assert (home / "data/models/import-me.gguf").is_file()
    log("imported a GGUF file chosen in the native dialog")

    # Delete both: the files leave the store and the list.
    for css, path in ((model_row, installed), (imported, home / "data/models/import-me.gguf")):
        app.s.click(app.s.find('[data-testid="delete-model"]', root=app.s.find(css)))
        app.s.click(app.s.find('[data-testid="confirm-delete-model"]', root=app.s.find(css)))
        app.s.wait("the model to go", lambda: not app.s.find_all(css), timeout=30)
        assert not path.exists(), path
    log("deleted the downloaded and the imported model: files and list entries gone")


def main():
    for what, path in (("app", APP), ("tauri-driver", TAURI_DRIVER), ("WebKitWebDriver", WEBKIT_DRIVER), ("model", MODEL)):
        if not Path(path).exists():
            sys.exit(f"e2e: {what} not found at {path}")
    home = Path(tempfile.mkdtemp(prefix="woolly-e2e-"))
    hub = HubStandIn(MODEL)
    os.environ.update({
        "WOOLLY_HF_ENDPOINT": hub.url,
        "WOOLLY_DATA_DIR": str(home / "data"),
        "WOOLLY_CONFIG_DIR": str(home / "config"),
        "WOOLLY_MODEL": str(MODEL),
        "XDG_DATA_HOME": str(home / "xdg-data"),
        "XDG_CONFIG_HOME": str(home / "xdg-config"),
        "XDG_CACHE_HOME": str(home / "xdg-cache"),
        "NO_AT_BRIDGE": "1",
        # The app's test hook: the export and import dialogs answer with this path.
        "WOOLLY_TEST_DIALOG_PATH": str(home / "export.json"),
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
        if os.environ.get("WOOLLY_E2E_ONLY") == "models":
            models_steps(app, hub, home)
            print("e2e: PASS (models steps only)", flush=True)
            return

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

        # 5. Edit and branch: editing the first message makes version 2/2 with its own reply;
        # ‹ 1/2 › shows the old thread again, every message as it was.
        first = app.messages()[0]
        assert app.version(first) is None
        edit = app.s.find('[data-testid="edit-button"]', root=first)
        app.s.script("arguments[0].focus()", {ELEMENT: edit})  # the actions show on focus
        app.s.click(edit)
        box = app.s.find('[data-testid="edit-input"]', timeout=5)
        app.s.clear(box)
        app.s.type(box, EDIT_PROMPT)
        app.s.click(app.s.find('[data-testid="edit-send"]'))
        app.s.wait("the edited thread", lambda: len(app.messages()) == 2
                   and app.content(app.messages()[0]).strip() == EDIT_PROMPT, timeout=60)
        edited_reply = app.content(app.wait_idle(timeout=120))
        assert edited_reply.strip(), "empty reply to the edit"
        assert app.version(app.messages()[0]) == "2/2", app.version(app.messages()[0])
        app.s.click(app.s.find('[data-testid="version-previous"]', root=app.messages()[0]))
        app.s.wait("the first version's thread", lambda: len(app.messages()) == 6, timeout=30)
        assert [app.content(m) for m in app.messages()] == after, "the old thread changed"
        assert app.version(app.messages()[0]) == "1/2"
        app.s.click(app.s.find('[data-testid="version-next"]', root=app.messages()[0]))
        app.s.wait("the second version again", lambda: len(app.messages()) == 2, timeout=30)
        assert app.content(app.messages()[1]) == edited_reply
        app.s.click(app.s.find('[data-testid="version-previous"]', root=app.messages()[0]))
        app.s.wait("back to 1/2", lambda: len(app.messages()) == 6, timeout=30)
        assert app.version(app.messages()[0]) == "1/2"
        log(f"edited the first message: 2/2 with its reply {edited_reply[:60]!r}; 1/2 shows the old 6 messages")
        app.shot(str(SHOT.with_name(SHOT.stem + "-branches.png")))

        # 6. Export the branched conversation as JSON and import it again: the whole tree,
        # the shown branch and the settings come back in a new conversation.
        active = app.s.find('[data-testid="conversation-item"][aria-current="page"]')
        original_id = app.s.attr(active, "data-conversation-id")
        app.s.click(app.s.find('[data-testid="export-conversation"]', root=app.s.find('.conversation-row.active')))
        app.s.click(app.s.find('[data-testid="export-json"]', timeout=5))
        app.s.find('[data-testid="export-status"]', timeout=30)
        exported = json.loads((home / "export.json").read_text())
        assert exported["version"] == 2, exported["version"]
        conv = exported["conversations"][0]
        assert len(conv["messages"]) == 8, len(conv["messages"])
        shown_ids = [app.s.attr(m, "data-message-id") for m in app.messages()]
        assert conv["currentId"] == shown_ids[-1], (conv["currentId"], shown_ids)
        roots = [m for m in conv["messages"] if m["parentId"] is None]
        assert [m["content"] for m in roots] == [FIRST_PROMPT, EDIT_PROMPT], roots
        app.s.click(app.s.find('[data-testid="nav-settings"]'))
        app.s.click(app.s.find('[data-testid="import-conversations"]', timeout=10))
        status = app.s.find('[data-testid="conversations-status"]')
        app.s.wait("the import", lambda: "mport" in (app.s.prop(status, "textContent") or ""), timeout=30)
        log(f"import: {app.s.prop(status, 'textContent')!r}")
        app.s.click(app.s.find('[data-testid="nav-chat"]'))
        copy = app.find_conversation(FIRST_PROMPT[:20], skip=(original_id,))
        app.s.click(copy)
        app.s.wait("the imported thread", lambda: len(app.messages()) == 6
                   and app.version(app.messages()[0]) == "1/2", timeout=30)
        assert [app.content(m) for m in app.messages()] == after, "the imported thread differs"
        app.s.click(app.s.find('[data-testid="version-next"]', root=app.messages()[0]))
        app.s.wait("the imported second version", lambda: len(app.messages()) == 2, timeout=30)
        assert app.content(app.messages()[1]) == edited_reply
        log("exported (JSON v2, 8 messages, 2 versions) and imported: the copy shows 1/2 and switches to 2/2")
        app.shot(str(SHOT.with_name(SHOT.stem + "-imported.png")))

        # 7. Settings, through the real IPC and its capability: start the local API server on
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
        axe_check(app, "Settings (light theme, server running, a provider)")
        def theme(value):  # applied once saved
            app.s.click(app.s.find(f'[data-testid="theme"] input[value="{value}"]'))
            app.s.click(app.s.find('[data-testid="settings-save"]'))
        theme("dark")
        app.s.wait("the dark theme", lambda: app.s.script("return document.documentElement.dataset.theme") == "dark")
        axe_check(app, "Settings (dark theme)")

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

        # 8. Files in a chat: attach a file, see its chip, ask about it; the file is saved with
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
        # Exported, the file travels with its message (name and text).
        (home / "export.json").unlink()
        app.s.click(app.s.find('[data-testid="export-conversation"]', root=app.s.find('.conversation-row.active')))
        app.s.click(app.s.find('[data-testid="export-json"]', timeout=5))
        app.s.wait("the export", lambda: (home / "export.json").exists(), timeout=30)
        exported = json.loads((home / "export.json").read_text())["conversations"][0]["messages"]
        files = [(m["content"], a["name"], a["text"]) for m in exported for a in m.get("attachments", [])]
        assert files == [(ATTACH_PROMPT, ATTACH_NAME, ATTACH_TEXT)], files
        log("exported the conversation: the attached file is in the JSON with its message")
        axe_check(app, "Chat (dark theme: messages, a file chip, the context meter)")
        app.s.click(app.s.find('[data-testid="nav-settings"]'))
        theme("light")
        app.s.wait("the light theme", lambda: app.s.script("return document.documentElement.dataset.theme") == "light")
        app.s.click(app.s.find('[data-testid="nav-chat"]'))
        app.s.find('[data-testid="context-parts"]', timeout=30)
        axe_check(app, "Chat (light theme: messages, a file chip, the context meter)")

        models_steps(app, hub, home)
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
        hub.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
