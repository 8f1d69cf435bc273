// Reference outputs of llama.cpp (node-llama-cpp's prebuilt CPU binary) for synthetic models of
// the architectures Woolly runs beyond the test models: Gemma 2 (soft-capping, alternating
// sliding windows) and Llama 3's rope_freqs tensor. (This llama.cpp build refuses a synthetic
// Phi-3, "error loading model vocabulary: _Map_base::at", with any vocabulary tried: Phi-3 is
// checked against the f32 reference of tests/model_tiny.rs.) Each model
// is written by `woolly synth` (random weights, the test model's vocabulary) from a preset and a
// seed, so the test writes the same bytes again (it checks the SHA-256) and needs nothing else.
//
//   # once, if bench/node_modules is missing (as `make bench` installs it):
//   NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --prefix bench --include=dev --omit=optional --ignore-scripts --no-audit --no-fund
//   node bench/families_refdata.mjs [--woolly PATH] [-o tests/refdata] [-n 16]
//
// Writes tests/refdata/families-greedy.json: per model and prompt, the prompt's token ids, 16
// greedy tokens and every step's top 5 as log-probabilities (compare gaps, not values). The
// settings are the other reference files': n_ctx 512, the prompt in one batch, f16 KV cache, no
// flash attention, 1 thread.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values: a } = parseArgs({
  options: {
    woolly: { type: "string", default: join(process.env.HOME, ".cache/woolly/target/release/woolly") },
    out: { type: "string", short: "o", default: join(root, "tests/refdata") },
    "n-gen": { type: "string", short: "n", default: "16" },
  },
});
const nGen = Number(a["n-gen"]);
const MODELS = [
  { preset: "tiny-gemma2", quant: "q8_0", seed: 7 },
  { preset: "tiny-llama3", quant: "q8_0", seed: 7 },
];
const PROMPTS = [
  "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg, a goldsmith from Mainz, combined movable metal type",
  "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
];

const llama = await getLlama({
  gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
  maxThreads: 1, logLevel: process.env.LLAMA_LOG ? LlamaLogLevel.debug : LlamaLogLevel.error,
});
const { version: nlcVersion } = JSON.parse(
  readFileSync(new URL("node_modules/node-llama-cpp/package.json", import.meta.url), "utf8"));
const cpuBackend = [...new Set(readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-[\w-]+\.so/g) ?? [])].join(", ");
const r6 = (x) => Number(x.toFixed(6));
const step = { generateNext: { token: true, probabilities: true, options: { temperature: 0 } } };
const contextOptions = { contextSize: 512, batchSize: 512, threads: { ideal: 1, min: 1 }, flashAttention: false };
const top5 = (probabilities) => [...probabilities.entries()].sort((x, y) => y[1] - x[1]).slice(0, 5)
  .map(([id, p]) => [id, r6(Math.log(p))]);

const dir = mkdtempSync(join(tmpdir(), "families-"));
const cases = [];
for (const m of MODELS) {
  const path = join(dir, `${m.preset}.gguf`);
  execFileSync(a.woolly, ["synth", "--preset", m.preset, "--quant", m.quant, "--seed", String(m.seed),
    "--vocab-from", join(root, "models/SmolLM2-135M-Instruct.Q4_1.gguf"), "-o", path], { stdio: "inherit" });
  const sha256 = createHash("sha256").update(readFileSync(path)).digest("hex");
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  for (const prompt of PROMPTS) {
    const prompt_ids = Array.from(model.tokenize(prompt, true));
    const context = await model.createContext(contextOptions);
    const sequence = context.getSequence();
    const input = prompt_ids.map((t, i) => (i + 1 < prompt_ids.length ? t : [t, step]));
    let next = (await sequence.controlledEvaluate(input)).at(-1).next;
    const gen_ids = [], top5_steps = [];
    for (let i = 0; i < nGen; i++) {
      gen_ids.push(next.token);
      top5_steps.push(top5(next.probabilities));
      if (i + 1 < nGen) next = (await sequence.controlledEvaluate([[next.token, step]]))[0].next;
    }
    await context.dispose();
    cases.push({ ...m, sha256, prompt_ids, gen_ids, top5_steps });
    console.error(`${m.preset}: ${JSON.stringify(model.detokenize(gen_ids))}`);
  }
  await model.dispose();
}

const meta = {
  about: "llama.cpp (CPU) on synthetic models written by `woolly synth --preset P --quant Q --seed S --vocab-from models/SmolLM2-135M-Instruct.Q4_1.gguf`; sha256 is the file's.",
  tool: `bench/families_refdata.mjs: node-llama-cpp ${nlcVersion}, its prebuilt CPU binary (llama.cpp release ${llama.llamaCppRelease.release}; ggml CPU backend ${cpuBackend})`,
  context: "fresh context per prompt, n_ctx=512, n_batch=512, prompt decoded in one batch, then one token at a time; f16 KV cache; flash attention off; 1 thread",
  prompt_ids: "model.tokenize(prompt, true): no BOS",
  gen_ids: `${nGen} greedy tokens (argmax of the raw logits)`,
  top5_steps: "per step, the 5 most likely tokens as [id, natural-log probability] (float32 softmax of the raw logits): logit_i - logit_j == logprob_i - logprob_j",
};
const body = `{\n "meta": ${JSON.stringify(meta, null, 2).replace(/\n/g, "\n ")},\n "cases": [\n` +
  cases.map((c) => `  ${JSON.stringify(c)}`).join(",\n") + "\n ]\n}\n";
mkdirSync(a.out, { recursive: true });
writeFileSync(join(a.out, "families-greedy.json"), body);
console.error(`wrote ${join(a.out, "families-greedy.json")}: ${cases.length} cases`);
