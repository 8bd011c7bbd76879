//! The AWPO objective (Lin et al., arXiv 2512.19126): advantage-level mixing of an outcome reward
//! and a reasoning reward, and the clipped token-level policy loss.
//!
//! Per group of `G` rollouts of one prompt (`ro`, `rr` in [0, 1]):
//!
//! ```text
//! Ao_i = (ro_i - mean ro) / (std ro + eps)        Ar_i = (rr_i - mean rr) / (std rr + eps)
//! g    = g_o(std ro) · min(1, std rr / tau_r)     g_o soft = clamp(1 - std ro / sd_max, 0, 1)
//! w    = 1 - mean ro            (hard-first; `mid`: 4·mu·(1-mu); `off`: 1)
//! c_i  = clamp(lambda·g·w·Ar_i, ±kappa·|Ao_i|)    (±c_max in a flat group: std ro = 0;
//!                                                   `clip = off`: no bound)
//! A_i  = Ao_i + c_i
//! loss_t = -min(r_t·A, clamp(r_t, 1-eps_low, 1+eps_high)·A) + beta·k3(ref ‖ policy),
//!          r_t = exp(logp_t - old_logp_t), aggregated by `loss_agg`
//! ```
//!
//! The gate, weight and clip forms are a documented reconstruction (the paper's exact formulas
//! are not public); every choice is a knob of [`AlgoConfig`]. Three twins compute it:
//! [`mod@reference`] (f64, the spec), the WGSL kernels (`crate::kernels`, on wgpu) and burn tensor
//! ops ([`advantage::advantage_tensor`], [`loss::loss_tensor`], everywhere else).
//! Layer 2: tensors in, tensors out; knows nothing of models, text or rewards' origin.

pub mod advantage;
pub mod config;
pub mod error;
pub mod loss;
pub mod reference;

#[cfg(test)]
mod props;

pub use advantage::{AdvantageStats, advantage};
pub use config::{Aggregation, AlgoConfig, Clip, Gate, KernelMode, KlReference, Mode, Scale, Weighting};
pub use error::ObjectiveError;
pub use loss::{LossBatch, loss};
pub use reference::{GroupStats, LossStats};

use burn::tensor::{Device, Tensor};

/// Whether the WGSL kernels run on `device`: a wgpu device whose adapter gets the WGSL compiler
/// in this build (builds with feature `vulkan` or `metal` compile to SPIR-V or MSL on Vulkan or
/// Metal adapters, where the tensor twin runs instead).
pub fn wgsl_available(device: &Device) -> bool {
    crate::kernels::kernels_available(device) && crate::device::compiler(device) == Some(crate::device::Compiler::Wgsl)
}

/// Whether this call runs the WGSL kernels (`true`) or the tensor-op twin.
fn use_wgsl(mode: KernelMode, device: &Device) -> Result<bool, ObjectiveError> {
    let available = wgsl_available(device);
    match mode {
        KernelMode::Auto => Ok(available),
        KernelMode::Tensor => Ok(false),
        KernelMode::Wgsl if available => Ok(true),
        KernelMode::Wgsl => Err(ObjectiveError::KernelUnavailable { device: format!("{device:?}") }),
    }
}

/// The values of a float tensor, as f32, on the host.
fn read_f32<const D: usize>(tensor: Tensor<D>, what: &'static str) -> Result<Vec<f32>, ObjectiveError> {
    Ok(crate::device::to_host(tensor, what)?)
}
