#!/usr/bin/env python3
"""The emulated ARM CLI's greedy tokens against the x86 build's, on the test model's reference
prompts (tests/refdata/smollm2-greedy.json: llama.cpp's prompts, 48 tokens each).

Both builds run `woolly generate --temperature 0 --ignore-eos --json`: the x86 one capped at
its portable kernels, the ARM one under qemu-user with each emulated CPU given, so each NEON
variant (i8mm, dotprod, plain) decides the tokens once. The NEON kernels reproduce the
portable ones bit for bit (the same exact integer sums and the same float operations in the
same order), so every token and the first token's logits must be equal, not merely close:
a difference anywhere in the ARM build (kernels, attention, tokenizer, sampling) shows.
"""

import argparse
import json
import subprocess
import sys
import time


def generate(cmd, model, prompt, n, extra=()):
    args = cmd + [
        "generate", "-m", model, "-p", prompt, "-n", str(n), "--temperature", "0",
        "--ignore-eos", "-c", "512", "-t", "2", "--device", "cpu", "--json",
        "--top-logits", "2", *extra,
    ]
    start = time.monotonic()
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return json.loads(out), time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--x86", required=True)
    ap.add_argument("--arm", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--refdata", required=True)
    ap.add_argument("--cpus", nargs="+", default=["max"])
    args = ap.parse_args()

    cases = json.load(open(args.refdata))["cases"]
    failures = 0
    print(f"{'prompt':<34} {'cpu':<12} {'tokens':>6} {'equal':>6} {'seconds':>8}")
    for case in cases:
        n = len(case["gen_ids"])
        want, _ = generate([args.x86], args.model, case["prompt"], n, ["--cpu-features", "portable"])
        for cpu in args.cpus:
            qemu = ["qemu-aarch64-static", "-cpu", cpu, "-L", "/", args.arm]
            got, secs = generate(qemu, args.model, case["prompt"], n)
            same = 0
            for a, b in zip(got["tokens"], want["tokens"]):
                if a != b:
                    break
                same += 1
            label = case["prompt"].replace("\n", " ")[:32]
            print(f"{label!r:<34} {cpu:<12} {n:>6} {same:>6} {secs:>8.1f}")
            if got["prompt_tokens"] != want["prompt_tokens"]:
                print("  prompt tokenization differs", file=sys.stderr)
                failures += 1
            elif got["top_logits"] != want["top_logits"]:
                print(f"  first token's logits differ: {got['top_logits']} vs {want['top_logits']}",
                      file=sys.stderr)
                failures += 1
            elif same < n:
                # Logits are listed for the first generated token only.
                top = want.get("top_logits", [])
                margin = ""
                if same == 0 and len(top) > 1:
                    margin = f" (x86 margin there {top[0]['logit'] - top[1]['logit']:.4f})"
                print(f"  first difference at token {same}{margin}", file=sys.stderr)
                failures += 1
    if failures:
        sys.exit(f"arm_generate: {failures} run(s) differ from the x86 build")
    print("every emulated run equals the x86 build's tokens")


if __name__ == "__main__":
    main()
