//! Rewards `[P, G, 2]` → advantages `[P, G]` + per-group statistics, by the WGSL kernel or by
//! its burn tensor-op twin (both ≡ `reference::group_advantage`).

use burn::tensor::{DType, Tensor};

use super::config::{AdvantageSpec, AlgoConfig, Clip, Gate, Mix, Scale, Weighting};
use super::error::{LossTensor, ObjectiveError};
use super::reference::{self, GroupStats, REWARD_COMPONENTS};
use super::{read_f32, use_wgsl};
use crate::kernels::{ADVANTAGE_STAT_NAMES, ADVANTAGE_STATS, AdvantageParams};
use crate::reduce::sum_all;

/// Summary of one batch's groups, for the step metrics.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AdvantageStats {
    /// One entry per group.
    pub groups: Vec<GroupStats>,
}

impl AdvantageStats {
    fn mean(&self, f: impl Fn(&GroupStats) -> f64) -> f64 {
        self.groups.iter().map(f).sum::<f64>() / self.groups.len().max(1) as f64
    }
    /// Mean outcome reward.
    pub fn mu_o(&self) -> f64 {
        self.mean(|g| g.mu_o)
    }
    /// Share of groups whose outcome rewards are all equal (no outcome signal).
    pub fn flat_outcome_share(&self) -> f64 {
        self.mean(|g| f64::from(u8::from(g.sd_o == 0.0)))
    }
    /// Mean gate.
    pub fn gate(&self) -> f64 {
        self.mean(|g| g.gate)
    }
    /// Mean difficulty weight.
    pub fn weight(&self) -> f64 {
        self.mean(|g| g.weight)
    }
    /// Share of reasoning terms clipped.
    pub fn clip_frac(&self) -> f64 {
        self.mean(|g| g.clip_frac)
    }
}

/// The kernel's parameter block for `spec` on `[P, G]` groups.
pub fn kernel_params(spec: &AdvantageSpec, groups: usize, group_size: usize) -> AdvantageParams {
    AdvantageParams {
        groups: groups as u32,
        group_size: group_size as u32,
        groups_per_row: 0,
        mix: match spec.mix {
            Mix::Advantage => 0,
            Mix::RewardSum => 1,
        },
        scale: match spec.scale {
            Scale::Group => 0,
            Scale::Batch => 1,
            Scale::None => 2,
        },
        gate: match spec.gate {
            Gate::Soft => 0,
            Gate::Hard => 1,
            Gate::Off => 2,
        },
        weighting: match spec.weight {
            Weighting::HardFirst => 0,
            Weighting::Mid => 1,
            Weighting::Off => 2,
        },
        clip: match spec.clip {
            Clip::Tailored => 0,
            Clip::Off => 1,
        },
        lambda: spec.lambda as f32,
        kappa: spec.kappa as f32,
        c_max: spec.c_max as f32,
        eps: spec.eps as f32,
        sd_max: spec.sd_max as f32,
        tau: spec.tau as f32,
        tau_r: spec.tau_r as f32,
        zero_tol: spec.zero_tol as f32,
    }
}

/// AWPO advantages of `rewards [P, G, 2]` (outcome, reasoning) on the rewards' device.
///
/// # Errors
/// Empty or mis-shaped rewards, a non-finite reward (named by group, sample and stream), or
/// `kernel = "wgsl"` on a device without WGSL.
pub fn advantage(rewards: Tensor<3>, cfg: &AlgoConfig) -> Result<(Tensor<2>, AdvantageStats), ObjectiveError> {
    let [p, g, k] = rewards.dims();
    if k != REWARD_COMPONENTS {
        let (tensor, expected) = (LossTensor::Rewards, vec![p, g, REWARD_COMPONENTS]);
        return Err(ObjectiveError::Shape { tensor, expected, found: vec![p, g, k] });
    }
    if p == 0 || g == 0 {
        return Err(ObjectiveError::Empty { tensor: LossTensor::Rewards, shape: vec![p, g, k] });
    }
    let rewards = rewards.cast(DType::F32);
    let spec = cfg.advantage_spec();
    let (adv, stats) = if use_wgsl(cfg.kernel, &rewards.device())? {
        wgsl(rewards.clone(), &spec)
    } else {
        advantage_tensor(rewards.clone(), &spec)
    };
    let table = read_f32(stats, "advantage statistics")?;
    if table.chunks(ADVANTAGE_STATS).any(|row| row[7] != 0.0) {
        reference::check_rewards(&read_f32(rewards, "rewards")?, p, g)?;
    }
    if let Some(i) = table.iter().position(|v| !v.is_finite()) {
        let what = ADVANTAGE_STAT_NAMES[i % ADVANTAGE_STATS];
        return Err(ObjectiveError::Overflow { what, unit: "group", index: i / ADVANTAGE_STATS, value: table[i] });
    }
    let groups = table
        .chunks(ADVANTAGE_STATS)
        .map(|s| GroupStats {
            mu_o: f64::from(s[0]),
            sd_o: f64::from(s[1]),
            mu_r: f64::from(s[2]),
            sd_r: f64::from(s[3]),
            gate: f64::from(s[4]),
            weight: f64::from(s[5]),
            clip_frac: f64::from(s[6]),
        })
        .collect();
    Ok((adv, AdvantageStats { groups }))
}

#[cfg(feature = "wgpu")]
fn wgsl(rewards: Tensor<3>, spec: &AdvantageSpec) -> (Tensor<2>, Tensor<2>) {
    let [p, g, _] = rewards.dims();
    crate::kernels::group_advantage(rewards, kernel_params(spec, p, g))
}

#[cfg(not(feature = "wgpu"))]
fn wgsl(_: Tensor<3>, _: &AdvantageSpec) -> (Tensor<2>, Tensor<2>) {
    unreachable!("use_wgsl is false without the wgpu feature")
}

/// Group means `[P, 1]` and centred values `[P, G]` of `x [P, G]`, by the corrected two-pass
/// method of the kernel (`d = (x - m1) - mean(x - m1)`), with `|d| <= tol` snapped to exactly 0.
fn centre(x: Tensor<2>, tol: f64) -> (Tensor<2>, Tensor<2>) {
    let first_mean = x.clone().mean_dim(1);
    let first = x - first_mean.clone();
    let correction = first.clone().mean_dim(1);
    let d = first - correction.clone();
    let small = d.clone().abs().lower_equal_elem(tol);
    (first_mean + correction, d.mask_fill(small, 0.0))
}

/// Population std of every element of `x [P, G]` → `[1, 1]`.
fn batch_sd(x: Tensor<2>) -> Tensor<2> {
    let [p, g] = x.dims();
    let n = (p * g) as f64;
    let flat = x.reshape([p * g]);
    let mean = sum_all(flat.clone()).div_scalar(n);
    let dev = flat - mean;
    sum_all(dev.square()).div_scalar(n).sqrt().reshape([1, 1])
}

/// The burn tensor-op twin of `shaders/group_advantage.wgsl`: same outputs, same stats layout.
pub fn advantage_tensor(rewards: Tensor<3>, spec: &AdvantageSpec) -> (Tensor<2>, Tensor<2>) {
    let [p, g, _] = rewards.dims();
    let ro = rewards.clone().slice([0..p, 0..g, 0..1]).reshape([p, g]);
    let rr = rewards.slice([0..p, 0..g, 1..2]).reshape([p, g]);
    let bad = (ro.clone().is_finite().bool_not().float() + rr.clone().is_finite().bool_not().float())
        .clamp(0.0, 1.0)
        .sum_dim(1);
    let xo = match spec.mix {
        Mix::Advantage => ro,
        Mix::RewardSum => ro + rr.clone().mul_scalar(spec.lambda),
    };
    let (mu_o, d_o) = centre(xo.clone(), spec.zero_tol);
    let (mu_r, d_r) = centre(rr.clone(), spec.zero_tol);
    let sd_o = d_o.clone().square().mean_dim(1).sqrt();
    let sd_r = d_r.clone().square().mean_dim(1).sqrt();
    let (den_o, den_r) = match spec.scale {
        Scale::Group => (sd_o.clone().add_scalar(spec.eps), sd_r.clone().add_scalar(spec.eps)),
        Scale::Batch => (batch_sd(xo).add_scalar(spec.eps), batch_sd(rr).add_scalar(spec.eps)),
        Scale::None => (mu_o.ones_like(), mu_o.ones_like()),
    };
    let gate = gate_tensor(spec, sd_o.clone(), sd_r.clone());
    let weight = match spec.weight {
        Weighting::HardFirst => mu_o.clone().neg().add_scalar(1.0),
        Weighting::Mid => mu_o.clone().mul(mu_o.clone().neg().add_scalar(1.0)).mul_scalar(4.0),
        Weighting::Off => mu_o.ones_like(),
    };
    // Flat group: every snapped outcome deviation is exactly 0 (then the clip is ±c_max).
    let flat = d_o.clone().not_equal_elem(0.0).float().sum_dim(1).equal_elem(0.0).expand([p, g]);
    let ao = d_o / den_o;
    let c = match spec.mix {
        Mix::Advantage => (d_r / den_r) * (gate.clone() * weight.clone()).mul_scalar(spec.lambda),
        Mix::RewardSum => ao.zeros_like(),
    };
    let bound = match spec.clip {
        // f32::MAX, not infinity: `clamp(c, -bound, bound)` stays c and the clip count 0.
        Clip::Off => ao.ones_like().mul_scalar(f32::MAX),
        Clip::Tailored => ao.clone().abs().mul_scalar(spec.kappa).mask_fill(flat, spec.c_max),
    };
    let clip_frac = c.clone().abs().greater(bound.clone()).float().mean_dim(1);
    let adv = ao + c.max_pair(bound.clone().neg()).min_pair(bound);
    let stats = Tensor::cat(vec![mu_o, sd_o, mu_r, sd_r, gate, weight, clip_frac, bad], 1);
    (adv, stats)
}

fn gate_tensor(spec: &AdvantageSpec, sd_o: Tensor<2>, sd_r: Tensor<2>) -> Tensor<2> {
    let g_o = match spec.gate {
        Gate::Soft => sd_o.div_scalar(spec.sd_max).neg().add_scalar(1.0).clamp(0.0, 1.0),
        Gate::Hard => sd_o.lower_equal_elem(spec.tau).float(),
        Gate::Off => sd_o.ones_like(),
    };
    let g_r = if spec.tau_r > 0.0 { sd_r.div_scalar(spec.tau_r).clamp_max(1.0) } else { sd_r.ones_like() };
    g_o * g_r
}
