//! Intervals for accuracies: Wilson's score interval for one accuracy, and a paired bootstrap
//! for the difference of two models on the same items.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson's 95% score interval of `k` successes in `n` trials; `(0, 1)` when `n = 0`.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The 95% percentile-bootstrap interval of the mean of paired differences `b_i - a_i`
/// (`resamples` resamples of the items, seeded, so the interval is reproducible).
pub fn paired_bootstrap(pairs: &[(bool, bool)], resamples: usize, seed: u64) -> (f64, f64) {
    let n = pairs.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let diffs: Vec<f64> = pairs.iter().map(|&(a, b)| f64::from(u8::from(b)) - f64::from(u8::from(a))).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> =
        (0..resamples.max(1)).map(|_| (0..n).map(|_| diffs[rng.random_range(0..n)]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    let at = |q: f64| means[((q * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
    (at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_the_closed_form() {
        // 8 of 10: the textbook interval (0.4902, 0.9433).
        let (lo, hi) = wilson(8, 10);
        assert!((lo - 0.4902).abs() < 1e-4 && (hi - 0.9433).abs() < 1e-4, "{lo} {hi}");
        let (lo, hi) = wilson(0, 20);
        assert!(lo == 0.0 && (hi - 0.1611).abs() < 1e-4, "{lo} {hi}");
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn bootstrap_brackets_the_difference() {
        // b right on 30 more of 100 items than a: the interval holds 0.3 and excludes 0.
        let pairs: Vec<(bool, bool)> = (0..100).map(|i| (i < 40, i < 70)).collect();
        let (lo, hi) = paired_bootstrap(&pairs, 2000, 7);
        assert!(lo > 0.15 && lo < 0.3 && hi > 0.3 && hi < 0.45, "{lo} {hi}");
        // Identical models: exactly zero.
        let same: Vec<(bool, bool)> = (0..50).map(|i| (i % 3 == 0, i % 3 == 0)).collect();
        assert_eq!(paired_bootstrap(&same, 500, 1), (0.0, 0.0));
    }
}
