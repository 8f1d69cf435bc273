// llama.cpp's build here (node-llama-cpp's prebuilt CPU binary) on the reference's greedy
// cases, teacher-forced, printed as Woolly's `reference_check` example prints itself, for
// scripts/agreement.py (`make agreement`). The reference's settings: n_ctx 512, the prompt
// in one batch, f16 KV cache, no flash attention, 1 thread. Only probabilities come back,
// so its "logits" are log-probabilities: right up to one constant per step.
//
//   node bench/llama_agreement.mjs -m MODEL -r REFDATA_JSON
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const { values: a } = parseArgs({
  options: { model: { type: "string", short: "m" }, refdata: { type: "string", short: "r" } },
});
if (!a.model || !a.refdata) throw new Error("usage: llama_agreement.mjs -m MODEL -r REFDATA_JSON");
const reference = JSON.parse(readFileSync(a.refdata, "utf8"));
const llama = await getLlama({
  gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
  maxThreads: 1, logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({ modelPath: a.model, gpuLayers: 0 });
const step = { generateNext: { token: true, probabilities: true, options: { temperature: 0 } } };

const cases = [];
for (const c of reference.cases) {
  const context = await model.createContext({
    contextSize: 512, batchSize: 512, threads: { ideal: 1, min: 1 }, flashAttention: false,
  });
  const sequence = context.getSequence();
  const input = c.prompt_ids.map((t, i) => (i + 1 < c.prompt_ids.length ? t : [t, step]));
  let next = (await sequence.controlledEvaluate(input)).at(-1).next;
  const logp = (id) => Math.log(next.probabilities.get(id) ?? 0);
  const top5 = c.top5_first_token.map((t) => logp(t.id));
  const steps = [];
  for (const want of c.gen_ids) {
    steps.push([next.token, logp(next.token) - Math.log(next.probabilities.get(want) ?? 0)]);
    next = (await sequence.controlledEvaluate([[want, step]]))[0].next;
  }
  cases.push({ top5, steps });
  await context.dispose();
}
const { version } = JSON.parse(readFileSync(new URL("node_modules/node-llama-cpp/package.json", import.meta.url), "utf8"));
console.log(JSON.stringify({ engine: `llama.cpp (node-llama-cpp ${version}, CPU)`, relative: true, cases }));
