// llama.cpp's own build here (node-llama-cpp's prebuilt CPU binary) against the reference
// outputs of llama.cpp build 4748, measured as Woolly's `reference_check` example measures
// itself: agreement length, and steps whose argmax differs when every step is fed the
// reference's previous token. The same settings as the reference: n_ctx 512, the prompt in
// one batch, f16 KV cache, no flash attention, 1 thread.
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
const greedy = { token: true, options: { temperature: 0 } };

const lengths = [];
let mismatches = 0, steps = 0, worstRelative = 0;
for (const c of reference.cases) {
  const context = await model.createContext({
    contextSize: 512, batchSize: 512, threads: { ideal: 1, min: 1 }, flashAttention: false,
  });
  const sequence = context.getSequence();
  const first = { ...greedy, probabilities: true };
  const input = c.prompt_ids.map((t, i) => (i + 1 < c.prompt_ids.length ? t : [t, { generateNext: first }]));
  const out = (await sequence.controlledEvaluate(input)).at(-1).next;
  let next = out.token;
  // Only probabilities come back: compare each top-5 logit relative to the top one.
  const top = c.top5_first_token;
  const relative = top.map((t) => Math.log(out.probabilities.get(t.id) / out.probabilities.get(top[0].id)) - (t.logit - top[0].logit));
  worstRelative = Math.max(worstRelative, ...relative.map(Math.abs));
  const differs = [];
  for (const [i, want] of c.gen_ids.entries()) {
    if (next !== want) differs.push(i);
    next = (await sequence.controlledEvaluate([[want, { generateNext: greedy }]]))[0].next.token;
  }
  lengths.push(differs.length ? differs[0] : c.gen_ids.length);
  mismatches += differs.length;
  steps += c.gen_ids.length;
  console.log(`agrees for ${String(lengths.at(-1)).padStart(2)}; differs at ${differs.join(", ") || "no step"}`);
  await context.dispose();
}
console.log(`llama.cpp (node-llama-cpp's build): agreement lengths [${lengths.join(", ")}]; ` +
  `teacher-forced steps whose argmax differs: ${mismatches} of ${steps}; largest first-token top-5 ` +
  `difference relative to the top logit ${worstRelative.toFixed(3)}`);
