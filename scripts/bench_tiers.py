#!/usr/bin/env python3
"""Woolly capped at each CPU tier against llama.cpp's build for that tier: `make bench-tiers`.

For every instruction-set tier this CPU has (or those given with --tiers), Woolly runs with
`--cpu-features TIER` and llama.cpp (node-llama-cpp's prebuilt build under bench/) with only
its matching CPU variant present, so ggml cannot pick a better one:

    portable -> libggml-cpu-x64   avx2 -> -haswell   avx512 -> -zen4 (AMD) / -icelake (Intel)
    amx      -> -sapphirerapids

(the restricted copy is a hard-linked node_modules in a temporary directory, the variants
above the tier removed). Models: the test model and the synthetic Llama-3.2-1B and -3B shapes
in Q4_K_M and Q4_0 (`woolly synth`, written into models/synth/ when missing); --model
overrides. Same prompt tokens, interleaved runs, best of N; one table per tier, then a
summary of the ratios. Standard library only.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import bench

TIERS = ["portable", "avx2", "avx512", "amx"]


def cpu_flags():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_tiers():
    """The tiers this CPU has, lowest first (the checks Woolly's kernels make)."""
    f = cpu_flags()
    tiers = ["portable"]
    if {"avx2", "fma", "f16c"} <= f:
        tiers.append("avx2")
        if {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"} <= f:
            tiers.append("avx512")
            if {"amx_tile", "amx_int8"} <= f:
                tiers.append("amx")
    return tiers


def llama_variant(tier):
    if tier == "avx512":
        vendor = Path("/proc/cpuinfo").read_text()
        return "zen4" if "AuthenticAMD" in vendor else "icelake"
    return {"portable": "x64", "avx2": "haswell", "amx": "sapphirerapids"}[tier]


def restricted_bench_dir(tmp, variant):
    """bench/ with llama.cpp's CPU variants reduced to `variant` (hard links: instant)."""
    dest = Path(tmp) / variant
    shutil.copytree(bench.ROOT / "bench/node_modules", dest / "node_modules",
                    copy_function=lambda s, d: Path(d).hardlink_to(s), symlinks=True)
    shutil.copy(bench.ROOT / "bench/llama_bench.mjs", dest)
    shutil.copy(bench.ROOT / "bench/package.json", dest)
    bins = dest / "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64"
    kept = bins / f"libggml-cpu-{variant}.so"
    if not kept.exists():
        sys.exit(f"llama.cpp has no {variant} build under bench/")
    for so in bins.glob("libggml-cpu-*.so"):
        if so != kept:
            so.unlink()
    return dest


def run_tier(a, tier, models, threads, bench_dir):
    rows = []
    print(f"\n## Tier {tier}: Woolly --cpu-features {tier} vs llama.cpp "
          f"libggml-cpu-{llama_variant(tier)}, pp{a.n_prompt} / tg{a.n_gen}, best of {a.runs}\n")
    print("| model | threads | kernels | prefill W | prefill L | ratio | decode W | decode L | ratio |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for model in models:
        seed = bench.run_json([a.woolly, "tokenize", "-m", model, "--no-parse-special",
                               bench.SEED_TEXT])
        for t in threads:
            w_runs, l_runs = [], []
            for i in range(a.runs):
                print(f"{tier} {Path(model).name}: threads {t}, run {i + 1}/{a.runs}",
                      file=sys.stderr, flush=True)
                w_runs.append(bench.woolly_run(a, model, t, extra=["--cpu-features", tier]))
                l_runs.append(bench.llama_run(a, model, t, seed, bench_dir))
            loaded = l_runs[-1]["binary"]
            if f"libggml-cpu-{llama_variant(tier)}.so" not in loaded:
                sys.exit(f"llama.cpp loaded {loaded}, not its {tier} build")
            w, l = bench.best(w_runs), bench.best(l_runs)
            pp, tg = w["pp_tok_s"] / l["pp_tok_s"], w["tg_tok_s"] / l["tg_tok_s"]
            kernels = w_runs[-1]["device"]
            rows.append((tier, Path(model).name, t, pp, tg))
            print(f"| {Path(model).name} | {t} | {kernels} | {w['pp_tok_s']:.1f} | "
                  f"{l['pp_tok_s']:.1f} | {pp:.2f} | {w['tg_tok_s']:.1f} | {l['tg_tok_s']:.1f} | "
                  f"{tg:.2f} |", flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiers", help="comma-separated tiers (default: every tier this CPU has)")
    p.add_argument("--model", action="append", help="bench this model (repeatable)")
    p.add_argument("--synth-dir", default=str(bench.ROOT / "models/synth"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--n-prompt", type=int, default=128)
    p.add_argument("--n-gen", type=int, default=32)
    p.add_argument("--woolly", default=str(bench.TARGET / "release/woolly"))
    a = p.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    have = cpu_tiers()
    tiers = a.tiers.split(",") if a.tiers else have
    for tier in tiers:
        if tier not in TIERS:
            sys.exit(f"unknown tier {tier}: expected one of {', '.join(TIERS)}")
        if tier not in have:
            sys.exit(f"this CPU has no {tier} (it has {', '.join(have)})")
    models = a.model or [str(bench.TEST_MODEL)] + [
        bench.synth_model(a, preset, quant)
        for preset in bench.YARDSTICK for quant in ("q4_k_m", "q4_0")]

    print("Ratio: Woolly / llama.cpp tok/s (>= 1.0: Woolly is as fast or faster). "
          f"This CPU has: {', '.join(have)}.")
    rows = []
    with tempfile.TemporaryDirectory(prefix="woolly-tiers-") as tmp:
        for tier in tiers:
            rows += run_tier(a, tier, models, threads,
                             restricted_bench_dir(tmp, llama_variant(tier)))
    short = [r for r in rows if min(r[3], r[4]) < 1.0]
    print(f"\n{len(rows) - len(short)} of {len(rows)} tier/model/thread rows at or above 1.0 "
          "on both prefill and decode.")
    for tier, model, t, pp, tg in short:
        print(f"- below 1.0: {tier} {model} {t} thread(s): prefill {pp:.2f}, decode {tg:.2f}")
    print(f"\nllama.cpp: node-llama-cpp {bench.node_llama_version()}.")


if __name__ == "__main__":
    main()
