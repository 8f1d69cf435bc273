#!/usr/bin/env python3
"""Install test of the Linux package (`make test-dist`, as root as CI runs it, or as a user
with password-less sudo for dpkg):

  install the .deb that `make dist` built with dpkg -i (apt-get -f install for missing
  dependencies); check that dpkg recorded exactly the package's files and that its desktop
  entry and AppStream metainfo validate and that the binary names no path of the build tree;
  put the test model where the installed app looks for models (the default per-user store, ~/.local/share/woolly/models, through
  `woolly pull` from loopback, in a fresh home with no WOOLLY_* overrides); start
  /usr/bin/woolly-desktop under Xvfb through tauri-driver + WebKitWebDriver, time the cold
  start to a usable window, take a screenshot and chat with the model; remove the package
  with dpkg -r and check that nothing of it is left in system paths.

Prints the installer sizes, the installed size, the cold start and the first token.
Environment: WOOLLY_DEB (default: the newest .deb under $CARGO_TARGET_DIR/release/bundle/deb),
WOOLLY_MODEL (default: the repo's test model), WOOLLY_DIST_SCREENSHOT (default
/tmp/woolly-dist.png); TAURI_DRIVER and WEBKIT_DRIVER as for the e2e test.
"""

import hashlib
import importlib.util
import http.server
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

INSTALLED_APP = Path("/usr/bin/woolly-desktop")
# The e2e harness drives whatever WOOLLY_DESKTOP_BIN names: here the installed app.
os.environ["WOOLLY_DESKTOP_BIN"] = str(INSTALLED_APP)
REPO = Path(__file__).resolve().parents[2]
E2E = REPO / "src-tauri/tests/e2e"
sys.path[:0] = [str(Path(__file__).parent), str(E2E)]
import package  # noqa: E402

# The desktop e2e harness (Xvfb, tauri-driver, the App driver), loaded under its own name.
_spec = importlib.util.spec_from_file_location("woolly_e2e", E2E / "run.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

TARGET = e2e.TARGET
BUNDLE = TARGET / "release/bundle"
WOOLLY_CLI = TARGET / "release/woolly"
MODEL = e2e.MODEL
SHOT = Path(os.environ.get("WOOLLY_DIST_SCREENSHOT", "/tmp/woolly-dist.png"))
PROMPT = "What is the capital of France?"


def log(msg):
    print(f"dist: {msg}", flush=True)


def mib(n_bytes):
    return f"{n_bytes / 2**20:.1f} MiB"


def newest(pattern):
    found = sorted(BUNDLE.glob(pattern), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def check_desktop_files(listed):
    """The desktop entry and the AppStream metainfo the bundle installed: both validate,
    and they point at what the package installed (binary, icon, each other)."""
    desktops = [p for p in listed if p.startswith("/usr/share/applications/") and p.endswith(".desktop")]
    metainfos = [p for p in listed if p.startswith("/usr/share/metainfo/") and p.endswith(".metainfo.xml")]
    assert len(desktops) == 1 and len(metainfos) == 1, (desktops, metainfos)
    package.run("desktop-file-validate", desktops[0])
    package.run("appstreamcli", "validate", "--no-net", metainfos[0])
    entry = dict(line.split("=", 1) for line in Path(desktops[0]).read_text().splitlines() if "=" in line)
    assert shutil.which(entry["Exec"].split()[0]) == str(INSTALLED_APP), entry["Exec"]
    icons = [p for p in listed if p.startswith("/usr/share/icons/hicolor/") and Path(p).name == entry["Icon"] + ".png"]
    assert icons, f"no hicolor icon named {entry['Icon']}"
    launchable = f'<launchable type="desktop-id">{Path(desktops[0]).name}</launchable>'
    assert launchable in Path(metainfos[0]).read_text(), f"the metainfo does not launch {desktops[0]}"
    log(f"{desktops[0]} and {metainfos[0]} validate; {len(icons)} icon sizes")


def check_no_build_paths():
    """The release binary names no path of the build machine's tree (no development fallback
    to the checkout, its models/ or ui/, or the build directory)."""
    binary = INSTALLED_APP.read_bytes()
    for path in {REPO, REPO.resolve(), TARGET, TARGET.resolve()}:
        assert str(path).encode() not in binary, f"{INSTALLED_APP} contains the build path {path}"
    log(f"{INSTALLED_APP} names no path of the build tree ({REPO}, {TARGET})")


def serve_directory(directory):
    """A loopback HTTP server over `directory`, in a thread: (base URL, server)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def install_model(app_env):
    """`woolly pull` of the test model from loopback into the default store of the fresh
    home: the store the installed app reads (index.json written by the hub, as for any
    download). Returns the model's store name."""
    sha = hashlib.sha256(MODEL.read_bytes()).hexdigest()
    base, server = serve_directory(MODEL.parent)
    try:
        out = subprocess.run([str(WOOLLY_CLI), "pull", f"{base}/{MODEL.name}", "--sha256", sha],
                             env=app_env, capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    if out.returncode != 0:
        raise RuntimeError(f"woolly pull failed:\n{out.stderr}")
    stored = Path(out.stdout.strip())
    expected = Path(app_env["HOME"]) / ".local/share/woolly/models" / MODEL.name
    assert stored == expected, (stored, expected)
    log(f"test model in the default store: {stored}")
    return MODEL.name


def app_environment(home):
    """A user with a fresh home and no overrides: the app finds everything in its default
    places (~/.local/share/woolly, ~/.config/woolly)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WOOLLY_", "XDG_")) and k != "CARGO_TARGET_DIR"}
    env.update({"HOME": str(home), "NO_AT_BRIDGE": "1"})
    return env


def chat_in_window(home, model_name):
    """Starts the installed app (tauri-driver + WebKitWebDriver under Xvfb), times the cold
    start to a usable window, chats once. Returns (cold start s, first token ms, reply)."""
    config = home / ".config/woolly"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({"version": 1, "settings": {
        "defaultParams": {"temperature": 0.3, "seed": 42, "maxTokens": 48, "contextLength": 1024}}}))
    xvfb = e2e.start_xvfb()
    port = e2e.free_port()
    driver = subprocess.Popen([e2e.TAURI_DRIVER, "--port", str(port), "--native-port", str(e2e.free_port()),
                               "--native-driver", e2e.WEBKIT_DRIVER],
                              stdout=subprocess.DEVNULL, stderr=open(home / "tauri-driver.log", "w"))
    app = None
    try:
        e2e.wait_port(port, driver)
        started = time.perf_counter()
        app = e2e.App(f"http://127.0.0.1:{port}")  # returns once the message box is there
        cold_start = time.perf_counter() - started
        assert app.s.title() == "Woolly", app.s.title()
        e2e.app_pid(driver)  # the installed binary, and only it, runs under the driver
        log(f"usable window {cold_start:.2f} s after launch (first start, fresh profile)")
        app.s.click(app.s.find('[data-testid="new-chat"]'))
        before, sent_at = app.send(PROMPT)
        app.wait_streaming_text(before, 1, timeout=120)
        first_token_ms = (time.perf_counter() - sent_at) * 1000
        reply = app.content(app.wait_idle(timeout=120))
        assert reply.strip(), "empty reply"
        app.shot(str(SHOT))
        assert SHOT.stat().st_size > 10_000, f"{SHOT} looks blank ({SHOT.stat().st_size} bytes)"
        # The history went to the default data dir, with the installed model's name.
        db = home / ".local/share/woolly/woolly.db"
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            role, model_id = con.execute("SELECT role, model_id FROM messages ORDER BY seq DESC LIMIT 1").fetchone()
        finally:
            con.close()
        assert (role, model_id) == ("assistant", model_name), (role, model_id)
        log(f"chatted with {model_name}: {reply[:80]!r}")
        return cold_start, first_token_ms, reply
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
        e2e.stop(driver)
        e2e.stop(xvfb)


def main():
    if os.geteuid() != 0 and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode != 0:
        sys.exit("dist: the install test installs a system package: run it as root or as a user "
                 "with password-less sudo")
    deb = Path(os.environ["WOOLLY_DEB"]) if os.environ.get("WOOLLY_DEB") else newest("deb/*.deb")
    rpm = newest("rpm/*.rpm")
    for what, path in (("the .deb (make dist)", deb), ("woolly (make build)", WOOLLY_CLI), ("the model", MODEL),
                       ("tauri-driver", e2e.TAURI_DRIVER), ("WebKitWebDriver", e2e.WEBKIT_DRIVER)):
        if not path or not Path(path).exists():
            sys.exit(f"dist: {what} not found{f' at {path}' if path else ''}")
    if package.status() is not None:
        sys.exit(f"dist: the {package.PACKAGE} package is already known to dpkg ({package.status()}); "
                 f"remove it first (dpkg --purge {package.PACKAGE}): this test installs and removes it")
    log(f"{deb.name} ({mib(deb.stat().st_size)}), version {package.deb_field(deb, 'Version')}, "
        f"depends: {package.deb_field(deb, 'Depends')}")

    shipped = package.deb_paths(deb)
    existed_before = {p for p in shipped if Path(p).exists()}
    names_before = package.woolly_names()
    home = Path(tempfile.mkdtemp(prefix="woolly-dist-"))
    os.chmod(home, 0o755)
    try:
        started = time.perf_counter()
        package.install(deb)
        log(f"installed in {time.perf_counter() - started:.1f} s")
        listed = package.listed_files()
        if set(listed) != set(shipped):
            raise AssertionError(f"dpkg -L differs from the .deb: only listed {sorted(set(listed) - set(shipped))}, "
                                 f"only shipped {sorted(set(shipped) - set(listed))}")
        assert INSTALLED_APP.is_file() and os.access(INSTALLED_APP, os.X_OK), INSTALLED_APP
        installed_kib = package.installed_size_kib()
        check_desktop_files(listed)
        check_no_build_paths()

        env = app_environment(home)
        model_name = install_model(env)
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)  # tauri-driver hands its environment down to the app
        try:
            cold_start, first_token_ms, _ = chat_in_window(home, model_name)
        finally:
            os.environ.clear()
            os.environ.update(saved)

        package.remove()
        gone = package.status()
        assert gone is None or not gone.endswith(" installed"), f"still installed: {gone}"
        left = package.leftovers(listed, existed_before)
        assert not left, f"left on disk after dpkg -r: {left}"
        names_after = package.woolly_names()
        assert names_after == names_before, f"new woolly paths after removal: {sorted(set(names_after) - set(names_before))}"
        log(f"removed: none of the {len(listed)} paths dpkg listed is left (beyond "
            f"{len(existed_before)} shared directories), no woolly path in {', '.join(package.SYSTEM_ROOTS)}")
    finally:
        if package.status() is not None:
            package.purge()
        shutil.rmtree(home, ignore_errors=True)

    sizes = f".deb {mib(deb.stat().st_size)}" + (f", .rpm {mib(rpm.stat().st_size)}" if rpm else "")
    print(f"dist: PASS: installers {sizes}; installed size {installed_kib / 1024:.1f} MiB; cold start to a "
          f"usable window {cold_start:.2f} s; first token {first_token_ms:.0f} ms (model load included); "
          f"screenshot {SHOT}", flush=True)


if __name__ == "__main__":
    main()
