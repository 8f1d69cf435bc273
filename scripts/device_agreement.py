#!/usr/bin/env python3
"""Greedy continuations on the GPU against the CPU, from the CLI: `make device-agreement`.

Runs `woolly generate` (temperature 0, 16 tokens, past end-of-generation) on the reference
prompts of tests/refdata/smollm2-greedy.json with `--device cpu`, `--device gpu` and, as
the yardstick, the CPU path changed in ways that only reorder or round its arithmetic:
its lower kernel tiers (`--cpu-features`) and an f32 KV cache. Prints one Markdown table:
how many leading tokens each one has in common with `--device cpu` (16 = all).

This model meets near-ties (a top-2 margin of a few hundredths of a logit) within 16
tokens on some prompts, where any change of summation order can pick the other token, so
read the GPU's row against the CPU variants' rows. Standard library only.
"""

import argparse
import json
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/woolly/target"))
TOKENS = 16


def generate(woolly, model, prompt, extra):
    cmd = [str(woolly), "generate", "-m", model, "-p", prompt, "-n", str(TOKENS),
           "--temperature", "0", "--ignore-eos", "--json"] + extra
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def tiers():
    """Lower CPU tiers to cap the kernels at (a cap at or above the CPU's own is the same
    as none, so the table may repeat the default on an older CPU)."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return ["avx2", "portable"]
    if machine in ("aarch64", "arm64"):
        return ["dotprod", "neon", "portable"]
    return ["portable"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    p.add_argument("--refdata", default=str(ROOT / "tests/refdata/smollm2-greedy.json"))
    p.add_argument("--woolly", default=str(TARGET / "release/woolly"))
    a = p.parse_args()
    cases = json.loads(Path(a.refdata).read_text())["cases"]
    runs = [("`--device gpu`", ["--device", "gpu"]),
            ("`--kv-cache f32`", ["--kv-cache", "f32"])]
    runs += [(f"`--cpu-features {t}`", ["--cpu-features", t]) for t in tiers()]
    cpu = [generate(a.woolly, a.model, c["prompt"], ["--device", "cpu"]) for c in cases]
    for got, c in zip(cpu, cases):
        if got["prompt_tokens"] != c["prompt_ids"]:
            raise SystemExit(f"the prompt {c['prompt']!r} tokenizes differently from the reference")
    print(subprocess.run([a.woolly, "info"], capture_output=True, text=True).stdout)
    print(f"### Greedy tokens in common with `--device cpu` (of {TOKENS}), per reference prompt\n")
    print("| run | " + " | ".join(f"prompt {i + 1}" for i in range(len(cases))) + " | all 16 |")
    print("|---|" + "---:|" * (len(cases) + 1))
    for name, extra in runs:
        try:
            got = [generate(a.woolly, a.model, c["prompt"], extra) for c in cases]
        except subprocess.CalledProcessError as e:
            print(f"| {name} | failed: {e.stderr.strip().splitlines()[-1:]} |")
            continue
        same = [common_prefix(g["tokens"], r["tokens"]) for g, r in zip(got, cpu)]
        label = name
        full = sum(n == TOKENS for n in same)
        print(f"| {label} | " + " | ".join(map(str, same)) + f" | {full}/{len(cases)} |")


if __name__ == "__main__":
    main()
