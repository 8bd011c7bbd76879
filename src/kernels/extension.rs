//! The backend extension `AwpoKernels`: the WGSL kernels on burn's cubecl backend, and their
//! autodiff wiring (`loss.backward()` reaches `logp` through `awpo_loss_bwd.wgsl`).
//!
//! Routed by burn's dispatch to `Cube` (any cubecl runtime: callers check [`super::kernels_available`]
//! first, because only wgpu's WGSL compiler can run the templates) and to `Autodiff<Cube>`.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::backend::{Autodiff, AutodiffBackend, Backend, backend_extension};

use super::awpo_loss;
use super::group_advantage;
use super::params::{AdvantageParams, LossParams};

/// The AWPO kernels as backend operations.
#[backend_extension(Autodiff, Cube)]
pub trait AwpoKernels: Backend {
    /// Rewards `[P, G, 2]` → (advantages `[P, G]`, statistics `[P, 8]`).
    fn group_advantage(rewards: FloatTensor<Self>, params: AdvantageParams) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// (logp, old_logp, ref_logp `[B, T]`, adv `[B]`, mask `[B, T]`, seq_tokens `[B]`) → (out
    /// `[8]`, rows `[B, 8]`). `out[0]` is the loss and carries the gradient to `logp`; the rest
    /// are statistics.
    #[allow(clippy::too_many_arguments)] // one tensor per binding of the shader
    fn awpo_loss(
        logp: FloatTensor<Self>,
        old_logp: FloatTensor<Self>,
        ref_logp: FloatTensor<Self>,
        adv: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        seq_tokens: FloatTensor<Self>,
        params: LossParams,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

impl AwpoKernels for CubeBackend {
    fn group_advantage(rewards: CubeTensor, params: AdvantageParams) -> (CubeTensor, CubeTensor) {
        group_advantage::forward(rewards, params)
    }

    fn awpo_loss(
        logp: CubeTensor,
        old_logp: CubeTensor,
        ref_logp: CubeTensor,
        adv: CubeTensor,
        mask: CubeTensor,
        seq_tokens: CubeTensor,
        params: LossParams,
    ) -> (CubeTensor, CubeTensor) {
        let (fwd, _) = awpo_loss::forward([logp, old_logp, ref_logp, adv, mask, seq_tokens], params);
        (fwd.out, fwd.rows)
    }
}

/// Backward step of the loss: state = (dl `[B, T]`, row_scale `[B]`, launch params).
#[derive(Debug)]
struct AwpoLossBackward;

impl Backward<CubeBackend, 1> for AwpoLossBackward {
    type State = (CubeTensor, CubeTensor, LossParams);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let upstream = grads.consume::<CubeBackend>(&ops.node);
        if let Some(node) = parent {
            let (dl, row_scale, params) = ops.state;
            let grad = awpo_loss::backward(&dl, &row_scale, upstream, params);
            grads.register::<CubeBackend>(node.id, grad);
        }
    }
}

impl<C: CheckpointStrategy> AwpoKernels for Autodiff<CubeBackend, C> {
    fn group_advantage(rewards: FloatTensor<Self>, params: AdvantageParams) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (adv, stats) = CubeBackend::group_advantage(Self::inner(rewards), params);
        (Self::from_inner(adv), Self::from_inner(stats))
    }

    fn awpo_loss(
        logp: FloatTensor<Self>,
        old_logp: FloatTensor<Self>,
        ref_logp: FloatTensor<Self>,
        adv: FloatTensor<Self>,
        mask: FloatTensor<Self>,
        seq_tokens: FloatTensor<Self>,
        params: LossParams,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let node = logp.node();
        let inner = [old_logp, ref_logp, adv, mask, seq_tokens].map(Self::inner);
        let [old_logp, ref_logp, adv, mask, seq_tokens] = inner;
        let (fwd, params) =
            awpo_loss::forward([logp.into_primitive(), old_logp, ref_logp, adv, mask, seq_tokens], params);
        let rows = Self::from_inner(fwd.rows);
        let out = match AwpoLossBackward.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((fwd.dl, fwd.row_scale, params), fwd.out),
            OpsKind::UnTracked(prep) => prep.finish(fwd.out),
        };
        (out, rows)
    }
}
