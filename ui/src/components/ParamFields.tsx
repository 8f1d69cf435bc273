/** Sampling parameter inputs (per conversation, and the defaults on the Settings page). */
import { useId } from "react";
import type { SamplingParams } from "../api";
import { NumberInput } from "./NumberInput";

interface RangeSpec {
  key: Exclude<keyof SamplingParams, "seed" | "maxTokens" | "contextLength">;
  label: string;
  min: number;
  max: number;
  step: number;
  hint: string;
}

const RANGES: RangeSpec[] = [
  { key: "temperature", label: "Temperature", min: 0, max: 2, step: 0.05, hint: "Randomness. 0 always picks the most likely token." },
  { key: "topP", label: "Top-p", min: 0, max: 1, step: 0.01, hint: "Keep the smallest set of tokens whose probability adds up to p. 1 = off." },
  { key: "topK", label: "Top-k", min: 0, max: 200, step: 1, hint: "Keep only the k most likely tokens. 0 = off." },
  { key: "minP", label: "Min-p", min: 0, max: 1, step: 0.01, hint: "Drop tokens less likely than p × the best one. 0 = off." },
  { key: "repeatPenalty", label: "Repeat penalty", min: 1, max: 2, step: 0.01, hint: "Discourage repeating recent tokens. 1 = off." },
];

export const CONTEXT_LENGTHS = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];

function RangeField({
  spec,
  value,
  onChange,
}: {
  spec: RangeSpec;
  value: number;
  onChange: (value: number) => void;
}) {
  const id = useId();
  return (
    <div className="field param-field">
      <div className="param-head">
        <label htmlFor={id}>{spec.label}</label>
        <NumberInput
          id={id}
          className="param-number"
          min={spec.min}
          max={spec.max}
          step={spec.step}
          integer={spec.step === 1}
          value={value}
          aria-describedby={`${id}-hint`}
          data-testid={`param-${spec.key}`}
          onChange={(n) => n !== null && onChange(n)}
        />
      </div>
      <input
        type="range"
        className="param-range"
        aria-label={`${spec.label} slider`}
        min={spec.min}
        max={spec.max}
        step={spec.step}
        value={value}
        onChange={(e) => onChange(Number(e.target.value))}
      />
      <p className="field-hint" id={`${id}-hint`}>
        {spec.hint}
      </p>
    </div>
  );
}

export function ParamFields({
  params,
  onChange,
  maxContext,
}: {
  params: SamplingParams;
  onChange: (params: SamplingParams) => void;
  /** The model's trained context length, to flag larger choices. */
  maxContext?: number;
}) {
  const seedId = useId();
  const maxTokensId = useId();
  const ctxId = useId();
  const set = <K extends keyof SamplingParams>(key: K, value: SamplingParams[K]) =>
    onChange({ ...params, [key]: value });
  const contexts = CONTEXT_LENGTHS.includes(params.contextLength)
    ? CONTEXT_LENGTHS
    : [...CONTEXT_LENGTHS, params.contextLength].sort((a, b) => a - b);

  return (
    <div className="param-fields">
      {RANGES.map((spec) => (
        <RangeField key={spec.key} spec={spec} value={params[spec.key]} onChange={(v) => set(spec.key, v)} />
      ))}
      <div className="field-row">
        <div className="field">
          <label htmlFor={maxTokensId}>Max tokens</label>
          <NumberInput
            id={maxTokensId}
            min={1}
            max={131072}
            step={64}
            integer
            value={params.maxTokens}
            data-testid="param-maxTokens"
            onChange={(n) => n !== null && set("maxTokens", n)}
          />
        </div>
        <div className="field">
          <label htmlFor={ctxId}>Context length</label>
          <select
            id={ctxId}
            value={params.contextLength}
            data-testid="param-contextLength"
            onChange={(e) => set("contextLength", Number(e.target.value))}
          >
            {contexts.map((n) => (
              <option key={n} value={n}>
                {n.toLocaleString("en-US")} tokens{maxContext && n > maxContext ? " (above model)" : ""}
              </option>
            ))}
          </select>
        </div>
      </div>
      <div className="field">
        <label htmlFor={seedId}>Seed</label>
        <div className="seed-row">
          <NumberInput
            id={seedId}
            min={0}
            max={2 ** 53 - 1}
            integer
            allowEmpty
            placeholder="Random"
            value={params.seed}
            data-testid="param-seed"
            aria-describedby={`${seedId}-hint`}
            onChange={(n) => set("seed", n)}
          />
          {params.seed !== null && (
            <button type="button" className="button button-ghost button-small" onClick={() => set("seed", null)}>
              Random
            </button>
          )}
        </div>
        <p className="field-hint" id={`${seedId}-hint`}>
          Same seed + same settings = same reply. Empty = new random seed each time.
        </p>
      </div>
    </div>
  );
}
