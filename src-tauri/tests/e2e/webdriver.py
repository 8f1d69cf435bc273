"""A minimal W3C WebDriver client (classic HTTP protocol, standard library only): enough to
drive the app through tauri-driver + WebKitWebDriver."""

import base64
import http.client
import json
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
ENTER = "\ue007"


class WebDriverError(RuntimeError):
    pass


class Session:
    def __init__(self, url, capabilities, timeout=60):
        self.url = url.rstrip("/")
        # The driver may accept connections before its native driver is ready: retry a bit.
        for attempt in range(3):
            try:
                value = self._call("POST", "/session", {"capabilities": capabilities}, timeout=timeout)
                break
            except (ConnectionError, OSError) as e:
                if attempt == 2:
                    raise WebDriverError(f"cannot start a session: {e}") from None
                time.sleep(2)
        self.id = value["sessionId"]

    def _call(self, method, path, body=None, timeout=30, retries=2):
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                payload = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            payload = json.loads(e.read() or b"{}")
            v = payload.get("value", {})
            raise WebDriverError(f"{method} {path}: {v.get('error')}: {v.get('message')}") from None
        except (http.client.RemoteDisconnected, ConnectionResetError):
            # tauri-driver now and then drops a request when its pooled connection to
            # WebKitWebDriver went stale; the request was not forwarded, so send it again.
            if retries == 0:
                raise
            time.sleep(0.2)
            return self._call(method, path, body, timeout, retries - 1)
        return payload.get("value")

    def cmd(self, method, path, body=None, timeout=30):
        return self._call(method, f"/session/{self.id}{path}", body, timeout)

    def quit(self):
        try:
            self.cmd("DELETE", "")
        except Exception:
            pass

    # elements
    def find_all(self, css, root=None):
        base = f"/element/{root}" if root else ""
        found = self.cmd("POST", f"{base}/elements", {"using": "css selector", "value": css})
        return [e[ELEMENT] for e in found]

    def find(self, css, timeout=30.0, root=None):
        deadline = time.time() + timeout
        while True:
            found = self.find_all(css, root)
            if found:
                return found[0]
            if time.time() > deadline:
                raise WebDriverError(f"no element matches {css!r} after {timeout}s")
            time.sleep(0.1)

    def click(self, el):
        self.cmd("POST", f"/element/{el}/click")

    def clear(self, el):
        self.cmd("POST", f"/element/{el}/clear")

    def type(self, el, text):
        self.cmd("POST", f"/element/{el}/value", {"text": text})

    def text(self, el):
        return self.cmd("GET", f"/element/{el}/text")

    def prop(self, el, name):
        return self.cmd("GET", f"/element/{el}/property/{name}")

    def attr(self, el, name):
        return self.cmd("GET", f"/element/{el}/attribute/{name}")

    def script(self, source, *args):
        return self.cmd("POST", "/execute/sync", {"script": source, "args": list(args)})

    def script_async(self, source, *args, timeout=60):
        """Runs `source` as an async script: it calls its last argument with the result."""
        self.cmd("POST", "/timeouts", {"script": int(timeout * 1000)})
        return self.cmd("POST", "/execute/async", {"script": source, "args": list(args)}, timeout=timeout + 10)

    def title(self):
        return self.cmd("GET", "/title")

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def wait(self, what, predicate, timeout=60.0, interval=0.05):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except WebDriverError as e:
                last = e
            time.sleep(interval)
        raise WebDriverError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
