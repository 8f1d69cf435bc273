//! Turning logits into the next token: penalties, bias, greedy or seeded sampling with
//! top-k / top-p / min-p, and stop sequences that may span token boundaries.

mod rng;
mod stop;

pub use stop::{StopMatcher, StopStatus};

use crate::grammar::{GrammarError, Guide};

use rng::SplitMix64;
use serde::{Deserialize, Serialize};

/// Sampling settings. `temperature <= 0` means greedy (argmax).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches `top_p` (1.0 = all).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one (0 = off).
    pub min_p: f32,
    /// Divides positive (multiplies negative) logits of recent tokens (1.0 = off).
    pub repeat_penalty: f32,
    /// How many recent tokens the penalties look at.
    pub repeat_last_n: usize,
    /// Subtracted once per occurrence of a recent token (OpenAI semantics).
    pub frequency_penalty: f32,
    /// Subtracted once for any recent token.
    pub presence_penalty: f32,
    /// Added to the logits of the given tokens.
    pub logit_bias: Vec<(u32, f32)>,
    /// Seed for reproducible sampling; `None` draws one from the clock.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            logit_bias: Vec::new(),
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Deterministic argmax decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }
}

/// A seeded sampler. Buffers are sized once per vocabulary, so sampling in the decode loop
/// does not allocate.
pub struct Sampler {
    params: SamplingParams,
    rng: SplitMix64,
    candidates: Vec<(u32, f32)>,
    counts: Vec<(u32, u32)>,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Self {
        let seed = params.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x5eed)
        });
        Self {
            params,
            rng: SplitMix64::new(seed),
            candidates: Vec::new(),
            counts: Vec::new(),
        }
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    /// Picks the next token. `logits` is modified in place (penalties, bias); `history` is
    /// every token so far (prompt and generated).
    pub fn sample(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        self.apply_bias_and_penalties(logits, history);
        self.pick(logits)
    }

    /// [`Sampler::sample`] kept to what `guide` allows: the usual pick when the guide takes
    /// it, else a pick among the tokens it allows (the whole vocabulary masked only then).
    pub fn sample_guided(
        &mut self,
        logits: &mut [f32],
        history: &[u32],
        guide: &mut Guide,
    ) -> Result<u32, GrammarError> {
        self.apply_bias_and_penalties(logits, history);
        let token = self.pick(logits);
        if guide.allows(token) {
            return Ok(token);
        }
        if !guide.mask(logits)? {
            return Err(GrammarError("the grammar allows no token here".into()));
        }
        Ok(self.pick(logits))
    }

    /// Greedy or seeded choice over `logits` as they are (-inf never chosen unless all are).
    fn pick(&mut self, logits: &[f32]) -> u32 {
        let p = &self.params;
        if p.temperature <= 0.0 || p.top_k == 1 {
            return argmax(logits);
        }
        let c = &mut self.candidates;
        c.clear();
        c.extend(
            logits
                .iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite())
                .map(|(i, &l)| (i as u32, l)),
        );
        if c.is_empty() {
            return argmax(logits);
        }
        let by_logit_desc = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1);
        if p.top_k > 0 && p.top_k < c.len() {
            c.select_nth_unstable_by(p.top_k - 1, by_logit_desc);
            c.truncate(p.top_k);
        }
        c.sort_unstable_by(by_logit_desc);
        // Softmax at temperature, in place: logits become probabilities.
        let max = c[0].1;
        let mut sum = 0.0f32;
        for (_, l) in c.iter_mut() {
            *l = ((*l - max) / p.temperature).exp();
            sum += *l;
        }
        for (_, l) in c.iter_mut() {
            *l /= sum;
        }
        if p.min_p > 0.0 {
            let floor = c[0].1 * p.min_p;
            let keep = c.iter().take_while(|(_, q)| *q >= floor).count().max(1);
            c.truncate(keep);
        }
        if p.top_p < 1.0 {
            let mut acc = 0.0;
            let mut keep = c.len();
            for (i, (_, q)) in c.iter().enumerate() {
                acc += q;
                if acc >= p.top_p {
                    keep = i + 1;
                    break;
                }
            }
            c.truncate(keep);
        }
        let total: f32 = c.iter().map(|(_, q)| q).sum();
        let mut r = self.rng.next_f32() * total;
        for &(id, q) in c.iter() {
            r -= q;
            if r <= 0.0 {
                return id;
            }
        }
        c[c.len() - 1].0
    }

    fn apply_bias_and_penalties(&mut self, logits: &mut [f32], history: &[u32]) {
        let p = &self.params;
        for &(id, bias) in &p.logit_bias {
            if let Some(l) = logits.get_mut(id as usize) {
                *l += bias;
            }
        }
        let penalize =
            p.repeat_penalty != 1.0 || p.frequency_penalty != 0.0 || p.presence_penalty != 0.0;
        if !penalize || p.repeat_last_n == 0 {
            return;
        }
        let recent = &history[history.len().saturating_sub(p.repeat_last_n)..];
        let counts = &mut self.counts;
        counts.clear();
        for &id in recent {
            match counts.iter_mut().find(|(t, _)| *t == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id, 1)),
            }
        }
        for &(id, n) in counts.iter() {
            let Some(l) = logits.get_mut(id as usize) else {
                continue;
            };
            if p.repeat_penalty != 1.0 {
                *l = if *l > 0.0 {
                    *l / p.repeat_penalty
                } else {
                    *l * p.repeat_penalty
                };
            }
            *l -= n as f32 * p.frequency_penalty + p.presence_penalty;
        }
    }
}

/// Index of the largest logit (the first on ties); 0 for an empty slice.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The `k` largest logits, best first.
/// Log-probabilities under the model: the log-softmax of raw logits, from one pass.
#[derive(Debug, Clone, Copy)]
pub struct LogSoftmax {
    max: f32,
    log_sum: f32,
}

impl LogSoftmax {
    pub fn of(logits: &[f32]) -> Self {
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = logits.iter().map(|&l| f64::from((l - max).exp())).sum();
        Self {
            max,
            log_sum: sum.ln() as f32,
        }
    }

    /// The log-probability of a token whose raw logit is `logit`.
    pub fn logprob(&self, logit: f32) -> f32 {
        logit - self.max - self.log_sum
    }
}

/// The `k` largest logits, largest first (lower id first on ties), into `out`: one pass,
/// no allocation beyond `out`'s `k` slots.
pub fn top_k_into(logits: &[f32], k: usize, out: &mut Vec<(u32, f32)>) {
    out.clear();
    if k == 0 {
        return;
    }
    for (i, &l) in logits.iter().enumerate() {
        // Full: only a strictly larger logit gets in (NaN never does).
        let beats_last =
            out.len() < k || l.partial_cmp(&out[k - 1].1) == Some(std::cmp::Ordering::Greater);
        if !beats_last || l.is_nan() {
            continue;
        }
        let at = out.partition_point(|&(_, x)| x >= l);
        if out.len() == k {
            out.pop();
        }
        out.insert(at, (i as u32, l));
    }
}

pub fn top_logits(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut all: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, l))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![1.0, 3.0, 2.0, -1.0, 2.5, 0.0]
    }

    #[test]
    fn top_k_matches_a_full_sort() {
        let mut rng = SplitMix64::new(7);
        let logits: Vec<f32> = (0..5000)
            .map(|_| (rng.next_f32() * 40.0).round() / 4.0)
            .collect();
        let mut out = Vec::new();
        for k in [0, 1, 5, 20, 5000] {
            top_k_into(&logits, k, &mut out);
            assert_eq!(out, top_logits(&logits, k), "k = {k}");
        }
    }

    #[test]
    fn log_softmax_matches_the_formula() {
        let l = logits();
        let norm = LogSoftmax::of(&l);
        let z: f64 = l.iter().map(|&x| f64::from(x).exp()).sum();
        for &x in &l {
            let expected = f64::from(x) - z.ln();
            assert!((f64::from(norm.logprob(x)) - expected).abs() < 1e-6);
        }
    }

    #[test]
    fn greedy_is_argmax() {
        let mut s = Sampler::new(SamplingParams::greedy());
        assert_eq!(s.sample(&mut logits(), &[]), 1);
    }

    #[test]
    fn same_seed_same_tokens() {
        let params = SamplingParams {
            temperature: 1.5,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            seed: Some(7),
            ..Default::default()
        };
        let run = || {
            let mut s = Sampler::new(params.clone());
            (0..50)
                .map(|_| s.sample(&mut logits(), &[]))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(
            a.iter().collect::<std::collections::HashSet<_>>().len() > 2,
            "high temperature explores: {a:?}"
        );
    }

    #[test]
    fn top_k_and_min_p_restrict_choices() {
        let mut s = Sampler::new(SamplingParams {
            temperature: 5.0,
            top_k: 2,
            top_p: 1.0,
            min_p: 0.0,
            seed: Some(1),
            ..Default::default()
        });
        for _ in 0..100 {
            assert!([1, 4].contains(&s.sample(&mut logits(), &[])));
        }
        // min_p 0.5: p(2)/p(1) = e^-1 < 0.5, so only the best survives.
        let mut s = Sampler::new(SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.5,
            seed: Some(1),
            ..Default::default()
        });
        for _ in 0..100 {
            assert!([1, 4].contains(&s.sample(&mut logits(), &[])));
        }
    }

    #[test]
    fn top_p_keeps_the_nucleus() {
        let mut s = Sampler::new(SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 0.01,
            min_p: 0.0,
            seed: Some(3),
            ..Default::default()
        });
        for _ in 0..50 {
            assert_eq!(s.sample(&mut logits(), &[]), 1);
        }
    }

    #[test]
    fn penalties_and_bias_change_the_winner() {
        let mut s = Sampler::new(SamplingParams {
            repeat_penalty: 2.0,
            ..SamplingParams::greedy()
        });
        assert_eq!(s.sample(&mut logits(), &[1]), 4, "3.0/2 < 2.5");
        let mut s = Sampler::new(SamplingParams {
            frequency_penalty: 0.4,
            ..SamplingParams::greedy()
        });
        assert_eq!(s.sample(&mut logits(), &[1, 1]), 4, "3.0 - 0.8 < 2.5");
        let mut s = Sampler::new(SamplingParams {
            presence_penalty: 0.4,
            ..SamplingParams::greedy()
        });
        assert_eq!(s.sample(&mut logits(), &[1, 1]), 1, "3.0 - 0.4 > 2.5");
        let mut s = Sampler::new(SamplingParams {
            logit_bias: vec![(5, 10.0)],
            ..SamplingParams::greedy()
        });
        assert_eq!(s.sample(&mut logits(), &[]), 5);
    }

    #[test]
    fn top_logits_sorted() {
        assert_eq!(top_logits(&logits(), 3), vec![(1, 3.0), (4, 2.5), (2, 2.0)]);
    }
}
