// llama.cpp (node-llama-cpp's prebuilt CPU binary) measured the way `woolly bench` measures
// itself, so scripts/bench.py can put the two side by side. One run per process: peak RSS
// (VmHWM) is then this run's alone.
//
//   node bench/llama_bench.mjs -m MODEL [-t THREADS] [-p 512] [-n 128] [--seed-tokens 1,2,3]
//
// Prints one JSON line with the keys of `woolly bench --json` plus ttft_ms and the binary used.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

// The same text `woolly bench` repeats to the prompt length (crates/woolly-cli/src/commands/bench.rs).
const SEED_TEXT = "The quick brown fox jumps over the lazy dog while the sun sets behind the hills. ";

const { values: a } = parseArgs({
  options: {
    model: { type: "string", short: "m" },
    threads: { type: "string", short: "t", default: "1" },
    "n-prompt": { type: "string", short: "p", default: "512" },
    "n-gen": { type: "string", short: "n", default: "128" },
    // Woolly's own token ids for SEED_TEXT, so both engines prefill the exact same ids.
    "seed-tokens": { type: "string" },
  },
});
if (!a.model) throw new Error("usage: llama_bench.mjs -m MODEL [-t N] [-p 512] [-n 128] [--seed-tokens ids]");
const threads = Number(a.threads), nPrompt = Number(a["n-prompt"]), nGen = Number(a["n-gen"]);
const now = () => performance.now();
// A /proc/self/status memory field (VmRSS, VmHWM) in MiB.
const status = (key) =>
  Number(readFileSync("/proc/self/status", "utf8").match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))[1]) / 1024;
// Node.js's own memory before llama.cpp loads: subtracted so peak RSS compares the engines,
// not Woolly's native binary against a JavaScript runtime.
const runtimeRssMb = status("VmRSS");

// Never build or download: use the binary shipped in @node-llama-cpp/linux-x64, CPU only.
const llama = await getLlama({
  gpu: false,
  build: "never",
  skipDownload: true,
  usePrebuiltBinaries: true,
  maxThreads: threads,
  logLevel: LlamaLogLevel.error,
});

// Time llama.cpp's own loading: the native model and context init calls. Through the API,
// node-llama-cpp first parses the GGUF metadata in JavaScript and estimates memory, which
// is not llama.cpp's cost (that total is reported as load_total_ms).
let nativeLoadMs = 0;
for (const name of ["AddonModel", "AddonContext"]) {
  const Base = llama._bindings[name];
  llama._bindings[name] = class extends Base {
    async init(...args) {
      const t = now();
      try { return await super.init(...args); } finally { nativeLoadMs += now() - t; }
    }
  };
}

const t0 = now();
const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });
const context = await model.createContext({
  // Woolly's bench default: room for the prompt and every generated token.
  contextSize: Math.max(512, nPrompt + nGen + 1),
  batchSize: nPrompt, // the whole prompt in one batch, like llama-bench's pp512
  threads: { ideal: threads, min: threads },
  flashAttention: "auto", // llama.cpp's default; the KV cache stays f16 (its default type)
});
const sequence = context.getSequence();
const loadTotalMs = now() - t0;

const seed = a["seed-tokens"]
  ? a["seed-tokens"].split(",").map(Number)
  : Array.from(model.tokenize(SEED_TEXT, false)); // no special-token parsing, like Woolly
const prompt = Array.from({ length: Math.max(1, nPrompt) }, (_, i) => seed[i % seed.length]);

// Prefill, then greedy decode; times split as in Woolly's engine (generate.rs): TTFT ends when
// the first token is sampled from the prefill logits, decode tok/s counts the n-1 later steps.
let tFirst = 0, tEnd = 0, generated = 0;
const tStart = now();
for await (const _token of sequence.evaluate(prompt, { temperature: 0 })) {
  tEnd = now(); // taken before the generator's cleanup on break
  if (generated++ === 0) tFirst = tEnd;
  if (generated >= nGen) break;
}
const prefillMs = tFirst - tStart;

const peakMb = status("VmHWM");
const release = llama.llamaCppRelease;
// Which native files were really loaded: the addon and the CPU variant ggml picked at run time.
const loaded = (re) => [...new Set(readFileSync("/proc/self/maps", "utf8").match(re) ?? [])].join(" ");
console.log(JSON.stringify({
  pp_tok_s: nPrompt / (prefillMs / 1e3),
  tg_tok_s: (generated - 1) / ((tEnd - tFirst) / 1e3),
  ttft_ms: prefillMs,
  load_ms: nativeLoadMs,
  load_total_ms: loadTotalMs,
  peak_rss_mb: peakMb - runtimeRssMb,
  peak_rss_total_mb: peakMb,
  runtime_rss_mb: runtimeRssMb,
  n_prompt: prompt.length,
  n_gen: generated,
  threads,
  seed_tokens: seed.length,
  build: `${llama.buildType} llama.cpp ${release.repo}@${release.release}, ${llama.gpu || "cpu"}`,
  binary: loaded(/\S*\/(llama-addon\.node|libggml-cpu-[\w-]+\.so)$/gm),
}));
await llama.dispose();
