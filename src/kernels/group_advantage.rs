//! Launcher of `shaders/group_advantage.wgsl`: rewards `[P, G, 2]` → advantages `[P, G]` and
//! per-group statistics `[P, 8]`. Not differentiable (advantages are constants of the loss).

use burn::backend::wgpu::CubeTensor;

use super::launch::{input, launch, output, upload};
use super::params::{ADVANTAGE_STATS, AdvantageParams, grid};
use super::source::GROUP_ADVANTAGE;

/// Runs the kernel; `params.groups`/`group_size` must match `rewards` (checked by the caller).
pub(crate) fn forward(rewards: CubeTensor, mut params: AdvantageParams) -> (CubeTensor, CubeTensor) {
    let rewards = input(rewards);
    let (p, g) = (params.groups as usize, params.group_size as usize);
    let adv = output(&rewards, [p, g]);
    let stats = output(&rewards, [p, ADVANTAGE_STATS]);
    let dims = grid(p);
    params.groups_per_row = dims.0;
    let params = upload(&rewards, &[params]);
    launch(GROUP_ADVANTAGE, dims, &[&rewards, &params, &adv, &stats]);
    (adv, stats)
}
