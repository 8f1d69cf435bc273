"""What agents use, through the official `openai` client against `woolly serve` and the test
model: tool calling, JSON-schema constrained output, logprobs and /v1/embeddings, in OpenAI's
documented request and response shapes.

Run: python3 -m pytest -q crates/woolly-server/tests/openai_client (fixtures: conftest.py).
Reference data (tests/refdata/README.md): smollm2-greedy.json (llama.cpp's first-token logits)
and smollm2-embeddings.json (llama.cpp's embeddings, from bench/embeddings_refdata.mjs).
"""

import base64
import json
import math
import struct
from pathlib import Path

import gguf
import jsonschema
import openai
import pytest

REFDATA = Path(__file__).resolve().parents[4] / "tests/refdata"
GREEDY = json.loads((REFDATA / "smollm2-greedy.json").read_text())
EMBEDDINGS = json.loads((REFDATA / "smollm2-embeddings.json").read_text())
SENTENCES = {c["name"]: c for c in EMBEDDINGS["cases"]}
N_EMBD = EMBEDDINGS["meta"]["n_embd"]  # the test model's hidden size, 576

# llama.cpp's top-5 logits agree with Woolly's within this (woolly-cli's generate_reference
# test, check_first_token); used here for the gaps logit_i - logit_top.
LOGIT_TOLERANCE = 0.5

WEATHER_PARAMS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name, e.g. Paris"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city"],
    "additionalProperties": False,
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": WEATHER_PARAMS,
    },
}
TIME_PARAMS = {
    "type": "object",
    "properties": {"timezone": {"type": "string", "description": "IANA time zone, e.g. Europe/Paris"}},
    "required": ["timezone"],
    "additionalProperties": False,
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "description": "Get the current local time in a time zone.",
                 "parameters": TIME_PARAMS},
}
WEATHER_QUESTIONS = [
    "What is the weather like in Paris today?",
    "Is it raining in Tokyo right now? Answer in fahrenheit.",
    "How cold is it in Oslo?",
    "I am flying to Cairo tomorrow. What's the weather there?",
]

# Every construct the issue lists: required and optional properties, a string enum, an integer
# range, an array with min/max items, a nested object, anyOf, and $ref into $defs.
# Strings are bounded (maxLength): a 135M model at temperature 1.0 may otherwise write one
# string until max_tokens, which the grammar allows (any length is valid) but cannot finish.
CHARACTER_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "role": {"type": "string", "enum": ["engineer", "artist", "doctor"]},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "skills": {"type": "array", "items": {"type": "string", "maxLength": 30}, "minItems": 1, "maxItems": 3},
        "home": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 40}, "country": {"type": "string", "maxLength": 40}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "contact": {"anyOf": [{"$ref": "#/$defs/email"}, {"$ref": "#/$defs/phone"}]},
        "nickname": {"anyOf": [{"type": "string", "maxLength": 30}, {"type": "null"}]},
        "retired": {"type": "boolean"},
    },
    "required": ["name", "role", "age", "skills", "home", "contact"],
    "additionalProperties": False,
    "$defs": {
        "email": {"type": "object", "properties": {"email": {"type": "string", "maxLength": 40}}, "required": ["email"],
                  "additionalProperties": False},
        "phone": {"type": "object", "properties": {"phone": {"type": "string", "maxLength": 40}}, "required": ["phone"],
                  "additionalProperties": False},
    },
}
CHARACTER_FORMAT = {"type": "json_schema", "json_schema": {"name": "character", "strict": True,
                                                           "schema": CHARACTER_SCHEMA}}
CHARACTER_PROMPT = [{"role": "user", "content": "Invent a character for a short story. Reply in JSON."}]


def user(content):
    return [{"role": "user", "content": content}]


def valid(text, schema):
    """Parses `text` as JSON and validates it against `schema`; returns the value."""
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError) as e:
        raise AssertionError(f"not JSON ({e}): {text!r}") from None
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as e:
        raise AssertionError(f"{text!r} does not validate: {e.message}") from None
    return value


def check_tool_calls(message, name, schema):
    """message.tool_calls: at least one, all `function` calls of `name` with unique ids and
    arguments that validate against `schema`."""
    calls = message.tool_calls
    assert calls, f"no tool_calls in {message}"
    for call in calls:
        assert call.type == "function"
        assert isinstance(call.id, str) and call.id
        assert call.function.name == name
        valid(call.function.arguments, schema)
    assert len({c.id for c in calls}) == len(calls), "tool call ids repeat"
    return calls


def cosine(u, v):
    return sum(a * b for a, b in zip(u, v)) / math.sqrt(sum(a * a for a in u) * sum(b * b for b in v))


def embed(client, model, input, **kw):
    kw.setdefault("encoding_format", "float")
    return client.embeddings.create(model=model, input=input, **kw)


# ---- tool calling ------------------------------------------------------------------------------


def test_tool_call_round_trip(client, model):
    """A forced call to get_weather, its result sent back as a `tool` message, a text answer."""
    question = user(WEATHER_QUESTIONS[0])
    first = client.chat.completions.create(model=model, messages=question, tools=[WEATHER_TOOL],
                                           tool_choice="required", temperature=0, max_tokens=128)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.role == "assistant"
    calls = check_tool_calls(choice.message, "get_weather", WEATHER_PARAMS)

    def answer(result):
        # The assistant message goes back as the client returned it, as OpenAI's guide does.
        history = question + [choice.message] + [
            {"role": "tool", "tool_call_id": c.id, "content": json.dumps(result)} for c in calls]
        return client.chat.completions.create(model=model, messages=history, tools=[WEATHER_TOOL],
                                              tool_choice="none", temperature=0, max_tokens=48)

    final = answer({"temperature": 18, "unit": "celsius", "condition": "sunny"})
    reply = final.choices[0]
    assert reply.finish_reason in ("stop", "length")
    assert not reply.message.tool_calls
    assert isinstance(reply.message.content, str) and reply.message.content.strip()
    # The tool result is in the prompt: a longer result makes a longer prompt.
    longer = answer({"temperature": 18, "unit": "celsius", "condition": "sunny",
                     "forecast": "showers in the evening, clearing overnight, then dry and warm all week"})
    assert longer.usage.prompt_tokens > final.usage.prompt_tokens


def test_tool_choice_none_answers_in_text(client, model):
    """tool_choice "none" with tools defined: a plain text reply, no tool_calls."""
    r = client.chat.completions.create(model=model, messages=user(WEATHER_QUESTIONS[0]), tools=[WEATHER_TOOL],
                                       tool_choice="none", temperature=0, max_tokens=24)
    choice = r.choices[0]
    assert choice.finish_reason in ("stop", "length")
    assert not choice.message.tool_calls
    assert isinstance(choice.message.content, str) and choice.message.content


def test_tool_choice_required_validates_on_20_seeds(client, model):
    """tool_choice "required" at temperature 1.0: 20 of 20 seeded samples call get_weather with
    arguments that validate against its schema."""
    bad = []
    for seed in range(20):
        r = client.chat.completions.create(
            model=model, messages=user(WEATHER_QUESTIONS[seed % len(WEATHER_QUESTIONS)]), tools=[WEATHER_TOOL],
            tool_choice="required", temperature=1.0, seed=seed, max_tokens=200)
        choice = r.choices[0]
        try:
            assert choice.finish_reason == "tool_calls", f"finish_reason {choice.finish_reason}"
            check_tool_calls(choice.message, "get_weather", WEATHER_PARAMS)
        except AssertionError as e:
            bad.append(f"seed {seed}: {e}")
    assert not bad, "\n".join(bad)


def test_named_tool_choice_calls_that_function(client, model):
    """tool_choice naming get_time, with get_weather also offered and a weather question:
    every seeded sample calls get_time, with valid arguments."""
    forced = {"type": "function", "function": {"name": "get_time"}}
    for seed in range(5):
        r = client.chat.completions.create(model=model, messages=user(WEATHER_QUESTIONS[0]),
                                           tools=[WEATHER_TOOL, TIME_TOOL], tool_choice=forced,
                                           temperature=1.0, seed=seed, max_tokens=200)
        choice = r.choices[0]
        # OpenAI ends a call forced by name with "stop", one chosen by the model with "tool_calls".
        assert choice.finish_reason in ("tool_calls", "stop")
        check_tool_calls(choice.message, "get_time", TIME_PARAMS)


def test_streamed_tool_calls(client, model):
    """stream=True: the tool_calls deltas, joined by index, make valid calls; the last
    finish_reason is "tool_calls"; no text content around them."""
    stream = client.chat.completions.create(model=model, messages=user(WEATHER_QUESTIONS[1]), tools=[WEATHER_TOOL],
                                            tool_choice="required", temperature=0, max_tokens=200, stream=True)
    calls, content, finishes, role = {}, "", [], None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        for choice in chunk.choices:
            delta = choice.delta
            role = delta.role or role
            content += delta.content or ""
            for tc in delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": None, "type": None, "name": "", "arguments": ""})
                call["id"] = tc.id or call["id"]
                call["type"] = tc.type or call["type"]
                if tc.function is not None:
                    call["name"] += tc.function.name or ""
                    call["arguments"] += tc.function.arguments or ""
            if choice.finish_reason:
                finishes.append(choice.finish_reason)
    assert role == "assistant"
    assert finishes == ["tool_calls"]
    assert content.strip() == "", f"text beside the tool call: {content!r}"
    assert sorted(calls) == list(range(len(calls))) and calls, f"tool call indices {sorted(calls)}"
    for call in calls.values():
        assert call["id"] and call["type"] == "function"
        assert call["name"] == "get_weather"
        valid(call["arguments"], WEATHER_PARAMS)


# ---- structured output -------------------------------------------------------------------------


def test_json_schema_validates_on_20_seeds(client, model):
    """response_format json_schema (strict) at temperature 1.0: 20 of 20 seeded replies parse
    and validate, and end with "stop"."""
    jsonschema.Draft202012Validator.check_schema(CHARACTER_SCHEMA)
    bad = []
    for seed in range(20):
        r = client.chat.completions.create(model=model, messages=CHARACTER_PROMPT, response_format=CHARACTER_FORMAT,
                                           temperature=1.0, seed=seed, max_tokens=600)
        choice = r.choices[0]
        try:
            assert choice.finish_reason == "stop", f"finish_reason {choice.finish_reason}"
            valid(choice.message.content, CHARACTER_SCHEMA)
        except AssertionError as e:
            bad.append(f"seed {seed}: {e}")
    assert not bad, "\n".join(bad)


def test_json_schema_streamed(client, model):
    """The streamed pieces of a json_schema reply join into a valid document."""
    stream = client.chat.completions.create(model=model, messages=CHARACTER_PROMPT, response_format=CHARACTER_FORMAT,
                                            temperature=1.0, seed=123, max_tokens=600, stream=True)
    text, finish = "", None
    for chunk in stream:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert finish == "stop"
    valid(text, CHARACTER_SCHEMA)


def test_json_object(client, model):
    """response_format json_object: the reply is a JSON object."""
    r = client.chat.completions.create(model=model, messages=user("List three colors and their hex codes as JSON."),
                                       response_format={"type": "json_object"}, temperature=0, max_tokens=300)
    choice = r.choices[0]
    assert choice.finish_reason == "stop"
    assert isinstance(valid(choice.message.content, {"type": "object"}), dict)


# ---- bad requests ------------------------------------------------------------------------------

BAD_REQUESTS = {
    # name: (request fields, a word the error message must contain)
    "schema_not_an_object": (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": 5}}}, "schema"),
    "json_schema_missing": ({"response_format": {"type": "json_schema"}}, "json_schema"),
    "tool_without_name": (
        {"tools": [{"type": "function", "function": {"description": "no name", "parameters": WEATHER_PARAMS}}]},
        "name"),
    "tool_parameters_not_an_object": (
        {"tools": [{"type": "function", "function": {"name": "get_weather", "parameters": 5}}]}, "parameters"),
    "tool_choice_names_unknown_function": (
        {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "get_time"}}}, "get_time"),
    "tool_choice_required_without_tools": ({"tool_choice": "required"}, "tools"),
    "top_logprobs_21": ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
    "top_logprobs_without_logprobs": ({"top_logprobs": 3}, "logprobs"),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_request_is_400_naming_the_problem(client, model, name):
    """Bad schemas, tool definitions and logprobs settings: 400, invalid_request_error, a
    message that names the offending field."""
    fields, word = BAD_REQUESTS[name]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model, messages=user("Hi"), max_tokens=4, **fields)
    assert e.value.status_code == 400
    error = e.value.body
    assert error["type"] == "invalid_request_error"
    assert word.lower() in error["message"].lower(), error["message"]


# ---- logprobs ----------------------------------------------------------------------------------

STORY = user("Tell me a long story about a dragon who learns to bake bread.")


def check_bytes(entry):
    """`bytes` is the token's UTF-8 (when the token is whole characters)."""
    assert isinstance(entry.token, str) and isinstance(entry.bytes, list)
    try:
        assert bytes(entry.bytes).decode("utf-8") == entry.token
    except UnicodeDecodeError:
        pass  # part of a multi-byte character: `token` cannot show it


def check_entries(entries, n_top):
    """Each chat logprobs entry: logprob <= 0, n_top alternatives sorted descending whose
    probabilities sum to at most 1, bytes that match the tokens."""
    for e in entries:
        check_bytes(e)
        assert e.logprob <= 0
        tops = e.top_logprobs
        assert len(tops) == n_top
        lps = [t.logprob for t in tops]
        assert lps == sorted(lps, reverse=True), lps
        assert all(lp <= 0 for lp in lps)
        assert sum(math.exp(lp) for lp in lps) <= 1 + 1e-4
        for t in tops:
            check_bytes(t)


def test_chat_logprobs_greedy(client, model):
    """Greedy with top_logprobs 5: one entry per generated token, each its own top alternative
    with the same logprob; the tokens (and bytes) spell the reply."""
    r = client.chat.completions.create(model=model, messages=STORY, temperature=0, max_tokens=8,
                                       logprobs=True, top_logprobs=5)
    choice = r.choices[0]
    assert choice.finish_reason == "length"
    entries = choice.logprobs.content
    assert len(entries) == r.usage.completion_tokens == 8
    check_entries(entries, 5)
    for e in entries:
        assert e.top_logprobs[0].token == e.token
        assert e.top_logprobs[0].logprob == pytest.approx(e.logprob, abs=1e-6)
    assert "".join(e.token for e in entries) == choice.message.content
    assert b"".join(bytes(e.bytes) for e in entries).decode("utf-8") == choice.message.content


def test_chat_logprobs_streamed(client, model):
    """Streamed, each chunk carries the logprobs of its own text; together they equal the
    non-streamed ones."""
    kw = dict(model=model, messages=STORY, temperature=0, max_tokens=8, logprobs=True, top_logprobs=5)
    # The first request puts the prompt in the KV cache, so the compared two take the same path.
    client.chat.completions.create(**kw)
    full = client.chat.completions.create(**kw).choices[0].logprobs.content
    streamed = []
    for chunk in client.chat.completions.create(stream=True, **kw):
        for choice in chunk.choices:
            got = (choice.logprobs.content or []) if choice.logprobs else []
            assert "".join(e.token for e in got) == (choice.delta.content or "")
            streamed += got
    assert [e.token for e in streamed] == [e.token for e in full]
    for s, f in zip(streamed, full):
        assert s.logprob == pytest.approx(f.logprob, abs=1e-5)
        assert [t.token for t in s.top_logprobs] == [t.token for t in f.top_logprobs]


def test_sampled_logprobs_are_consistent(client, model):
    """Sampling at temperature 1.0 with top_logprobs 20: a sampled token that is among the
    alternatives has their logprob, one likelier than the 20th is among them, and asking for
    logprobs does not change what is sampled."""
    kw = dict(model=model, messages=STORY, temperature=1.0, seed=7, max_tokens=16)
    r = client.chat.completions.create(logprobs=True, top_logprobs=20, **kw)
    entries = r.choices[0].logprobs.content
    assert len(entries) == r.usage.completion_tokens
    check_entries(entries, 20)
    for e in entries:
        tops = {t.token: t.logprob for t in e.top_logprobs}
        if e.token in tops:
            assert tops[e.token] == pytest.approx(e.logprob, abs=1e-5)
        else:
            assert e.logprob <= e.top_logprobs[-1].logprob + 1e-5, f"{e.token!r} missing from its top 20"
    plain = client.chat.completions.create(**kw)
    assert plain.choices[0].message.content == r.choices[0].message.content


def test_completion_logprobs_shape(client, model):
    """Completions `logprobs`: tokens, token_logprobs, top_logprobs (token -> logprob) and
    text_offset, one per generated token."""
    r = client.completions.create(model=model, prompt="Once upon a time", max_tokens=6, temperature=0, logprobs=3,
                                  extra_body={"ignore_eos": True})
    choice = r.choices[0]
    lp = choice.logprobs
    n = r.usage.completion_tokens
    assert n == 6
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == n
    assert "".join(lp.tokens) == choice.text
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs):
        assert len(top) == 3 and logprob <= 0
        assert max(top.values()) == pytest.approx(logprob, abs=1e-6)  # greedy
        assert top[token] == pytest.approx(logprob, abs=1e-6)
    for i in range(n - 1):
        assert lp.text_offset[i + 1] - lp.text_offset[i] == len(lp.tokens[i])


RAW_CASES = [c for c in GREEDY["cases"] if c["kind"] == "raw"]


@pytest.mark.parametrize("case", RAW_CASES, ids=[f"raw{i}" for i in range(len(RAW_CASES))])
def test_completion_logprobs_match_llama_cpp(client, model, case):
    """logprobs=5 on llama.cpp's reference prompts: the first token is llama.cpp's, and the gaps
    logprob_i - logprob_top equal llama.cpp's logit_i - logit_top within the logit tolerance."""
    r = client.completions.create(model=model, prompt=case["prompt"], max_tokens=1, temperature=0, logprobs=5)
    assert r.usage.prompt_tokens == len(case["prompt_ids"]), "prompt tokenization"
    want = case["top5_first_token"]
    assert want[0]["id"] == case["gen_ids"][0]
    lp = r.choices[0].logprobs
    assert lp.tokens == [want[0]["piece"]]
    assert r.choices[0].text == want[0]["piece"]
    top = lp.top_logprobs[0]
    assert len(top) == 5
    best = max(top.values())
    assert top[want[0]["piece"]] == best
    assert lp.token_logprobs[0] == pytest.approx(best, abs=1e-6)
    floor = min(top.values()) - best  # our 5th token's gap
    for t in want:
        theirs = t["logit"] - want[0]["logit"]
        if t["piece"] in top:
            ours = top[t["piece"]] - best
            assert abs(ours - theirs) <= LOGIT_TOLERANCE, f"{t['piece']!r}: gap {ours:.3f}, llama.cpp {theirs:.3f}"
        else:
            # Not in our top 5: only a near-tie with our 5th may swap out.
            assert theirs <= floor + LOGIT_TOLERANCE, f"{t['piece']!r} (gap {theirs:.3f}) missing from {top}"


# ---- embeddings --------------------------------------------------------------------------------

TRIO = [SENTENCES[n]["text"] for n in ("cat", "cat_paraphrase", "stocks")]


def test_embeddings_shape_and_similarity(client, model):
    """Three sentences: three unit vectors of the hidden size; the paraphrases are closer than
    either is to the unrelated sentence; usage counts the tokens."""
    r = embed(client, model, TRIO)
    assert r.object == "list" and r.model == model
    assert [d.index for d in r.data] == [0, 1, 2]
    for d in r.data:
        assert d.object == "embedding"
        assert len(d.embedding) == N_EMBD
        assert math.sqrt(sum(x * x for x in d.embedding)) == pytest.approx(1, abs=1e-3)
    cat, paraphrase, stocks = (d.embedding for d in r.data)
    assert cosine(cat, paraphrase) > cosine(cat, stocks)
    assert cosine(cat, paraphrase) > cosine(paraphrase, stocks)
    assert r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens


def test_embeddings_base64(client, model):
    """encoding_format base64 is little-endian float32 of the same vectors; the client's
    default (it asks for base64 and decodes) gives them too."""
    embed(client, model, TRIO)  # warm: the compared requests then take the same (cached) path
    floats = [d.embedding for d in embed(client, model, TRIO).data]
    raw = embed(client, model, TRIO, encoding_format="base64").data
    for d, want in zip(raw, floats):
        assert isinstance(d.embedding, str)
        data = base64.b64decode(d.embedding)
        assert len(data) == 4 * N_EMBD
        assert list(struct.unpack(f"<{N_EMBD}f", data)) == pytest.approx(want, abs=1e-5)
    default = client.embeddings.create(model=model, input=TRIO).data
    for d, want in zip(default, floats):
        assert list(d.embedding) == pytest.approx(want, abs=1e-5)


def test_embeddings_of_token_ids_and_batches(client, model):
    """Token-id input gives the text's vector; a batch gives each input's own vector."""
    case = SENTENCES["cat"]
    embed(client, model, case["text"])  # warm, as above
    text = embed(client, model, case["text"]).data[0].embedding
    ids = embed(client, model, case["ids"])
    assert len(ids.data) == 1 and ids.usage.prompt_tokens == len(case["ids"])
    assert ids.data[0].embedding == pytest.approx(text, abs=1e-4)
    two = embed(client, model, [case["ids"], SENTENCES["stocks"]["ids"]]).data
    assert len(two) == 2 and cosine(two[0].embedding, text) >= 0.9999
    batch = embed(client, model, TRIO).data
    for d, sentence in zip(batch, TRIO):
        alone = embed(client, model, sentence).data[0].embedding
        assert cosine(d.embedding, alone) >= 0.9999


@pytest.mark.parametrize("input", [[], "", [""], [[]]], ids=["empty_list", "empty_string", "list_of_empty_string",
                                                            "empty_token_list"])
def test_empty_embedding_input_is_400(client, model, input):
    """Nothing to embed: 400."""
    with pytest.raises(openai.BadRequestError) as e:
        embed(client, model, input)
    assert e.value.status_code == 400
    assert e.value.body["type"] == "invalid_request_error"


def test_embeddings_match_llama_cpp_mean_pooling(client, model, model_file):
    """Each reference sentence: our tokenization has llama.cpp's token count, and our vector is
    llama.cpp's mean over the final-normed hidden states, L2-normalized (cosine >= 0.99), not
    its last token's."""
    # llama.cpp's ids are what it evaluated, BOS included if the model asks for one (SmolLM2
    # does not); the server's prompt_tokens must count the same.
    fields = gguf.GGUFReader(model_file).fields
    add_bos = bool(fields["tokenizer.ggml.add_bos_token"].contents())
    bos = fields["tokenizer.ggml.bos_token_id"].contents()
    assert all((c["ids"][0] == bos) == add_bos for c in EMBEDDINGS["cases"]), "BOS in the reference ids"
    report = []
    for case in EMBEDDINGS["cases"]:
        r = embed(client, model, case["text"])
        assert r.usage.prompt_tokens == case["n_tokens"], f"{case['text']!r} tokenized differently"
        ours = r.data[0].embedding
        mean, last = cosine(ours, case["mean"]), cosine(ours, case["last"])
        report.append(f"{case['name']}: {mean:.4f} (last token {last:.4f})")
        assert mean >= 0.99 and mean > last, "\n".join(report)
    print("cosine to llama.cpp's mean pooling:", "; ".join(report))
