//! Launchers of `shaders/awpo_loss.wgsl` (row pass), `awpo_loss_reduce.wgsl` (aggregation) and
//! `awpo_loss_bwd.wgsl` (gradient). All reductions happen inside WGSL with 2-D grids, so no
//! burn reduction (and its >65535-workgroup bug, see README "Limits") is on this path.

use burn::backend::wgpu::CubeTensor;

use super::launch::{input, launch, output, upload};
use super::params::{LOSS_STATS, LossParams, grid};
use super::source::{AWPO_LOSS, AWPO_LOSS_BWD, AWPO_LOSS_REDUCE, WORKGROUP_SIZE};

/// Everything the forward produces.
#[derive(Debug)]
pub(crate) struct LossForward {
    /// `[8]`: loss, tokens, kl_ref, ratio_mean, clip_low_frac, clip_high_frac, bad, approx_kl.
    pub out: CubeTensor,
    /// `[B, 8]` per-row sums (see the shader header).
    pub rows: CubeTensor,
    /// `[B, T]` unscaled `d loss_t / d logp`.
    pub dl: CubeTensor,
    /// `[B]` aggregation weight per row.
    pub row_scale: CubeTensor,
}

/// Inputs `[B, T]` except `adv` and `seq_tokens` `[B]`; `ref_logp` may be a 1-element dummy
/// when `use_ref = 0`, `seq_tokens` when `given_norm = 0`.
pub(crate) fn forward(inputs: [CubeTensor; 6], mut params: LossParams) -> (LossForward, LossParams) {
    let [logp, old_logp, ref_logp, adv, mask, seq_tokens] = inputs.map(input);
    let (b, t) = (params.rows as usize, params.cols as usize);
    let dl = output(&logp, [b, t]);
    let rows = output(&logp, [b, LOSS_STATS]);
    let out = output(&logp, [LOSS_STATS]);
    let row_scale = output(&logp, [b]);
    let row_grid = grid(b);
    let token_grid = grid((b * t).div_ceil(WORKGROUP_SIZE as usize));
    params.rows_per_x = row_grid.0;
    params.tokens_per_x = token_grid.0;
    let p = upload(&logp, &[params]);
    launch(AWPO_LOSS, row_grid, &[&logp, &old_logp, &ref_logp, &adv, &mask, &p, &dl, &rows]);
    launch(AWPO_LOSS_REDUCE, (1, 1), &[&rows, &p, &out, &row_scale, &seq_tokens]);
    (LossForward { out, rows, dl, row_scale }, params)
}

/// `grad [B, T] = upstream[0] · row_scale[b] · dl[b, t]`; `params` as returned by [`forward`].
pub(crate) fn backward(
    dl: &CubeTensor,
    row_scale: &CubeTensor,
    upstream: CubeTensor,
    params: LossParams,
) -> CubeTensor {
    let upstream = input(upstream);
    let (b, t) = (params.rows as usize, params.cols as usize);
    let grad = output(dl, [b, t]);
    let p = upload(dl, &[params]);
    let token_grid = (params.tokens_per_x, grid((b * t).div_ceil(WORKGROUP_SIZE as usize)).1);
    launch(AWPO_LOSS_BWD, token_grid, &[dl, row_scale, &upstream, &p, &grad]);
    grad
}
