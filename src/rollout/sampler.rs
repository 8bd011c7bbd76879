//! Next-token sampling from one row of logits: greedy, temperature, top-k, top-p (nucleus), with
//! a per-row seeded RNG so the same seed gives the same tokens. Host-side: `[V]` logits in, a
//! token and its log-probabilities out.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How to pick the next token (`[rollout]` keys).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sampling {
    /// Softmax temperature; 0 means greedy.
    pub temperature: f64,
    /// Keep the `k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches `p` (1 = all).
    pub top_p: f64,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling { temperature: 1.0, top_k: 0, top_p: 1.0 }
    }
}

impl Sampling {
    /// Every invalid key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            out.push(("rollout.temperature", format!("{:?} is invalid: must be >= 0", self.temperature)));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            out.push(("rollout.top_p", format!("{:?} is invalid: must be in (0, 1]", self.top_p)));
        }
        out
    }
}

/// One sampled token.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Draw {
    /// The token id.
    pub token: u32,
    /// `log p(token)` under the model (temperature 1, no truncation): what the loss compares.
    pub logp: f64,
    /// `log q(token)` under the distribution actually sampled from (0 for greedy).
    pub sample_logp: f64,
}

/// A row's random stream: `seed` and `row` fix it, so a row replays exactly.
pub fn row_rng(seed: u64, row: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(row);
    rng
}

/// `log softmax(scale · logits)` in f64.
pub fn log_softmax(logits: &[f32], scale: f64) -> Vec<f64> {
    let max = logits.iter().map(|&x| f64::from(x) * scale).fold(f64::NEG_INFINITY, f64::max);
    let lse = max + logits.iter().map(|&x| (f64::from(x) * scale - max).exp()).sum::<f64>().ln();
    logits.iter().map(|&x| f64::from(x) * scale - lse).collect()
}

/// The ids a non-greedy draw picks among, given tempered log-probs `tempered` `[V]`: every id
/// in id order, or with top-k / top-p the kept ones by decreasing probability (ties by id).
fn kept(tempered: &[f64], s: &Sampling) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tempered.len()).collect();
    let truncated = (s.top_k != 0 && s.top_k < tempered.len()) || s.top_p < 1.0;
    if truncated {
        // Only truncation needs the tokens by probability; plain sampling walks ids in order.
        order.sort_by(|&a, &b| tempered[b].total_cmp(&tempered[a]).then(a.cmp(&b)));
    }
    let mut keep = if s.top_k == 0 { order.len() } else { s.top_k.min(order.len()) };
    if s.top_p < 1.0 {
        let mut mass = 0.0;
        for (n, &i) in order.iter().enumerate().take(keep) {
            mass += tempered[i].exp();
            if mass >= s.top_p {
                keep = n + 1;
                break;
            }
        }
    }
    order.truncate(keep);
    order
}

/// The argmax of `logits`; ties go to the lowest id.
fn argmax(logits: &[f32]) -> usize {
    (0..logits.len()).fold(0, |best, i| if logits[i] > logits[best] { i } else { best })
}

/// Whether `s` picks the arg-max of a `vocab`-wide row.
pub fn is_greedy(s: &Sampling, vocab: usize) -> bool {
    s.temperature == 0.0 || s.top_k == 1 || vocab == 1
}

/// The probability of each id `[V]` under the distribution [`sample`] draws from: tempered,
/// truncated and renormalised (one-hot at the arg-max when greedy).
pub fn distribution(logits: &[f32], s: &Sampling) -> Vec<f64> {
    let mut q = vec![0.0; logits.len()];
    if is_greedy(s, logits.len()) {
        q[argmax(logits)] = 1.0;
        return q;
    }
    let tempered = log_softmax(logits, 1.0 / s.temperature);
    let kept = kept(&tempered, s);
    let total: f64 = kept.iter().map(|&i| tempered[i].exp()).sum();
    for &i in &kept {
        q[i] = tempered[i].exp() / total;
    }
    q
}

/// Draws the next token from `logits` `[V]` (finite values). Ties in greedy go to the lowest id.
pub fn sample(logits: &[f32], s: &Sampling, rng: &mut ChaCha8Rng) -> Draw {
    let model = log_softmax(logits, 1.0);
    if is_greedy(s, logits.len()) {
        let argmax = argmax(logits);
        return Draw { token: argmax as u32, logp: model[argmax], sample_logp: 0.0 };
    }
    let tempered = log_softmax(logits, 1.0 / s.temperature);
    let kept = kept(&tempered, s);
    let total: f64 = kept.iter().map(|&i| tempered[i].exp()).sum();
    let mut u = rng.random::<f64>() * total;
    let mut chosen = kept[kept.len() - 1];
    for &i in &kept {
        u -= tempered[i].exp();
        if u <= 0.0 {
            chosen = i;
            break;
        }
    }
    Draw { token: chosen as u32, logp: model[chosen], sample_logp: tempered[chosen] - total.ln() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_top_k_top_p_and_replay() {
        let logits = [0.5f32, 2.0, 1.0, 2.0, -3.0];
        let mut rng = row_rng(1, 0);
        let greedy = sample(&logits, &Sampling { temperature: 0.0, ..Sampling::default() }, &mut rng);
        assert_eq!(greedy.token, 1, "ties go to the lowest id");
        assert!((greedy.logp - log_softmax(&logits, 1.0)[1]).abs() < 1e-12);
        let top2 = Sampling { top_k: 2, ..Sampling::default() };
        for _ in 0..200 {
            assert!(matches!(sample(&logits, &top2, &mut rng).token, 1 | 3));
        }
        let nucleus = Sampling { top_p: 0.5, ..Sampling::default() };
        for _ in 0..200 {
            assert!(matches!(sample(&logits, &nucleus, &mut rng).token, 1 | 3));
        }
        let draws = |row| {
            let mut r = row_rng(7, row);
            (0..50).map(|_| sample(&logits, &Sampling::default(), &mut r).token).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3), "same seed and row, same tokens");
        assert_ne!(draws(3), draws(4), "rows have their own streams");
    }

    #[test]
    fn frequencies_follow_the_tempered_distribution() {
        let logits = [0.0f32, 1.0, 2.0];
        let s = Sampling { temperature: 0.5, ..Sampling::default() };
        let expected: Vec<f64> = log_softmax(&logits, 2.0).iter().map(|l| l.exp()).collect();
        let mut rng = row_rng(42, 0);
        let n = 40_000;
        let mut counts = [0usize; 3];
        for _ in 0..n {
            let d = sample(&logits, &s, &mut rng);
            assert!((d.sample_logp - expected[d.token as usize].ln()).abs() < 1e-9);
            counts[d.token as usize] += 1;
        }
        for (c, p) in counts.iter().zip(&expected) {
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            assert!((*c as f64 / n as f64 - p).abs() < 5.0 * sd, "{counts:?} vs {expected:?}");
        }
    }
}
