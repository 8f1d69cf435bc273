#!/usr/bin/env python3
"""How closely greedy decoding follows llama.cpp's reference outputs: `make agreement`.

Runs Woolly's `reference_check` example, llama.cpp's build under bench/ and candle
(bench/candle) on tests/refdata/smollm2-greedy.json, each teacher-forced (every step is
fed the reference's previous token), and prints one Markdown table:
- agreement lengths: how long the free-running greedy continuation matches (48 = all);
- teacher-forced steps whose argmax is not the reference's token;
- the first token's top-5 logits against the reference's (absolute, and relative to the
  top one, which is all llama.cpp's probabilities give).
Engines that quantize activations to 8 bits part ways at near-ties, so read the counts as a
spread: a one-ulp change in the matrix products alone moves them. Standard library only.
"""

import argparse
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/woolly/target"))


def run(cmd):
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def report(result, reference):
    lengths, differing, worst_abs, worst_rel = [], [], 0.0, 0.0
    for c, (got, ref) in enumerate(zip(result["cases"], reference["cases"])):
        picked = [s[0] for s in got["steps"]]
        diffs = [i for i, (p, want) in enumerate(zip(picked, ref["gen_ids"])) if p != want]
        lengths.append(diffs[0] if diffs else len(ref["gen_ids"]))
        differing += [f"{c + 1}:{i} ({got['steps'][i][1]:.3f})" for i in diffs]
        want = [t["logit"] for t in ref["top5_first_token"]]
        if not result.get("relative"):
            worst_abs = max([worst_abs] + [abs(g - w) for g, w in zip(got["top5"], want)])
        rel = [abs((g - got["top5"][0]) - (w - want[0])) for g, w in zip(got["top5"], want)]
        worst_rel = max([worst_rel] + rel)
    steps = sum(len(c["gen_ids"]) for c in reference["cases"])
    full = sum(n == len(c["gen_ids"]) for n, c in zip(lengths, reference["cases"]))
    absolute = "n/a" if result.get("relative") else f"{worst_abs:.3f}"
    row = (f"| {result['engine']} | {lengths} | {full}/{len(lengths)} | {len(differing)} of {steps} "
           f"| {absolute} | {worst_rel:.3f} |")
    return row, differing


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    p.add_argument("--refdata", default=str(ROOT / "tests/refdata/smollm2-greedy.json"))
    a = p.parse_args()
    reference = json.loads(Path(a.refdata).read_text())
    engines = [
        [str(TARGET / "release/examples/reference_check"), a.model, a.refdata],
        ["node", "bench/llama_agreement.mjs", "-m", a.model, "-r", a.refdata],
        [str(TARGET / "release/candle-agreement"), a.model, a.refdata],
    ]
    rows, details = [], []
    for cmd in engines:
        row, differing = report(run(cmd), reference)
        rows.append(row)
        details.append(f"- {row.split(' | ')[0][2:]}: {', '.join(differing) or 'none'}")
    print(f"### Greedy agreement with llama.cpp's reference ({reference['meta']['tool']})\n")
    print("| engine | agreement lengths (of 48) | full | teacher-forced steps that differ "
          "| first-token top-5, max difference | same, relative to the top logit |")
    print("|---|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    print("\nSteps that differ, as case:step (the engine's logit gap to the reference's token):")
    print("\n".join(details))


if __name__ == "__main__":
    main()
