#!/usr/bin/env python3
"""Woolly against llama.cpp on the same models and thread counts: `make bench`.

By default the yardstick models: the test model and synthetic Llama-3.2-1B and -3B shapes in
llama.cpp's Q4_K_M mix (written into models/synth/ by `woolly synth` when missing); with
--big also Llama-3.1-8B; with --model only the models given. Runs `woolly bench --json` and
bench/llama_bench.mjs (node-llama-cpp's prebuilt llama.cpp), each in a fresh process per
run so peak RSS is per run, interleaved so machine noise hits both alike; keeps the best of
N runs and prints one Markdown table per model, with decode speed also as a fraction of the
memory-bandwidth bound (weight bytes read per token / `woolly membw` GB/s). Standard
library only.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_MODEL = ROOT / "models/SmolLM2-135M-Instruct.Q4_1.gguf"
# Gemma 3 270M (scripts/fetch-gemma3.sh): its 262k-token head dominates decode.
GEMMA_MODEL = ROOT / "models/gemma-3-270m-q4_k_m.gguf"
# The yardstick shapes (`woolly synth` presets) in llama.cpp's Q4_K_M mix; the last behind --big.
YARDSTICK = ["llama-3.2-1b", "llama-3.2-3b"]
BIG = ["llama-3.1-8b"]
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


def woolly_run(a, model, threads, device="cpu", extra=()):
    r = run_json([a.woolly, "bench", "-m", model, "-p", str(a.n_prompt), "-n", str(a.n_gen),
                  "--threads", str(threads), "--device", device, "--json", *extra])
    if "ttft_ms" not in r:
        # Older `woolly bench` has no ttft key: the first token is sampled from the prefill
        # logits (engine/generate.rs), so TTFT is the prefill time.
        r["ttft_ms"] = r["n_prompt"] / r["pp_tok_s"] * 1e3
        r["ttft_derived"] = True
    return r


def llama_run(a, model, threads, seed, bench_dir=ROOT / "bench"):
    """llama.cpp through bench_dir/llama_bench.mjs and the node_modules beside it."""
    return run_json(["node", str(Path(bench_dir) / "llama_bench.mjs"), "-m", model,
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


def synth_model(a, preset, quant="q4_k_m"):
    """models/synth/PRESET.QUANT.gguf, written by `woolly synth` unless already there."""
    path = Path(a.synth_dir) / f"{preset}.{quant}.gguf"
    if not path.exists():
        print(f"synthesizing {path}", file=sys.stderr, flush=True)
        subprocess.run([a.woolly, "synth", "--preset", preset, "--quant", quant,
                        "-o", str(path), "--vocab-from", str(TEST_MODEL)], cwd=ROOT, check=True)
    return str(path)


def bandwidth(a, threads):
    """Memory read GB/s per thread count, best of `woolly membw`'s passes."""
    return {t: run_json([a.woolly, "membw", "--threads", str(t), "--json"])["mem_read_gb_s"]
            for t in threads}


def bench_model(a, model, threads, gb_s):
    # Warm the page cache so load times compare loading, not disk reads.
    with open(model, "rb") as f:
        while f.read(1 << 24):
            pass
    if a.gpu == "only":
        results = {"model": model, "gpu": bench_gpu(a, model)}
        return results, None
    # Woolly's own token ids for the prompt text, so llama.cpp prefills exactly the same ids.
    seed = run_json([a.woolly, "tokenize", "-m", model, "--no-parse-special", SEED_TEXT])

    results = {"model": model, "runs": a.runs, "seed_tokens": seed, "threads": {}}
    build = None
    for t in threads:
        w_runs, l_runs = [], []
        for i in range(a.runs):
            print(f"{Path(model).name}: threads {t}, run {i + 1}/{a.runs}",
                  file=sys.stderr, flush=True)
            w_runs.append(woolly_run(a, model, t))
            l_runs.append(llama_run(a, model, t, seed))
        build = l_runs[-1]["build"], l_runs[-1]["binary"].replace(f"{ROOT}/", "")
        results["threads"][t] = {"woolly": w_runs, "llama": l_runs,
                                 "best": {"woolly": best(w_runs), "llama": best(l_runs)}}
    # What one decoded token reads: every 2-D weight once (the embedding table only if it is
    # also the output head). Older `woolly bench` builds do not report it.
    weight_bytes = results["threads"][threads[0]]["woolly"][-1].get("weight_bytes_per_token")
    results["weight_bytes_per_token"] = weight_bytes

    derived = any(r.get("ttft_derived") for v in results["threads"].values() for r in v["woolly"])
    print(f"\n### Woolly vs llama.cpp: {Path(model).name}, pp{a.n_prompt} / tg{a.n_gen}, "
          f"best of {a.runs}\n")
    print("| metric | threads | Woolly | llama.cpp | ratio |")
    print("|---|---:|---:|---:|---:|")
    for key, label, hi in METRICS:
        for t in threads:
            b = results["threads"][t]["best"]
            w, l = b["woolly"][key], b["llama"][key]
            mark = "*" if key == "ttft_ms" and derived else ""
            print(f"| {label} | {t} | {w:.1f}{mark} | {l:.1f} | {ratio(w, l, hi):.2f} |")
    if weight_bytes:
        for t in threads:
            b = results["threads"][t]["best"]
            bound = gb_s[t] * 1e9 / weight_bytes
            w, l = b["woolly"]["tg_tok_s"] / bound, b["llama"]["tg_tok_s"] / bound
            results["threads"][t]["decode_bound_tok_s"] = bound
            print(f"| decode / bandwidth bound | {t} | {w:.0%} | {l:.0%} | {ratio(w, l, True):.2f} |")
        print(f"\nDecode reads {weight_bytes / 1e6:.0f} MB of weights per token; at "
              + ", ".join(f"{gb_s[t]:.1f} GB/s ({t} thread{'s' if t > 1 else ''})" for t in threads)
              + " that bounds decode at "
              + " / ".join(f"{results['threads'][t]['decode_bound_tok_s']:.1f}" for t in threads)
              + " tok/s.")
    if derived:
        print("\n* Woolly TTFT derived as prefill time (its `bench --json` has no ttft_ms yet).")

    if gpu_wanted(a):
        results["gpu"] = bench_gpu(a, model)
    sys.stdout.flush()
    return results, build


def gpu_wanted(a):
    return a.gpu in ("on", "only") or (a.gpu == "auto" and has_gpu())


def bench_gpu(a, model):
    """`woolly bench --device gpu`, best of the runs: speed, kernel launches per token and
    decode as a fraction of the GPU's read bandwidth bound."""
    name = Path(model).name
    try:
        runs = [woolly_run(a, model, 0, "gpu") for _ in range(a.runs)]
        # The best speeds, and the rest (device, launches, bytes per token) as reported.
        g = {**runs[-1], **best(runs)}
    except subprocess.CalledProcessError as e:
        print(f"\nGPU, {name}: skipped, `woolly bench --device gpu` failed: {e.stderr.strip()}")
        return None
    print(f"\n### Woolly on the GPU: {name}, pp{a.n_prompt} / tg{a.n_gen}, best of {a.runs}\n")
    print(f"{g.get('device', 'gpu')}\n")
    print("| " + " | ".join(lbl for _, lbl, _ in METRICS)
          + " | dispatches / submits per token | decode / bandwidth bound |")
    print("|" + "---:|" * (len(METRICS) + 2))
    bound = ""
    if a.gpu_gb_s and g.get("weight_bytes_per_token"):
        limit = a.gpu_gb_s * 1e9 / g["weight_bytes_per_token"]
        bound = f"{g['tg_tok_s'] / limit:.0%} of {limit:.1f} tok/s"
    launches = f"{g.get('gpu_dispatches_per_token')} / {g.get('gpu_submits_per_token')}"
    print("| " + " | ".join(f"{g[k]:.1f}" for k, _, _ in METRICS) + f" | {launches} | {bound} |")
    sys.stdout.flush()
    return g


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append",
                   help="bench this model (repeatable) in place of the yardstick models")
    p.add_argument("--big", action="store_true",
                   help="also the synthetic Llama-3.1-8B Q4_K_M (about 5 GB)")
    p.add_argument("--synth-dir", default=str(ROOT / "models/synth"),
                   help="where the synthetic models are kept")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--n-prompt", type=int, default=512)
    p.add_argument("--n-gen", type=int, default=128)
    p.add_argument("--woolly", default=str(TARGET / "release/woolly"))
    p.add_argument("--gpu", choices=["auto", "on", "off", "only"], default="auto",
                   help="also run `woolly bench --device gpu` (auto: when a GPU is present; "
                        "only: the GPU alone, without the CPU and llama.cpp)")
    p.add_argument("--json", metavar="FILE", help="write every run and the best values here")
    a = p.parse_args()
    threads = [int(t) for t in a.threads.split(",")]

    if a.model:
        models = a.model
    else:
        gemma = [str(GEMMA_MODEL)] if GEMMA_MODEL.exists() else []
        models = [str(TEST_MODEL)] + gemma + [synth_model(a, m) for m in YARDSTICK + (BIG if a.big else [])]
    a.gpu_gb_s = None
    if gpu_wanted(a):
        try:
            g = run_json([a.woolly, "membw", "--device", "gpu", "--json"])
            a.gpu_gb_s = g["mem_read_gb_s"]
            print(f"GPU memory read bandwidth (`woolly membw --device gpu`): {a.gpu_gb_s:.1f} GB/s "
                  f"on {g['device']}.")
        except subprocess.CalledProcessError as e:
            print(f"GPU memory read bandwidth: not measured ({e.stderr.strip()}).")
    if a.gpu == "only":
        results = {"gpu_mem_read_gb_s": a.gpu_gb_s,
                   "models": [bench_model(a, model, threads, {})[0] for model in models]}
        if a.json:
            Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
        return
    gb_s = bandwidth(a, threads)
    print("Ratio: >= 1.0 means Woolly is as good or better "
          "(tok/s: Woolly / llama.cpp; ms and MiB: llama.cpp / Woolly).")
    print("Memory read bandwidth (`woolly membw`): "
          + ", ".join(f"{gb_s[t]:.1f} GB/s at {t} thread{'s' if t > 1 else ''}" for t in threads)
          + ".")
    all_results = {"mem_read_gb_s": gb_s, "gpu_mem_read_gb_s": a.gpu_gb_s, "models": []}
    build = None
    for model in models:
        results, build = bench_model(a, model, threads, gb_s)
        all_results["models"].append(results)

    print(f"\nllama.cpp: node-llama-cpp {node_llama_version()}, {build[0]}; loaded {build[1]}")
    print("llama.cpp peak RSS excludes the Node.js runtime's own RSS measured before "
          "llama.cpp loads (see peak_rss_total_mb in --json).")
    if not gpu_wanted(a):
        print("GPU: skipped, no GPU adapter found.")

    if a.json:
        Path(a.json).write_text(json.dumps(all_results, indent=1) + "\n")


def node_llama_version():
    pkg = ROOT / "bench/node_modules/node-llama-cpp/package.json"
    return json.loads(pkg.read_text())["version"] if pkg.exists() else "?"


if __name__ == "__main__":
    main()
