//! `[reward]`: which outcome components form the outcome reward, and with what weights.

use serde::{Deserialize, Serialize};

use super::outcome::OutcomeScores;

/// Weights of the outcome components (see [`super::outcome`]); a weight of 0 leaves a component
/// out. The outcome reward is their weighted mean, so it stays in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RewardConfig {
    /// Clean, non-empty output of the kind the turn wants (calls where calls are due).
    pub format: f64,
    /// Tool-N1 exact multiset match.
    pub exact: f64,
    /// ToolRL partial credit (its `total`).
    pub partial: f64,
    /// BFCL AST checker.
    pub bfcl: f64,
}

impl Default for RewardConfig {
    /// A little for format, the rest for BFCL's verdict.
    fn default() -> Self {
        RewardConfig { format: 0.1, exact: 0.0, partial: 0.0, bfcl: 0.9 }
    }
}

impl RewardConfig {
    /// The weighted outcome reward of one turn, in [0, 1].
    pub fn combine(&self, s: &OutcomeScores) -> f64 {
        let weighted =
            self.format * s.format + self.exact * s.exact + self.partial * s.partial.total + self.bfcl * s.bfcl;
        weighted / self.total_weight()
    }

    fn total_weight(&self) -> f64 {
        self.format + self.exact + self.partial + self.bfcl
    }

    /// Every invalid key, for the run configuration's validation.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, w) in [
            ("reward.format", self.format),
            ("reward.exact", self.exact),
            ("reward.partial", self.partial),
            ("reward.bfcl", self.bfcl),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                out.push((key, format!("{w:?} is invalid: must be a finite weight >= 0")));
            }
        }
        if out.is_empty() && self.total_weight() <= 0.0 {
            out.push(("reward", "all weights are 0: give at least one component a weight > 0".to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::outcome::PartialCredit;

    #[test]
    fn weighted_mean_and_validation() {
        let s = OutcomeScores {
            format: 1.0,
            exact: 0.0,
            partial: PartialCredit { total: 0.5, ..Default::default() },
            bfcl: 1.0,
        };
        let cfg = RewardConfig { format: 1.0, exact: 1.0, partial: 2.0, bfcl: 0.0 };
        assert!((cfg.combine(&s) - 0.5).abs() < 1e-12);
        assert!(RewardConfig::default().problems().is_empty());
        let zero = RewardConfig { format: 0.0, exact: 0.0, partial: 0.0, bfcl: 0.0 };
        assert_eq!(zero.problems()[0].0, "reward");
        let bad = RewardConfig { format: -1.0, bfcl: f64::NAN, ..RewardConfig::default() };
        let keys: Vec<_> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["reward.format", "reward.bfcl"]);
    }
}
