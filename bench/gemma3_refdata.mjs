// Reference data from llama.cpp (node-llama-cpp's prebuilt CPU binary) for the Gemma 3 test
// model (gemma-3-270m-q4_k_m.gguf), for Woolly's tests to compare against. Writes:
//
//   tests/refdata/gemma3-tokenize.json  token ids of 35 texts, special-token parsing on and off
//   tests/refdata/gemma3-greedy.json    greedy continuations of prompts (BOS prepended), the
//                                       first step's top 5 and every step teacher-forced
//
//   # once, if bench/node_modules is missing (as `make bench` installs it):
//   NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --prefix bench --include=dev --omit=optional --ignore-scripts --no-audit --no-fund
//   node bench/gemma3_refdata.mjs -m models/gemma-3-270m-q4_k_m.gguf [-o tests/refdata] [-n 32]
//
// The settings match tests/refdata's SmolLM2 reference: a fresh context per prompt, n_ctx 512,
// n_batch 512 (the prompt decoded in one batch, then one token at a time), f16 KV cache, no
// flash attention, 1 thread. node-llama-cpp returns probabilities, not logits, so the files hold
// log-probabilities: logit_i - logit_j == logp_i - logp_j, so gaps between tokens compare
// directly with an engine's raw logits (absolute values do not).
//
// Tokenization: node-llama-cpp's model.tokenize(text, parseSpecial) is llama.cpp's
// common_tokenize(vocab, text, add_special=false, parse_special): it never adds BOS. The model
// has add_bos_token=true and add_space_prefix=false, so with add_special=true llama.cpp would
// only put BOS (2) in front of these same ids; the greedy prompts get it prepended here.
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel, readGgufFileInfo } from "node-llama-cpp";

const { values: a } = parseArgs({
  options: {
    model: { type: "string", short: "m" },
    out: { type: "string", short: "o", default: fileURLToPath(new URL("../tests/refdata", import.meta.url)) },
    "n-gen": { type: "string", short: "n", default: "32" },
  },
});
if (!a.model) throw new Error("usage: gemma3_refdata.mjs -m MODEL [-o OUT_DIR] [-n 32]");
const nGen = Number(a["n-gen"]);

// ---- the texts -------------------------------------------------------------------------------

const TOKENIZE_TEXTS = [
  "Hello world",
  "Hello, world! How are you today?",
  "The quick brown fox jumps over the lazy dog.",
  "",
  " ",
  "   leading and trailing spaces   ",
  "multiple     spaces          here",
  "\n\n\n\n",
  "tabs\tand\nnewlines\n\n\nand\r\nCRLF",
  "1234567890",
  "3.14159 2.71828 -42 1e-9 0x1F 1,000,000 18446744073709551615",
  "Année, café, naïve, façade, Übermensch, São Paulo",
  // decomposed (NFD): e + U+0301, n + U+0303, a + U+0308 + U+0304; then the precomposed é
  "cafe\u0301 man\u0303ana a\u0308\u0304 vs caf\u00e9",
  "Привет, мир! Как дела?",
  "你好，世界！今天天气很好。",
  "こんにちは世界 カタカナ ひらがな 한국어",
  "مرحبا بالعالم שלום עולם",
  "emoji: 😀🎉👍🏽 🇺🇸 👨\u200d👩\u200d👧\u200d👦",
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n-1) + fib(n-2)\n",
  "int main(void) {\n\tif (x) {\n\t\treturn 0;\n\t}\n}\n",
  'fn main() { println!("{}", 1 + 2); } // rust',
  '<div class="x">&amp; &lt;tag&gt;</div>',
  "I'm can't won't they're we've you'll he'd",
  "Supercalifragilisticexpialidocious antidisestablishmentarianism",
  "a".repeat(64),
  // runs of 2+ spaces, tabs and newlines, and HTML tags, are USER_DEFINED vocab entries, which
  // llama.cpp matches in the raw text before SentencePiece, parse_special or not
  "a  b   c\t\td\n\n\ne",
  "<h1>Title</h1>\n<p>Some <b>bold</b> text</p>",
  "<start_of_image><end_of_image>",
  // byte fallback: control chars, NBSP, runes, CJK extension B, a plane-16 private-use codepoint
  "bell\u0007 nul\u0000 nbsp\u00a0end",
  "\u16a0\u16a1 \u{20000} \u{10fffd}",
  // special tokens in the text
  "<start_of_turn>user\nHi<end_of_turn>\n",
  "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
  "<bos>Hello",
  "<eos>text after eos<end_of_turn>",
  "x<start_of_turn>y",
];

const chat = (user) => `<start_of_turn>user\n${user}<end_of_turn>\n<start_of_turn>model\n`;
const GREEDY_PROMPTS = [
  ["raw", "The capital of France is"],
  ["raw", "def fibonacci(n):"],
  ["raw", "Question: What is the boiling point of water at sea level in degrees Celsius?\nAnswer:"],
  ["raw",
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg, " +
    "a goldsmith from Mainz, combined movable metal type, oil-based ink and a wooden press adapted " +
    "from those used to make wine. Within a few decades, printing shops had spread to more than two " +
    "hundred cities across Europe, and the price of books fell sharply. Historians still debate how " +
    "much this change"],
  ["chat", chat("Write a haiku about the ocean.")],
  ["chat", chat("Translate to French: I love reading books.")],
];

// ---- llama.cpp -------------------------------------------------------------------------------

const sha256 = (path) => new Promise((resolve, reject) => {
  const h = createHash("sha256");
  createReadStream(path).on("data", (d) => h.update(d)).on("end", () => resolve(h.digest("hex"))).on("error", reject);
});
const modelSha = await sha256(a.model);
const { version: nlcVersion } = JSON.parse(
  readFileSync(new URL("node_modules/node-llama-cpp/package.json", import.meta.url), "utf8"));
const gguf = await readGgufFileInfo(a.model, { readTensorInfo: false });
const tk = gguf.metadata.tokenizer.ggml;
const vocab = tk.tokens; // raw GGUF vocab strings ("▁" = space, "<0x0A>" = byte tokens)

const llama = await getLlama({
  gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
  maxThreads: 1, logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });
const BOS = model.tokens.bos;
if (!model.tokens.shouldPrependBosToken || BOS !== 2) throw new Error(`unexpected BOS handling: bos=${BOS}`);
const eog = [];
for (let id = 0; id < vocab.length; id++) if (model.isEogToken(id)) eog.push(id);

// Which of ggml's CPU variants (libggml-cpu-<arch>.so) this machine loaded: quantized dot
// products round differently on each.
const cpuBackend = [...new Set(readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-[\w-]+\.so/g) ?? [])].join(", ");
const about = `Reference outputs of llama.cpp (CPU) for ${basename(a.model)} (sha256 ${modelSha}).`;
const { repo, release } = llama.llamaCppRelease;
const tool = `bench/gemma3_refdata.mjs: node-llama-cpp ${nlcVersion}, its prebuilt CPU binary (llama.cpp ${repo} release ${release}, as llama.llamaCppRelease reports it; ggml CPU backend ${cpuBackend})`;
const r6 = (x) => Number(x.toFixed(6));

// ---- tokenize --------------------------------------------------------------------------------

const tokenizeCases = TOKENIZE_TEXTS.map((text) => {
  const ids = Array.from(model.tokenize(text, true));
  const ids_no_parse_special = Array.from(model.tokenize(text, false));
  return { text, ids, ids_no_parse_special, pieces: ids.map((id) => vocab[id]) };
});

// ---- greedy ----------------------------------------------------------------------------------

const step = { generateNext: { token: true, probabilities: true, options: { temperature: 0 } } };
const contextOptions = { contextSize: 512, batchSize: 512, threads: { ideal: 1, min: 1 }, flashAttention: false };
const top = (probabilities, n) => [...probabilities.entries()].sort((x, y) => y[1] - x[1]).slice(0, n);
const piece = (id) => model.detokenize([id], true);

// Prefill `promptIds` in one batch in a fresh context, then feed `forced` (or, if null, the
// greedy token) one at a time; return each step's greedy token and its full probabilities.
async function run(promptIds, forced) {
  const context = await model.createContext(contextOptions);
  const sequence = context.getSequence();
  const input = promptIds.map((t, i) => (i + 1 < promptIds.length ? t : [t, step]));
  let next = (await sequence.controlledEvaluate(input)).at(-1).next;
  const steps = [];
  for (let i = 0; i < nGen; i++) {
    steps.push(next);
    const feed = forced ? forced[i] : next.token;
    if (i + 1 < nGen) next = (await sequence.controlledEvaluate([[feed, step]]))[0].next;
  }
  await context.dispose();
  return steps;
}

const greedyCases = [];
for (const [kind, prompt] of GREEDY_PROMPTS) {
  const prompt_ids = [BOS, ...model.tokenize(prompt, true)];
  const gen = await run(prompt_ids, null);
  const gen_ids = gen.map((s) => s.token);
  const firstEog = gen_ids.findIndex((id) => eog.includes(id));
  const top5_first_token = top(gen[0].probabilities, 5)
    .map(([id, p]) => ({ id, logprob: r6(Math.log(p)), piece: piece(id) }));
  // Teacher-forced: a second fresh context, fed gen_ids; llama.cpp's top token at each step and
  // logp(top) - logp(gen_ids[i]) (0 when they agree), as bench/llama_agreement.mjs prints.
  const forced = await run(prompt_ids, gen_ids);
  const steps = forced.map((s, i) => {
    const lp = (id) => Math.log(s.probabilities.get(id) ?? 0);
    return [s.token, r6(lp(s.token) - lp(gen_ids[i]))];
  });
  const tops = forced.map((s) => top(s.probabilities, 5));
  const margins = tops.map(([[, p1], [, p2]]) => r6(Math.log(p1) - Math.log(p2)));
  const top5_steps = tops.map((t) => t.map(([id, p]) => [id, r6(Math.log(p))]));
  if (steps.some(([t, g], i) => t !== gen_ids[i] || g !== 0)) {
    console.error(`warning: teacher-forced run disagrees with greedy run for ${JSON.stringify(prompt)}`);
  }
  const gen_text = model.detokenize(gen_ids, true);
  greedyCases.push({
    kind, prompt, prompt_ids, gen_ids, gen_text, first_eog_index: firstEog < 0 ? null : firstEog,
    top5_first_token, steps, margins, top5_steps,
  });
  console.error(`${kind} ${JSON.stringify(prompt)} -> ${JSON.stringify(gen_text)}`);
}

// ---- write -----------------------------------------------------------------------------------

// `meta` indented, then one case per line.
const write = (name, meta, cases) => {
  const body = `{\n "meta": ${JSON.stringify(meta, null, 2).replace(/\n/g, "\n ")},\n "cases": [\n` +
    cases.map((c) => `  ${JSON.stringify(c)}`).join(",\n") + "\n ]\n}\n";
  mkdirSync(a.out, { recursive: true });
  writeFileSync(join(a.out, name), body);
  console.error(`wrote ${join(a.out, name)}: ${cases.length} cases, ${body.length} bytes`);
};

const specials = { bos: BOS, eos: model.tokens.eos, eot: model.tokens.eot, eog_ids: eog,
  start_of_turn: model.tokenize("<start_of_turn>", true)[0], end_of_turn: model.tokenize("<end_of_turn>", true)[0] };

write("gemma3-tokenize.json", {
  about,
  tool,
  add_bos: true,
  add_bos_note: "The model's metadata has tokenizer.ggml.add_bos_token=true (BOS id 2). The ids here are WITHOUT it: node-llama-cpp's tokenize is llama.cpp's common_tokenize(add_special=false). With add_special=true llama.cpp only prepends 2 (add_space_prefix=false, so nothing else changes; '<bos>Hello' would then start 2, 2 and llama.cpp warns of a double BOS). An engine that adds BOS must prepend 2 to compare.",
  tokenization: "'ids': model.tokenize(text, true) = common_tokenize(add_special=false, parse_special=true): special-token text such as <start_of_turn>, <end_of_turn>, <bos>, <eos> becomes its id. 'ids_no_parse_special': model.tokenize(text, false), the same text as plain text. node-llama-cpp returns [] for the empty string without calling llama.cpp.",
  pieces: "raw GGUF vocab strings of 'ids' (SentencePiece: '▁' = space, '<0xNN>' = byte-fallback tokens)",
  user_defined: "The vocab has 165 USER_DEFINED entries (token_type 4): runs of 2-31 spaces, of newlines and of tabs, HTML tags (<div>, </div>, <h1>, ...), [multimodal], <start_of_image>, <end_of_image>. llama.cpp matches them in the raw text (longest first) before SentencePiece whether or not special tokens are parsed, so they hold literal spaces (not '▁') and split the text: '   leading' is ['   ', 'leading'], not '▁leading'. Only CONTROL tokens (<bos>, <eos>, <start_of_turn>, ...) depend on parse_special.",
  tokenizer: { model: tk.model, pre: tk.pre, vocab_size: vocab.length, add_bos_token: tk.add_bos_token,
    add_eos_token: tk.add_eos_token, add_space_prefix: tk.add_space_prefix, ...specials },
}, tokenizeCases);

write("gemma3-greedy.json", {
  about,
  tool,
  decoding: `greedy (temperature 0: llama.cpp's greedy sampler, argmax of the raw logits), ${nGen} new tokens, NOT stopped at end of generation (first_eog_index marks where an EOG token (ids ${eog.join(", ")}: <eos>, <end_of_turn>, </s>) first appears; tokens after it are still the model's greedy continuation)`,
  model_note: "This GGUF is the pretrained base model (general.name 'Gemma 3 270m', no chat template), not the instruction-tuned one, so the chat-formatted prompts get incoherent continuations (it echoes the request, with the odd token ' mendatang'); they are kept because they exercise <start_of_turn>/<end_of_turn>.",
  tokenization: "prompt_ids = [2 (BOS)] + model.tokenize(prompt, true) (special tokens parsed; the model has add_bos_token=true). 'prompt' is the text without <bos>.",
  context: "fresh context per prompt (and per pass), n_ctx=512, n_batch=512, prompt decoded in one batch, then one token at a time; f16 KV cache (llama.cpp's default type); flash attention off; 1 thread; no GPU layers",
  logprobs: "node-llama-cpp gives probabilities (float32 softmax of the raw logits), so the values are natural-log probabilities, rounded to 6 decimals: logit_i - logit_top == logprob_i - logprob_top. Compare gaps, not absolute values.",
  top5_first_token: "the 5 most likely first generated tokens after prefill: id, logprob, piece (the token detokenized with special tokens shown)",
  gen_text: "model.detokenize(gen_ids, specialTokens=true)",
  steps: "teacher-forced in a second fresh context (the prompt, then gen_ids fed one at a time): per step i, [llama.cpp's top token id, logprob(top) - logprob(gen_ids[i])], as bench/llama_agreement.mjs prints; all gaps are 0 here since both passes are the same llama.cpp",
  margins: "per step, logprob(top-1) - logprob(top-2) of the teacher-forced pass: how near a tie each greedy choice was",
  top5_steps: "per step, the 5 most likely tokens of the teacher-forced pass as [id, logprob]",
  tokens: specials,
}, greedyCases);
