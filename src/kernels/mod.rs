//! Hand-written WGSL kernels (`shaders/`) for the AWPO advantage and loss, launched through
//! burn's custom-kernel API on the wgpu backend.
//!
//! Layer 1: knows burn and `kernels::source`, never the algorithm's config types — callers pass
//! plain [`AdvantageParams`] / [`LossParams`]. Each kernel has twins: the f64 specification in
//! `algo::reference` and a burn tensor-op version in `algo` (used where WGSL cannot run).

pub mod params;
pub mod source;

#[cfg(feature = "wgpu")]
mod awpo_loss;
#[cfg(feature = "wgpu")]
mod extension;
#[cfg(feature = "wgpu")]
mod group_advantage;
#[cfg(feature = "wgpu")]
mod launch;

#[cfg(feature = "wgpu")]
pub use launch::set_poison_outputs;
pub use params::{ADVANTAGE_STAT_NAMES, ADVANTAGE_STATS, AdvantageParams, LOSS_OUT_NAMES, LOSS_STATS, LossParams};

use burn::tensor::{Device, Tensor};

/// Whether `device` is a wgpu device not pinned to SPIR-V or MSL. CUDA, the CPU backend and
/// SPIR-V/MSL-pinned wgpu devices answer `false`. Whether its adapter gets the WGSL compiler in
/// this build (not so for Vulkan adapters with feature `vulkan`, Metal ones with `metal`) is
/// `algo::wgsl_available`'s to add.
pub fn kernels_available(device: &Device) -> bool {
    #[cfg(feature = "wgpu")]
    {
        use burn::backend::DispatchDevice;
        use cubecl::device::WgpuBackend;
        match device.as_dispatch().clone().inner() {
            DispatchDevice::Cube(cubecl::Device::Wgpu(wgpu)) => {
                matches!(wgpu.backend, WgpuBackend::Auto | WgpuBackend::WebGpu)
            }
            _ => false,
        }
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = device;
        false
    }
}

/// `shaders/group_advantage.wgsl` on `rewards [P, G, 2]` (f32, on a device where
/// [`kernels_available`]): (advantages `[P, G]`, statistics `[P, 8]`). Shapes are the caller's
/// to check.
#[cfg(feature = "wgpu")]
pub fn group_advantage(rewards: Tensor<3>, params: AdvantageParams) -> (Tensor<2>, Tensor<2>) {
    use burn::backend::Dispatch;
    use extension::AwpoKernels;
    let (adv, stats) = <Dispatch as AwpoKernels>::group_advantage(rewards.into_dispatch(), params);
    (Tensor::from_dispatch(adv), Tensor::from_dispatch(stats))
}

/// The inputs of [`awpo_loss`].
#[cfg(feature = "wgpu")]
pub struct LossInputs {
    /// `[B, T]`, tracked when training.
    pub logp: Tensor<2>,
    /// `[B, T]`.
    pub old_logp: Tensor<2>,
    /// `[B, T]`, or any 1-element tensor when `params.use_ref = 0`.
    pub ref_logp: Tensor<2>,
    /// `[B]`.
    pub adv: Tensor<1>,
    /// `[B, T]`.
    pub mask: Tensor<2>,
    /// `[B]` tokens of each row's sequence, or any 1-element tensor when `params.given_norm = 0`.
    pub seq_tokens: Tensor<1>,
}

/// `shaders/awpo_loss*.wgsl`: (out `[8]`, per-row sums `[B, 8]`); `out[0]` is differentiable
/// with respect to `logp` when `logp` is tracked.
#[cfg(feature = "wgpu")]
pub fn awpo_loss(inputs: LossInputs, params: LossParams) -> (Tensor<1>, Tensor<2>) {
    use burn::backend::Dispatch;
    use extension::AwpoKernels;
    let LossInputs { logp, old_logp, ref_logp, adv, mask, seq_tokens } = inputs;
    let (out, rows) = <Dispatch as AwpoKernels>::awpo_loss(
        logp.into_dispatch(),
        old_logp.into_dispatch(),
        ref_logp.into_dispatch(),
        adv.into_dispatch(),
        mask.into_dispatch(),
        seq_tokens.into_dispatch(),
        params,
    );
    (Tensor::from_dispatch(out), Tensor::from_dispatch(rows))
}
