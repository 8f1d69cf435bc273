#!/usr/bin/env python3
"""Soak `woolly serve`: many clients at once, a mix of what real clients do, on loopback.

Each client loops until its time is up, picking at random: chat and completions (plain and
streamed), the WebSocket, a stream cancelled by closing the connection after its first chunk,
a WebSocket `cancel`, and malformed requests (bad JSON, bad fields). Per concurrency level it
reports requests/s, p50/p99 time to first token of the streams, outcomes by kind, and the
server's RSS over time.

Outcomes: `ok`; `busy` (429 beyond the queue: correct behaviour under load); `refused` (the
400 a malformed request must get). Defects: any 5xx, a malformed request not answered 400, a
dropped connection or a timeout, a stream without its end, and RSS that keeps growing after
warm-up. Exit status 1 on any defect.

    python3 scripts/soak.py [--bin target/release/woolly] [--model M] [--levels 1,8,32] [--seconds 30]
"""

import argparse
import base64
import http.client
import json
import os
import random
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/woolly/target"))
CHAT = {"messages": [{"role": "user", "content": "Name a fruit."}], "max_tokens": 12}
COMPLETION = {"prompt": "The capital of France is", "max_tokens": 12}
MALFORMED = [
    b"{not json",
    b'{"messages": "hello"}',
    b'{"messages": [{"role": "user", "content": "hi"}], "temperature": 9}',
    b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1}',
    b'{"prompt": 5}',
    b'{"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_schema", "json_schema": {"schema": 5}}}',
    b'{"messages": [{"role": "user", "content": "hi"}], "tool_choice": "required"}',
]
TIMEOUT = 120


class Defect(Exception):
    """Something a client must never see."""


def start_server(binary, model):
    proc = subprocess.Popen(
        [str(binary), "serve", "-m", str(model), "--port", "0", "--ctx", "1024"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    for line in proc.stdout:
        if line.startswith("listening on "):
            url = line.split("listening on ", 1)[1].strip()
            host, port = url.removeprefix("http://").split(":")
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, host, int(port)
    raise SystemExit("woolly serve did not start")


def rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def status_of(code, malformed=False):
    if malformed:
        if code == 400:
            return "refused"
        raise Defect(f"malformed request answered {code}")
    if code == 200:
        return "ok"
    if code == 429:
        return "busy"
    raise Defect(f"HTTP {code}")


class Client:
    def __init__(self, host, port):
        self.host, self.port = host, port

    def conn(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)

    def post(self, path, body, malformed=False):
        c = self.conn()
        try:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            c.request("POST", path, raw, {"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            kind = status_of(r.status, malformed)
            if kind == "ok" and "choices" not in json.loads(data):
                raise Defect("a 200 without choices")
            return kind, None
        finally:
            c.close()

    def stream(self, path, body, cancel=False):
        """SSE: time to the first chunk; reads to [DONE] unless cancelling after it."""
        c = self.conn()
        try:
            t0 = time.monotonic()
            c.request("POST", path, json.dumps(dict(body, stream=True)).encode(),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            kind = status_of(r.status)
            if kind != "ok":
                r.read()
                return kind, None
            ttft = None
            while True:
                line = r.readline()
                if not line:
                    raise Defect("stream ended without [DONE]")
                line = line.strip()
                if not line.startswith(b"data: "):
                    continue
                payload = line[6:]
                if payload == b"[DONE]":
                    return "ok", ttft
                event = json.loads(payload)
                if "error" in event:
                    raise Defect(f"stream error: {event['error'].get('message')}")
                choice = (event.get("choices") or [{}])[0]
                text = choice.get("text") or (choice.get("delta") or {}).get("content")
                if ttft is None and text:  # the first generated text, not the role chunk
                    ttft = time.monotonic() - t0
                    if cancel:
                        return "ok", ttft  # closing the connection cancels the generation
        finally:
            c.close()

    def websocket(self, cancel=False):
        """A chat over /v1/ws with the stdlib: the handshake, masked text frames, `done`."""
        s = socket.create_connection((self.host, self.port), timeout=TIMEOUT)
        try:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall((f"GET /v1/ws HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    raise Defect("WebSocket handshake dropped")
                head += chunk
            status = int(head.split(b" ", 2)[1])
            if status != 101:
                return status_of(status), None
            buf = head.split(b"\r\n\r\n", 1)[1]
            t0 = time.monotonic()
            ws_send(s, dict(CHAT, type="chat"))
            ttft = None
            while True:
                message, buf = ws_recv(s, buf)
                kind = message.get("type")
                if kind == "token" and ttft is None:
                    ttft = time.monotonic() - t0
                    if cancel:
                        ws_send(s, {"type": "cancel"})
                elif kind == "done":
                    if cancel and message.get("finish_reason") not in ("cancelled", "stop", "length"):
                        raise Defect(f"cancelled WebSocket ended with {message.get('finish_reason')}")
                    return "ok", ttft
                elif kind == "error":
                    return status_of(message.get("status", 500)), None
        finally:
            s.close()


def ws_send(s, obj):
    data = json.dumps(obj).encode()
    mask = os.urandom(4)
    n = len(data)
    head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    s.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def ws_recv(s, buf):
    def need(k):
        nonlocal buf
        while len(buf) < k:
            chunk = s.recv(65536)
            if not chunk:
                raise Defect("WebSocket dropped mid-reply")
            buf += chunk
    while True:
        need(2)
        opcode, n, at = buf[0] & 0x0F, buf[1] & 0x7F, 2
        if n == 126:
            need(4)
            n, at = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            need(10)
            n, at = int.from_bytes(buf[2:10], "big"), 10
        need(at + n)
        payload, buf = buf[at:at + n], buf[at + n:]
        if opcode == 1:
            return json.loads(payload), buf
        if opcode == 8:
            raise Defect("WebSocket closed by the server mid-reply")


ACTIONS = [
    ("chat", 3, lambda c: c.post("/v1/chat/completions", CHAT)),
    ("completion", 2, lambda c: c.post("/v1/completions", COMPLETION)),
    ("chat stream", 3, lambda c: c.stream("/v1/chat/completions", CHAT)),
    ("completion stream", 1, lambda c: c.stream("/v1/completions", COMPLETION)),
    ("disconnect mid-stream", 2, lambda c: c.stream("/v1/chat/completions", CHAT, cancel=True)),
    ("websocket", 2, lambda c: c.websocket()),
    ("websocket cancel", 1, lambda c: c.websocket(cancel=True)),
    ("malformed", 2, lambda c: c.post(random.choice(["/v1/chat/completions", "/v1/completions"]),
                                      random.choice(MALFORMED), malformed=True)),
]


def level(host, port, pid, clients, seconds, seed):
    outcomes, ttfts, defects, rss = Counter(), [], Counter(), []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(k):
        local = random.Random(seed * 1000 + k)
        client = Client(host, port)
        while time.monotonic() < deadline:
            name, _, act = local.choices(ACTIONS, weights=[w for _, w, _ in ACTIONS])[0]
            try:
                kind, ttft = act(client)
                with lock:
                    outcomes[kind] += 1
                    if ttft is not None:
                        ttfts.append(ttft)
            except Defect as e:
                with lock:
                    defects[f"{name}: {e}"] += 1
            except (OSError, http.client.HTTPException, json.JSONDecodeError) as e:
                with lock:
                    defects[f"{name}: {type(e).__name__}"] += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        rss.append((time.monotonic() - t0, rss_mib(pid)))
        time.sleep(1)
    elapsed = time.monotonic() - t0
    return outcomes, ttfts, defects, rss, elapsed


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("WOOLLY_BIN", TARGET / "release/woolly"))
    ap.add_argument("--model", default=REPO / "models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--levels", default="1,8,32")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    proc, host, port = start_server(args.bin, args.model)
    bad = 0
    try:
        # Warm-up: the first requests fault in the model and grow the allocator's pools.
        client = Client(host, port)
        for _ in range(3):
            client.post("/v1/chat/completions", CHAT)
            client.stream("/v1/chat/completions", CHAT)
        warm = rss_mib(proc.pid)
        print(f"woolly serve pid {proc.pid}, RSS after warm-up {warm:.0f} MiB")
        print(f"{'clients':>7} {'req':>6} {'req/s':>7} {'ttft p50':>9} {'ttft p99':>9} {'RSS MiB':>14}  outcomes / defects")
        peak = warm
        for n in [int(x) for x in args.levels.split(",")]:
            outcomes, ttfts, defects, rss, elapsed = level(host, port, proc.pid, n, args.seconds, args.seed + n)
            total = sum(outcomes.values()) + sum(defects.values())
            rss_values = [r for _, r in rss] or [rss_mib(proc.pid)]
            peak = max(peak, max(rss_values))
            print(f"{n:>7} {total:>6} {total / elapsed:>7.1f} {pct(ttfts, 50) * 1e3:>7.0f}ms {pct(ttfts, 99) * 1e3:>7.0f}ms "
                  f"{min(rss_values):>6.0f}-{max(rss_values):<6.0f}  {dict(outcomes)}" + (f" DEFECTS {dict(defects)}" if defects else ""))
            bad += sum(defects.values())
            if proc.poll() is not None:
                print(f"DEFECT: the server exited with {proc.returncode}")
                return 1
        end = rss_mib(proc.pid)
        # Growth after warm-up beyond per-request scratch is a leak: allow the peak load's
        # buffers (KV cache and scratch are allocated at load) plus 64 MiB.
        grew = end - warm
        print(f"RSS: {warm:.0f} MiB after warm-up, {peak:.0f} peak, {end:.0f} at the end ({grew:+.0f})")
        if grew > 64:
            print("DEFECT: RSS grew by more than 64 MiB after warm-up")
            bad += 1
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print("no defects" if bad == 0 else f"{bad} defects")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
