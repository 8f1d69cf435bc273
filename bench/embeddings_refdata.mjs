// Reference embeddings from llama.cpp (node-llama-cpp's prebuilt CPU binary) for the test model
// (SmolLM2-135M-Instruct.Q4_1.gguf), for the server's /v1/embeddings tests. Writes:
//
//   tests/refdata/smollm2-embeddings.json   per sentence: token ids, llama.cpp's last-token
//                                           embedding and the mean over all tokens
//
//   # once, if bench/node_modules is missing (as `make bench` installs it):
//   NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --prefix bench --include=dev --omit=optional --ignore-scripts --no-audit --no-fund
//   node bench/embeddings_refdata.mjs [-m models/SmolLM2-135M-Instruct.Q4_1.gguf] [-o tests/refdata]
//
// What node-llama-cpp's embedding is, for a causal LM like this one (read from its sources,
// dist/evaluator/LlamaEmbeddingContext.js and llama/addon/AddonContext.cpp, and llama.cpp's
// src/llama-context.cpp, src/llama-hparams.h, src/models/llama.cpp in llama/gitRelease.bundle):
//
// - createEmbeddingContext() makes a llama_context with embeddings=true and pooling_type left
//   UNSPECIFIED; the GGUF has no `llama.pooling_type` key, so llama.cpp resolves it to the
//   model's default, LLAMA_POOLING_TYPE_NONE. There is no option to pick another pooling
//   (only `ranking`, which is RANK pooling and needs a classifier head).
// - With pooling NONE, AddonContext::GetEmbedding returns llama_get_embeddings_ith(ctx, -1):
//   the LAST token's row of `t_embd`, which for the llama architecture is `result_norm`, the
//   hidden state after the final RMSNorm (output_norm), before the LM head. As is: NOT
//   L2-normalized (node-llama-cpp's own cosine similarity normalizes when it compares).
// - getEmbeddingFor(text) tokenizes with model.tokenize(text, false) (= common_tokenize with
//   add_special=false, parse_special=false), then prepends BOS only if the model's
//   add_bos_token says so and appends EOS only if add_eos_token says so. SmolLM2 has
//   add_bos_token=false and no add_eos_token: the ids are the text's tokens alone.
//
// The mean-pooled vector (what llama.cpp's LLAMA_POOLING_TYPE_MEAN computes: the average of
// the result_norm rows of all tokens) is not reachable through node-llama-cpp, so it is built
// here from prefixes: with causal attention the hidden state at position i depends only on
// tokens 0..i, so it is the last-token embedding of the prefix ids[0..=i] (each prefix is its
// own fresh evaluation, decoded as one batch). The mean of those is the mean pooling.
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel, readGgufFileInfo } from "node-llama-cpp";

const { values: a } = parseArgs({
  options: {
    model: { type: "string", short: "m",
      default: fileURLToPath(new URL("../models/SmolLM2-135M-Instruct.Q4_1.gguf", import.meta.url)) },
    out: { type: "string", short: "o", default: fileURLToPath(new URL("../tests/refdata", import.meta.url)) },
  },
});

// [name, text]: two paraphrase pairs and unrelated sentences.
const SENTENCES = [
  ["cat", "The cat sat on the mat."],
  ["cat_paraphrase", "A cat was sitting on the mat."],
  ["stocks", "Stock markets fell sharply on Monday."],
  ["bread", "How do I bake bread at home?"],
  ["bread_paraphrase", "What is a simple recipe for homemade bread?"],
  ["weather", "The weather is sunny and warm today."],
  ["photosynthesis", "Photosynthesis converts sunlight into chemical energy."],
  ["rust", "I love writing programs in Rust."],
];
const CONTEXT = { contextSize: 512, batchSize: 512, threads: 1 };

const sha256 = (path) => new Promise((resolve, reject) => {
  const h = createHash("sha256");
  createReadStream(path).on("data", (d) => h.update(d)).on("end", () => resolve(h.digest("hex"))).on("error", reject);
});
const modelSha = await sha256(a.model);
const { version: nlcVersion } = JSON.parse(
  readFileSync(new URL("node_modules/node-llama-cpp/package.json", import.meta.url), "utf8"));
const gguf = await readGgufFileInfo(a.model, { readTensorInfo: false });
const tk = gguf.metadata.tokenizer.ggml;
const arch = gguf.metadata.general.architecture;
const poolingKey = gguf.metadata[arch]?.pooling_type ?? null;
if (poolingKey != null) throw new Error(`the model has ${arch}.pooling_type=${poolingKey}; this script assumes none`);

const llama = await getLlama({
  gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
  maxThreads: 1, logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0, defaultContextFlashAttention: false });
const addBos = model.tokens.shouldPrependBosToken;
const addEos = model.tokens.shouldAppendEosToken;
const ctx = await model.createEmbeddingContext(CONTEXT);
const nEmbd = model.embeddingVectorSize;

const cpuBackend = [...new Set(readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-[\w-]+\.so/g) ?? [])].join(", ");
const { repo, release } = llama.llamaCppRelease;

const sig6 = (x) => Number(x.toPrecision(6));
const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const unit = (v) => { const n = norm(v); return v.map((x) => x / n); };
const cosine = (u, v) => u.reduce((s, x, i) => s + x * v[i], 0) / (norm(u) * norm(v));

const cases = [];
for (const [name, text] of SENTENCES) {
  // What getEmbeddingFor evaluates: the text's tokens, plus BOS/EOS if the model asks for them.
  const ids = [...(addBos ? [model.tokens.bos] : []), ...model.tokenize(text, false),
    ...(addEos ? [model.tokens.eos] : [])];
  if (ctx.calculateInputLength(text) !== ids.length) throw new Error(`token count mismatch for ${text}`);
  const last = Array.from((await ctx.getEmbeddingFor(text)).vector);
  if (last.length !== nEmbd) throw new Error(`vector of ${last.length}, expected ${nEmbd}`);
  // Per-position hidden states from prefixes; the full-length prefix must give `last` again.
  const rows = [];
  for (let i = 1; i <= ids.length; i++) rows.push(Array.from((await ctx.getEmbeddingFor(ids.slice(0, i))).vector));
  const again = Math.max(...rows.at(-1).map((x, j) => Math.abs(x - last[j])));
  if (again !== 0) throw new Error(`the ids alone do not reproduce the text's embedding (max diff ${again})`);
  const mean = last.map((_, j) => rows.reduce((s, r) => s + r[j], 0) / rows.length);
  cases.push({
    name, text, ids, n_tokens: ids.length,
    pieces: ids.map((id) => model.detokenize([id], true)),
    last_norm: sig6(norm(last)), mean_norm: sig6(norm(mean)),
    last: last.map(sig6), mean: mean.map(sig6),
  });
  console.error(`${name}: ${ids.length} tokens, |last| ${norm(last).toFixed(3)}, |mean| ${norm(mean).toFixed(3)}`);
}
await ctx.dispose();

// Sanity: cosines of the rounded, normalized vectors.
const byName = Object.fromEntries(cases.map((c) => [c.name, c]));
const pairs = [["cat", "cat_paraphrase"], ["cat", "stocks"], ["cat_paraphrase", "stocks"],
  ["bread", "bread_paraphrase"], ["bread", "stocks"], ["cat", "bread"], ["weather", "rust"]];
const cosines = {};
for (const kind of ["mean", "last"]) {
  cosines[kind] = {};
  for (const [x, y] of pairs) cosines[kind][`${x}/${y}`] = sig6(cosine(unit(byName[x][kind]), unit(byName[y][kind])));
}
console.error(JSON.stringify(cosines, null, 1));

const meta = {
  about: `Reference embeddings of llama.cpp (CPU) for ${basename(a.model)} (sha256 ${modelSha}).`,
  tool: `bench/embeddings_refdata.mjs: node-llama-cpp ${nlcVersion}, its prebuilt CPU binary (llama.cpp ${repo} release ${release}, as llama.llamaCppRelease reports it; ggml CPU backend ${cpuBackend}), model.createEmbeddingContext + getEmbeddingFor`,
  n_embd: nEmbd,
  what: "Both vectors are rows of llama.cpp's `result_norm` (t_embd): the last layer's hidden state after the final RMSNorm (output_norm, with its weight), before the LM head (output.weight). No L2 normalization: normalize before comparing (the *_norm fields are their L2 norms).",
  last: "node-llama-cpp's own embedding (getEmbeddingFor(text).vector): the embedding context has embeddings=true and pooling_type unspecified, which llama.cpp resolves to the model's pooling type; the GGUF has no llama.pooling_type key, so it is LLAMA_POOLING_TYPE_NONE, and node-llama-cpp returns llama_get_embeddings_ith(ctx, -1): the LAST token's row. node-llama-cpp has no option to choose MEAN or LAST pooling.",
  mean: "Mean pooling (what llama.cpp's LLAMA_POOLING_TYPE_MEAN computes: the average of all tokens' result_norm rows), computed here: with causal attention position i's row depends only on tokens 0..i, so it is getEmbeddingFor(ids[0..=i]).vector (each prefix a fresh evaluation in one batch); `mean` is the average of those over i. Then not normalized. (Checked once by hand: decoding a sentence one token at a time through the KV cache instead gives rows within 0.1% of their norm of the prefix rows, so the choice of path moves a cosine by far less than 1e-3.)",
  tokenization: `ids = model.tokenize(text, false) (common_tokenize with add_special=false, parse_special=false)${addBos ? " with BOS prepended" : ""}${addEos ? " with EOS appended" : ""}: exactly what getEmbeddingFor evaluates. BOS ${addBos ? "added" : "NOT added"} (tokenizer.ggml.add_bos_token=${tk.add_bos_token}), EOS ${addEos ? "added" : "NOT added"} (tokenizer.ggml.add_eos_token=${tk.add_eos_token ?? "absent"}). n_tokens counts every evaluated token.`,
  pieces: "each id detokenized alone (special tokens shown)",
  context: `one embedding context reused (llama.cpp's KV cache cleared before each input), n_ctx=${CONTEXT.contextSize}, n_batch=n_ubatch=${CONTEXT.batchSize} (each input decoded in one batch), f16 KV cache, flash attention off, causal attention, ${CONTEXT.threads} thread, no GPU layers`,
  rounding: "every float rounded to 6 significant digits",
  cosines: { note: "cosine similarities of the stored (rounded) vectors, for reference", ...cosines },
};
const body = `{\n "meta": ${JSON.stringify(meta, null, 2).replace(/\n/g, "\n ")},\n "cases": [\n` +
  cases.map((c) => `  ${JSON.stringify(c)}`).join(",\n") + "\n ]\n}\n";
mkdirSync(a.out, { recursive: true });
writeFileSync(join(a.out, "smollm2-embeddings.json"), body);
console.error(`wrote ${join(a.out, "smollm2-embeddings.json")}: ${cases.length} cases, ${body.length} bytes`);
