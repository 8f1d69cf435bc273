#!/usr/bin/env python3
"""Woolly against llama.cpp on the same model and thread count: `make bench`.

Runs `woolly bench --json` and bench/llama_bench.mjs (node-llama-cpp's prebuilt llama.cpp),
each in a fresh process per run so peak RSS is per run, interleaved so machine noise hits
both alike; keeps the best of N runs and prints a Markdown table. Standard library only.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/woolly/target"))
# The text `woolly bench` repeats to the prompt length (crates/woolly-cli/src/commands/bench.rs).
SEED_TEXT = "The quick brown fox jumps over the lazy dog while the sun sets behind the hills. "

# (key, label, higher is better)
METRICS = [
    ("pp_tok_s", "prefill tok/s", True),
    ("tg_tok_s", "decode tok/s", True),
    ("ttft_ms", "time to first token ms", False),
    ("load_ms", "load ms (warm cache)", False),
    ("peak_rss_mb", "peak RSS MiB", False),
]


def run_json(cmd):
    """Runs a command that prints one JSON object on its last stdout line."""
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def woolly_run(a, threads, device="cpu"):
    r = run_json([a.woolly, "bench", "-m", a.model, "-p", str(a.n_prompt), "-n", str(a.n_gen),
                  "--threads", str(threads), "--device", device, "--json"])
    if "ttft_ms" not in r:
        # Older `woolly bench` has no ttft key: the first token is sampled from the prefill
        # logits (engine/generate.rs), so TTFT is the prefill time.
        r["ttft_ms"] = r["n_prompt"] / r["pp_tok_s"] * 1e3
        r["ttft_derived"] = True
    return r


def llama_run(a, threads, seed):
    return run_json(["node", str(ROOT / "bench/llama_bench.mjs"), "-m", a.model,
                     "-t", str(threads), "-p", str(a.n_prompt), "-n", str(a.n_gen),
                     "--seed-tokens", ",".join(map(str, seed))])


def best(runs):
    """Best of the runs, per metric: max for tok/s, min for ms and MiB."""
    return {k: (max if hi else min)(r[k] for r in runs) for k, _, hi in METRICS}


def ratio(w, l, higher_better):
    # Oriented so that >= 1.0 means Woolly is as good or better.
    if not w or not l:
        return float("nan")
    return w / l if higher_better else l / w


def has_gpu():
    """A real GPU driver exposes a render node (or NVIDIA's device files); lavapipe does not."""
    return bool(glob.glob("/dev/dri/renderD*") or glob.glob("/dev/nvidia[0-9]*"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--n-prompt", type=int, default=512)
    p.add_argument("--n-gen", type=int, default=128)
    p.add_argument("--woolly", default=str(TARGET / "release/woolly"))
    p.add_argument("--gpu", choices=["auto", "on", "off"], default="auto",
                   help="also run `woolly bench --device gpu` (auto: when a GPU is present)")
    p.add_argument("--json", metavar="FILE", help="write every run and the best values here")
    a = p.parse_args()
    threads = [int(t) for t in a.threads.split(",")]

    # Warm the page cache so load times compare loading, not disk reads.
    with open(a.model, "rb") as f:
        while f.read(1 << 24):
            pass
    # Woolly's own token ids for the prompt text, so llama.cpp prefills exactly the same ids.
    seed = run_json([a.woolly, "tokenize", "-m", a.model, "--no-parse-special", SEED_TEXT])

    results = {"model": a.model, "runs": a.runs, "seed_tokens": seed, "threads": {}}
    build = None
    for t in threads:
        w_runs, l_runs = [], []
        for i in range(a.runs):
            print(f"threads {t}, run {i + 1}/{a.runs}", file=sys.stderr, flush=True)
            w_runs.append(woolly_run(a, t))
            l_runs.append(llama_run(a, t, seed))
        build = l_runs[-1]["build"], l_runs[-1]["binary"].replace(f"{ROOT}/", "")
        results["threads"][t] = {"woolly": w_runs, "llama": l_runs,
                                 "best": {"woolly": best(w_runs), "llama": best(l_runs)}}

    derived = any(r.get("ttft_derived") for v in results["threads"].values() for r in v["woolly"])
    print(f"\n### Woolly vs llama.cpp: {Path(a.model).name}, pp{a.n_prompt} / tg{a.n_gen}, "
          f"best of {a.runs}\n")
    print("Ratio: >= 1.0 means Woolly is as good or better "
          "(tok/s: Woolly / llama.cpp; ms and MiB: llama.cpp / Woolly).\n")
    print("| metric | threads | Woolly | llama.cpp | ratio |")
    print("|---|---:|---:|---:|---:|")
    for key, label, hi in METRICS:
        for t in threads:
            b = results["threads"][t]["best"]
            w, l = b["woolly"][key], b["llama"][key]
            mark = "*" if key == "ttft_ms" and derived else ""
            print(f"| {label} | {t} | {w:.1f}{mark} | {l:.1f} | {ratio(w, l, hi):.2f} |")
    print(f"\nllama.cpp: node-llama-cpp {node_llama_version()}, {build[0]}; loaded {build[1]}")
    if derived:
        print("* Woolly TTFT derived as prefill time (its `bench --json` has no ttft_ms yet).")
    print("llama.cpp peak RSS excludes the Node.js runtime's own RSS measured before "
          "llama.cpp loads (see peak_rss_total_mb in --json).")

    if a.gpu == "on" or (a.gpu == "auto" and has_gpu()):
        try:
            g = best([woolly_run(a, 0, "gpu") for _ in range(a.runs)])
            results["gpu"] = g
            print("\n| Woolly on GPU | " + " | ".join(lbl for _, lbl, _ in METRICS) + " |")
            print("|---|" + "---:|" * len(METRICS))
            print("| wgpu | " + " | ".join(f"{g[k]:.1f}" for k, _, _ in METRICS) + " |")
        except subprocess.CalledProcessError as e:
            print(f"\nGPU: skipped, `woolly bench --device gpu` failed: {e.stderr.strip()}")
    else:
        print("\nGPU: skipped, no GPU adapter found.")

    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1) + "\n")


def node_llama_version():
    pkg = ROOT / "bench/node_modules/node-llama-cpp/package.json"
    return json.loads(pkg.read_text())["version"] if pkg.exists() else "?"


if __name__ == "__main__":
    main()
