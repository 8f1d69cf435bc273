// How llama.cpp (node-llama-cpp's prebuilt CPU binary) tokenizes every ASCII byte with the test
// model (SmolLM2-135M-Instruct.Q4_1.gguf), alone and between letters. Its GPT-2 byte-level
// vocabulary has no token for some bytes (0x1D): llama.cpp drops those, and Woolly must agree.
// Writes tests/refdata/smollm2-control-bytes.json.
//
//   node bench/control_bytes_refdata.mjs -m models/SmolLM2-135M-Instruct.Q4_1.gguf [-o tests/refdata]
//
// Tokenization is model.tokenize(text, false): llama.cpp's common_tokenize with add_special=false
// and parse_special=false (SmolLM2 adds no BOS either way).

import { writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const { values: a } = parseArgs({
  options: {
    model: { type: "string", short: "m" },
    out: { type: "string", short: "o", default: fileURLToPath(new URL("../tests/refdata", import.meta.url)) },
  },
});
if (!a.model) throw new Error("usage: node bench/control_bytes_refdata.mjs -m <SmolLM2-135M-Instruct.Q4_1.gguf>");

const llama = await getLlama({
  gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
  maxThreads: 1, logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });

const texts = [];
for (let b = 0; b < 0x80; b++) {
  const c = String.fromCharCode(b);
  texts.push(c, `a${c}b`, `${c}${c} x`);
}
const cases = texts.map((text) => ({ text, ids: Array.from(model.tokenize(text, false)) }));
const dropped = cases.filter((c) => c.text.length === 1 && c.ids.length === 0).map((c) => c.text.charCodeAt(0));

const { repo, release } = llama.llamaCppRelease;
const out = join(a.out, "smollm2-control-bytes.json");
writeFileSync(out, JSON.stringify({
  meta: {
    about: `llama.cpp's token ids for each ASCII byte alone, between letters and doubled before a word, with ${basename(a.model)}.`,
    tool: `bench/control_bytes_refdata.mjs (llama.cpp ${repo} release ${release})`,
    dropped_bytes: dropped,
  },
  cases,
}, null, 1) + "\n");
console.log(`wrote ${out}: ${cases.length} texts; bytes with no token: ${dropped.map((b) => "0x" + b.toString(16)).join(", ")}`);
