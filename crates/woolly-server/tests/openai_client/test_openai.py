"""The official `openai` Python client against `woolly serve` with the test model.

Run: python3 -m pytest -q crates/woolly-server/tests/openai_client (fixtures and environment
variables: conftest.py).
"""

import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import openai
import pytest


def health(server):
    url = urlparse(server[0])
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", "/health")
    body = json.loads(conn.getresponse().read())
    conn.close()
    return body


def chat(client, model, content, **kw):
    kw.setdefault("temperature", 0)
    kw.setdefault("max_tokens", 16)
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **kw)


def stream_text(stream):
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = getattr(choice, "delta", None)
            piece = delta.content if delta is not None else choice.text
            text += piece or ""
            finish = choice.finish_reason or finish
    return text, finish, usage


def test_models_list(client, model, model_file):
    models = client.models.list().data
    assert len(models) == 1
    assert models[0].object == "model"
    assert model_file.stem == model
    assert client.models.retrieve(model).id == model
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_chat_non_streaming(client, model):
    r = chat(client, model, "What is the capital of France?")
    choice = r.choices[0]
    assert r.object == "chat.completion"
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    u = r.usage
    assert u.prompt_tokens > 5 and 1 <= u.completion_tokens <= 16
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens


def test_chat_streaming_matches_non_streaming(client, model):
    # A first run puts the prompt in the engine's KV cache, so the two compared requests take
    # the same path (cache hit). A cold prefill batches the prompt and may round differently
    # at greedy near-ties.
    chat(client, model, "Write a haiku about the sea.", max_tokens=1)
    full = chat(client, model, "Write a haiku about the sea.", max_tokens=24)
    stream = chat(client, model, "Write a haiku about the sea.", max_tokens=24, stream=True,
                  stream_options={"include_usage": True})
    text, finish, usage = stream_text(stream)
    assert text == full.choices[0].message.content
    assert finish == full.choices[0].finish_reason
    assert usage is not None
    assert usage.prompt_tokens == full.usage.prompt_tokens
    assert usage.completion_tokens == full.usage.completion_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_completions(client, model):
    r = client.completions.create(model=model, prompt="1, 2, 3, 4,", max_tokens=8, temperature=0)
    assert r.object == "text_completion"
    assert "5" in r.choices[0].text
    assert r.usage.completion_tokens <= 8
    stream = client.completions.create(model=model, prompt="1, 2, 3, 4,", max_tokens=8, temperature=0, stream=True)
    text, finish, _ = stream_text(stream)
    assert text == r.choices[0].text
    assert finish == r.choices[0].finish_reason


def test_stop_sequences(client, model):
    base = client.completions.create(model=model, prompt="1, 2, 3, 4, 5,", max_tokens=20, temperature=0)
    text = base.choices[0].text
    assert " 8" in text, text
    for stop in (" 8", [" 8", "never-produced"]):
        r = client.completions.create(model=model, prompt="1, 2, 3, 4, 5,", max_tokens=20, temperature=0, stop=stop)
        assert r.choices[0].text == text[: text.index(" 8")]
        assert r.choices[0].finish_reason == "stop"
    # Streaming honours stop too.
    stream = client.completions.create(model=model, prompt="1, 2, 3, 4, 5,", max_tokens=20, temperature=0,
                                       stop=" 8", stream=True)
    streamed, finish, _ = stream_text(stream)
    assert streamed == text[: text.index(" 8")]
    assert finish == "stop"
    # Chat: stop on the reply's second word.
    reply = chat(client, model, "Tell me a story.", max_tokens=20).choices[0].message.content
    words = reply.split()
    assert len(words) >= 3, reply
    stop = " " + words[1]
    r = chat(client, model, "Tell me a story.", max_tokens=20, stop=[stop])
    assert r.choices[0].message.content == reply[: reply.index(stop)]
    assert r.choices[0].finish_reason == "stop"


def test_usage_counts(client, model):
    a = chat(client, model, "Count to ten.", max_tokens=5, extra_body={"ignore_eos": True})
    b = chat(client, model, "Count to ten.", max_tokens=5, extra_body={"ignore_eos": True})
    assert a.usage.prompt_tokens == b.usage.prompt_tokens
    assert a.usage.completion_tokens == 5
    assert a.choices[0].finish_reason == "length"
    c = chat(client, model, "Count to ten, please, slowly.", max_tokens=5)
    assert c.usage.prompt_tokens > a.usage.prompt_tokens
    r = client.completions.create(model=model, prompt="Hello", max_tokens=3, temperature=0,
                                  extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 3
    assert r.usage.total_tokens == r.usage.prompt_tokens + 3
    # max_completion_tokens is the newer name for max_tokens.
    d = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Count to ten."}],
                                       temperature=0, max_completion_tokens=4, extra_body={"ignore_eos": True})
    assert d.usage.completion_tokens == 4


def test_sampling_parameters(client, model):
    kw = dict(temperature=0.9, top_p=0.9, seed=1234, presence_penalty=0.5, frequency_penalty=0.5, max_tokens=12)
    a = chat(client, model, "Invent a word.", **kw).choices[0].message.content
    b = chat(client, model, "Invent a word.", **kw).choices[0].message.content
    assert a == b, "the same seed gives the same reply"
    with pytest.raises(openai.BadRequestError) as e:
        chat(client, model, "Hi", temperature=3)
    assert e.value.status_code == 400
    assert e.value.body["param"] == "temperature"


def test_wrong_key(server, model):
    bad = openai.OpenAI(base_url=f"{server[0]}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.models.list()
    assert e.value.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        chat(bad, model, "Hi")


def test_malformed_json_is_400(server):
    url, key = server
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("POST", "/v1/chat/completions", body='{"model": "x", "messages": [',
                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 400
    error = body["error"]
    assert error["message"]
    assert error["type"] == "invalid_request_error"
    assert "param" in error and "code" in error


def test_concurrent_streaming_clients(client, model):
    prompts = [f"Give me one word that rhymes with {w}." for w in ("cat", "dog", "tree", "sun", "moon", "car")]
    sequential = [chat(client, model, p, max_tokens=16).choices[0].message.content for p in prompts]

    def run(prompt):
        return stream_text(chat(client, model, prompt, max_tokens=16, stream=True))

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run, prompts))
    for (text, finish, _), expected in zip(results, sequential):
        assert finish in ("stop", "length")
        assert text == expected


def test_disconnect_frees_engine(server, client, model):
    stream = client.completions.create(model=model, prompt="Once upon a time", max_tokens=900, stream=True,
                                       extra_body={"ignore_eos": True})
    chunks = 0
    for _ in stream:
        chunks += 1
        if chunks >= 3:
            break
    stream.close()
    # The server notices within a token or two and cancels: nothing queued or running.
    deadline = time.monotonic() + 20
    while health(server)["pending"] != 0:
        assert time.monotonic() < deadline, "the abandoned generation still holds the engine"
        time.sleep(0.1)
    start = time.monotonic()
    r = client.completions.create(model=model, prompt="Hello", max_tokens=4, temperature=0)
    assert r.choices[0].finish_reason in ("stop", "length")
    assert time.monotonic() - start < 20
