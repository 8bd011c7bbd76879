//! Kernel parameters: plain `#[repr(C)]` mirrors of the WGSL `Params` structs (no config types:
//! the algorithm layer fills them). Field order and size must match the shader headers.

use bytemuck::{Pod, Zeroable};

/// `Params` of `shaders/group_advantage.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct AdvantageParams {
    /// `P`.
    pub groups: u32,
    /// `G`.
    pub group_size: u32,
    /// Workgroups along x of the 2-D grid (set by the launcher).
    pub groups_per_row: u32,
    /// 0: advantage-level mixing, 1: reward sum.
    pub mix: u32,
    /// 0: group std, 1: batch std, 2: none.
    pub scale: u32,
    /// 0: soft, 1: hard, 2: off.
    pub gate: u32,
    /// 0: hard-first, 1: mid, 2: off.
    pub weighting: u32,
    /// 0: tailored clip of the reasoning term, 1: off.
    pub clip: u32,
    /// Reasoning scale.
    pub lambda: f32,
    /// Clip relative to `|Ao|`.
    pub kappa: f32,
    /// Clip of a flat group (`std ro = 0`).
    pub c_max: f32,
    /// Std offset.
    pub eps: f32,
    /// Soft-gate `sd_max`.
    pub sd_max: f32,
    /// Hard-gate threshold.
    pub tau: f32,
    /// Reasoning-variance threshold (0 = off).
    pub tau_r: f32,
    /// Snap tolerance of centred rewards.
    pub zero_tol: f32,
}

/// `Params` of `shaders/awpo_loss*.wgsl` (one layout for the three passes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct LossParams {
    /// `B`.
    pub rows: u32,
    /// `T`.
    pub cols: u32,
    /// Workgroups along x of the row grid (set by the launcher).
    pub rows_per_x: u32,
    /// 0: token-mean, 1: seq-mean-token-mean, 2: seq-mean-token-sum-norm.
    pub agg: u32,
    /// 1 when the KL term reads `ref_logp`.
    pub use_ref: u32,
    /// Workgroups along x of the token grid (set by the launcher).
    pub tokens_per_x: u32,
    /// 1: rows are weighted by the whole batch's normaliser (`sequences`, `total_tokens`,
    /// `norm_len`, the `seq_tokens` binding); 0: by this batch alone.
    pub given_norm: u32,
    /// Padding.
    pub pad0: u32,
    /// Ratio clip below 1.
    pub eps_low: f32,
    /// Ratio clip above 1.
    pub eps_high: f32,
    /// KL weight.
    pub beta: f32,
    /// Constant length of `seq-mean-token-sum-norm`.
    pub norm_len: f32,
    /// The whole batch's sequences (`given_norm = 1`).
    pub sequences: f32,
    /// The whole batch's generated tokens (`given_norm = 1`).
    pub total_tokens: f32,
    /// Padding.
    pub pad1: u32,
    /// Padding.
    pub pad2: u32,
}

/// Columns of the per-group statistics table `[P, 8]`.
pub const ADVANTAGE_STATS: usize = 8;
/// What each column of the per-group table holds (`shaders/group_advantage.wgsl`, binding 3).
pub const ADVANTAGE_STAT_NAMES: [&str; ADVANTAGE_STATS] =
    ["outcome mean", "outcome std", "reasoning mean", "reasoning std", "gate", "weight", "clip share", "bad count"];
/// Columns of the per-row table `[B, 8]` and length of the loss output `[8]`.
pub const LOSS_STATS: usize = 8;
/// What each entry of the loss output holds (`shaders/awpo_loss_reduce.wgsl`, binding 2).
pub const LOSS_OUT_NAMES: [&str; LOSS_STATS] =
    ["loss", "token count", "KL", "ratio mean", "low clip share", "high clip share", "bad count", "approx KL"];

/// Largest workgroup count per grid dimension that every WebGPU adapter accepts.
pub const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// A 2-D grid of `count` workgroups: `(x, y)` with `x·y >= count`, both within the limit.
pub fn grid(count: usize) -> (u32, u32) {
    let max = MAX_GROUPS_PER_DIM as usize;
    let x = count.clamp(1, max);
    (x as u32, count.div_ceil(x).max(1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_wgsl_layout() {
        assert_eq!(std::mem::size_of::<AdvantageParams>(), 64);
        assert_eq!(std::mem::size_of::<LossParams>(), 64);
    }

    #[test]
    fn grid_covers_and_respects_the_limit() {
        for count in [1usize, 7, 65_535, 65_536, 70_000, 1 << 24] {
            let (x, y) = grid(count);
            assert!(x <= MAX_GROUPS_PER_DIM && y <= MAX_GROUPS_PER_DIM);
            assert!(x as usize * y as usize >= count);
            assert!((x as usize) * (y as usize - 1) < count, "{count}: a spare row");
        }
    }
}
