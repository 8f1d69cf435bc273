"""Fixtures shared by the OpenAI-client tests: a `woolly serve` per test module, a client.

Run: python3 -m pytest -q crates/woolly-server/tests/openai_client
Env: WOOLLY_BIN (default $CARGO_TARGET_DIR/release/woolly, CARGO_TARGET_DIR defaulting to
~/.cache/woolly/target), WOOLLY_TEST_MODEL (default models/SmolLM2-135M-Instruct.Q4_1.gguf).
"""

import os
import secrets
import subprocess
import tempfile
import threading
from pathlib import Path

import openai
import pytest

REPO = Path(__file__).resolve().parents[4]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/woolly/target"))
WOOLLY_BIN = Path(os.environ.get("WOOLLY_BIN", TARGET / "release/woolly"))
MODEL = Path(os.environ.get("WOOLLY_TEST_MODEL", REPO / "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
KEY_VAR = "WOOLLY_TEST_API_KEY"


@pytest.fixture(scope="module")
def model_file():
    """The GGUF the server loads."""
    return MODEL


@pytest.fixture(scope="module")
def server():
    """Starts `woolly serve` on a free port; yields (base_url, key)."""
    assert WOOLLY_BIN.exists(), f"{WOOLLY_BIN} missing: cargo build --release -p woolly-cli"
    assert MODEL.exists(), f"{MODEL} missing: scripts/fetch-test-model.sh"
    key = "sk-woolly-" + secrets.token_hex(16)
    env = dict(os.environ, **{KEY_VAR: key})
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(
        [str(WOOLLY_BIN), "serve", "-m", str(MODEL), "--port", "0", "--ctx", "1024", "--api-key-env", KEY_VAR],
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        text=True,
    )
    found = {}
    ready = threading.Event()

    def watch():
        for line in proc.stdout:
            if line.startswith("listening on ") and "url" not in found:
                found["url"] = line.split("listening on ", 1)[1].strip()
                ready.set()
        ready.set()

    threading.Thread(target=watch, daemon=True).start()
    ready.wait(timeout=180)
    if "url" not in found:
        proc.kill()
        proc.wait()
        log.seek(0)
        raise RuntimeError(f"woolly serve did not start: {log.read()}")
    yield found["url"], key
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def client(server):
    url, key = server
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def model(client):
    return client.models.list().data[0].id
