//! `[algo]`: every knob of the AWPO objective, as serde enums with the spec's defaults.
//!
//! The gate, weight and clip forms are a documented reconstruction of arXiv 2512.19126 (the exact
//! published formulas are not public); each choice is a knob here so the published form can be
//! plugged in without touching the kernels' structure. Leaf module: std + serde only.

use serde::{Deserialize, Serialize};

/// Which objective the shared code path computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Outcome and reasoning advantages mixed through gate, weight and tailored clip.
    #[default]
    Awpo,
    /// Outcome advantage only (`lambda = 0`).
    Grpo,
    /// GRPO on the summed reward `ro + lambda·rr` (the naive baseline AWPO improves on).
    NaiveSum,
    /// Dr.GRPO: outcome only, no std division, constant-length loss normaliser.
    DrGrpo,
}

/// What the centred rewards are divided by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scale {
    /// The group's own population std (+ eps).
    #[default]
    Group,
    /// The population std of that reward stream over the whole batch (+ eps).
    Batch,
    /// No division (Dr.GRPO).
    None,
}

/// Outcome factor of the variance-aware gate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gate {
    /// `g_o = clamp(1 - sd_o / gate_sd_max, 0, 1)`.
    #[default]
    Soft,
    /// `g_o = 1` if `sd_o <= gate_tau`, else 0.
    Hard,
    /// `g_o = 1`.
    Off,
}

/// Difficulty-aware weight `w(mu_o)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// `w = 1 - mu_o`: hard prompts lean more on reasoning.
    #[default]
    HardFirst,
    /// `w = 4·mu_o·(1 - mu_o)`: prompts of middle difficulty.
    Mid,
    /// `w = 1`.
    Off,
}

/// Bound on the reasoning term `c_i = lambda·g·w·Ar_i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clip {
    /// `|c_i| <= kappa·|Ao_i|` in a group whose outcomes differ, `<= c_max` in a flat group.
    #[default]
    Tailored,
    /// No bound (the ablation of the tailored clip).
    Off,
}

/// How per-token losses become one scalar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregation {
    /// DAPO: sum over all generated tokens / their count in the whole batch.
    #[default]
    TokenMean,
    /// GRPO: mean over rows of each row's token mean.
    SeqMeanTokenMean,
    /// Dr.GRPO: sum over tokens / (rows · a constant length).
    SeqMeanTokenSumNorm,
}

/// The policy the KL term (`kl_beta`) measures against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KlReference {
    /// The policy RL starts from: the base model with the adapter it starts with (the adapter
    /// warm-up's, `model.adapter`'s, or a fresh one, whose zero `B` leaves the base model), as
    /// TRL's reference model is the SFT model.
    #[default]
    Start,
    /// The base model with the adapter off, whatever adapter RL starts from.
    Base,
}

/// Which implementation computes advantage and loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KernelMode {
    /// WGSL kernels where the device runs WGSL (wgpu), burn tensor ops elsewhere (CPU, CUDA).
    #[default]
    Auto,
    /// The WGSL kernels; an error on a device that cannot run them.
    Wgsl,
    /// The burn tensor-op twin, on any device.
    Tensor,
}

/// The `[algo]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlgoConfig {
    /// Objective preset; `grpo`, `naive-sum` and `dr-grpo` override the keys they imply.
    pub mode: Mode,
    /// Divisor of centred rewards.
    pub scale: Scale,
    /// Outcome factor of the gate.
    pub gate: Gate,
    /// `sd_max` of the soft gate (0.5 is the largest std of rewards in [0, 1]).
    pub gate_sd_max: f64,
    /// Threshold of the hard gate on `sd_o`.
    pub gate_tau: f64,
    /// Reasoning factor `g_r = min(1, sd_r / gate_tau_r)`; 0 turns the factor off.
    pub gate_tau_r: f64,
    /// Difficulty weight.
    pub weight: Weighting,
    /// Scale of the reasoning term (AWPO) or of the reasoning reward (naive-sum).
    pub lambda: f64,
    /// Bound on the reasoning term: `tailored` (`kappa`, `c_max`) or `off`.
    pub clip: Clip,
    /// Tailored clip: `|c_i| <= kappa·|Ao_i|` in a group whose outcomes differ (so a sample at
    /// its group's mean, `Ao_i = 0`, gets no reasoning term).
    pub kappa: f64,
    /// Tailored clip: `|c_i| <= c_max` in a flat group (every outcome alike, `std ro = 0`).
    pub c_max: f64,
    /// Added to the std before dividing.
    pub eps: f64,
    /// Centred rewards with `|r - mean| <= zero_tol` count as exactly zero (no signal).
    pub zero_tol: f64,
    /// PPO ratio clip below 1 (`1 - clip_low`).
    pub clip_low: f64,
    /// PPO ratio clip above 1 (`1 + clip_high`, clip-higher).
    pub clip_high: f64,
    /// Weight of the k3 KL to the reference policy (0 = no KL term).
    pub kl_beta: f64,
    /// The KL term's reference policy.
    pub kl_reference: KlReference,
    /// Loss aggregation.
    pub loss_agg: Aggregation,
    /// Constant length of `seq-mean-token-sum-norm`; absent = the padded length T.
    pub loss_norm_len: Option<u32>,
    /// Kernel or tensor-op implementation.
    pub kernel: KernelMode,
}

impl Default for AlgoConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Awpo,
            scale: Scale::Group,
            gate: Gate::Soft,
            gate_sd_max: 0.5,
            gate_tau: 0.1,
            gate_tau_r: 0.05,
            weight: Weighting::HardFirst,
            lambda: 1.0,
            clip: Clip::Tailored,
            kappa: 0.5,
            c_max: 1.0,
            eps: 1e-6,
            zero_tol: 1e-6,
            clip_low: 0.2,
            clip_high: 0.28,
            kl_beta: 0.0,
            kl_reference: KlReference::Start,
            loss_agg: Aggregation::TokenMean,
            loss_norm_len: None,
            kernel: KernelMode::Auto,
        }
    }
}

/// How the two reward streams meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mix {
    /// At the advantage level: `A = Ao + clip(lambda·g·w·Ar)`.
    Advantage,
    /// At the reward level: GRPO on `ro + lambda·rr`.
    RewardSum,
}

/// The advantage computation with the mode's implications applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdvantageSpec {
    /// How the streams meet.
    pub mix: Mix,
    /// Divisor of centred rewards.
    pub scale: Scale,
    /// Outcome factor of the gate.
    pub gate: Gate,
    /// Difficulty weight.
    pub weight: Weighting,
    /// Reasoning scale (0 = GRPO).
    pub lambda: f64,
    /// Bound on the reasoning term.
    pub clip: Clip,
    /// Clip relative to `|Ao|` (groups whose outcomes differ).
    pub kappa: f64,
    /// Clip of a flat group (`std ro = 0`).
    pub c_max: f64,
    /// Std offset.
    pub eps: f64,
    /// Soft-gate `sd_max`.
    pub sd_max: f64,
    /// Hard-gate threshold.
    pub tau: f64,
    /// Reasoning-variance threshold (0 = off).
    pub tau_r: f64,
    /// Snap tolerance for centred rewards.
    pub zero_tol: f64,
}

/// The loss computation with the mode's implications applied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossSpec {
    /// Ratio clip below 1.
    pub eps_low: f64,
    /// Ratio clip above 1.
    pub eps_high: f64,
    /// KL weight (0 = the reference log-probs are not read).
    pub beta: f64,
    /// Aggregation.
    pub agg: Aggregation,
    /// Constant length for `SeqMeanTokenSumNorm`; `None` = T.
    pub norm_len: Option<u32>,
}

impl AlgoConfig {
    /// The advantage spec after the mode's overrides.
    pub fn advantage_spec(&self) -> AdvantageSpec {
        let (mix, lambda, scale) = match self.mode {
            Mode::Awpo => (Mix::Advantage, self.lambda, self.scale),
            Mode::Grpo => (Mix::Advantage, 0.0, self.scale),
            Mode::NaiveSum => (Mix::RewardSum, self.lambda, self.scale),
            Mode::DrGrpo => (Mix::Advantage, 0.0, Scale::None),
        };
        AdvantageSpec {
            mix,
            scale,
            gate: self.gate,
            weight: self.weight,
            lambda,
            clip: self.clip,
            kappa: self.kappa,
            c_max: self.c_max,
            eps: self.eps,
            sd_max: self.gate_sd_max,
            tau: self.gate_tau,
            tau_r: self.gate_tau_r,
            zero_tol: self.zero_tol,
        }
    }

    /// The loss spec after the mode's overrides.
    pub fn loss_spec(&self) -> LossSpec {
        let agg = match self.mode {
            Mode::DrGrpo => Aggregation::SeqMeanTokenSumNorm,
            _ => self.loss_agg,
        };
        LossSpec {
            eps_low: self.clip_low,
            eps_high: self.clip_high,
            beta: self.kl_beta,
            agg,
            norm_len: self.loss_norm_len,
        }
    }

    /// Every invalid key, each as `(key, reason)`; empty when the section is valid.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let mut check = |key: &'static str, value: f64, ok: bool, rule: &str| {
            if !value.is_finite() || !ok {
                out.push((key, format!("{value:?} is invalid: must be {rule}")));
            }
        };
        check("algo.gate_sd_max", self.gate_sd_max, self.gate_sd_max > 0.0, "> 0");
        check("algo.gate_tau", self.gate_tau, self.gate_tau >= 0.0, ">= 0");
        check("algo.gate_tau_r", self.gate_tau_r, self.gate_tau_r >= 0.0, ">= 0");
        check("algo.lambda", self.lambda, self.lambda >= 0.0, ">= 0");
        check("algo.kappa", self.kappa, self.kappa >= 0.0, ">= 0");
        check("algo.c_max", self.c_max, self.c_max >= 0.0, ">= 0");
        check("algo.eps", self.eps, self.eps > 0.0, "> 0");
        check("algo.zero_tol", self.zero_tol, self.zero_tol >= 0.0, ">= 0");
        let low_ok = (0.0..1.0).contains(&self.clip_low);
        check("algo.clip_low", self.clip_low, low_ok, "in [0, 1)");
        check("algo.clip_high", self.clip_high, self.clip_high >= 0.0, ">= 0");
        check("algo.kl_beta", self.kl_beta, self.kl_beta >= 0.0, ">= 0");
        if self.loss_norm_len == Some(0) {
            out.push(("algo.loss_norm_len", "0 is invalid: must be >= 1".to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_override_what_they_imply() {
        let base = AlgoConfig::default();
        let grpo = AlgoConfig { mode: Mode::Grpo, ..base.clone() };
        assert_eq!(grpo.advantage_spec().lambda, 0.0);
        let dr = AlgoConfig { mode: Mode::DrGrpo, ..base.clone() };
        assert_eq!(dr.advantage_spec().scale, Scale::None);
        assert_eq!(dr.loss_spec().agg, Aggregation::SeqMeanTokenSumNorm);
        let naive = AlgoConfig { mode: Mode::NaiveSum, ..base.clone() };
        assert_eq!(naive.advantage_spec().mix, Mix::RewardSum);
        assert_eq!(base.advantage_spec().mix, Mix::Advantage);
    }

    #[test]
    fn problems_name_every_bad_key() {
        let cfg =
            AlgoConfig { eps: 0.0, clip_low: 1.5, lambda: f64::NAN, loss_norm_len: Some(0), ..AlgoConfig::default() };
        let keys: Vec<_> = cfg.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["algo.lambda", "algo.eps", "algo.clip_low", "algo.loss_norm_len"]);
        assert!(AlgoConfig::default().problems().is_empty());
    }

    #[test]
    fn toml_uses_kebab_case_and_rejects_unknown_keys() {
        let cfg: AlgoConfig = toml::from_str("mode = 'naive-sum'\nloss_agg = 'seq-mean-token-mean'").unwrap();
        assert_eq!(cfg.mode, Mode::NaiveSum);
        assert_eq!(cfg.loss_agg, Aggregation::SeqMeanTokenMean);
        assert_eq!(cfg.kappa, 0.5);
        assert!(toml::from_str::<AlgoConfig>("lamda = 1.0").is_err());
    }
}
