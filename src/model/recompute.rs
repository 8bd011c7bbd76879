//! Gradients of a loss on the final hidden states, either through the whole graph (every
//! layer's activations kept until backward) or with per-layer recomputation
//! (`train.recompute_layers`): a forward pass without a graph keeps only each decoder layer's
//! input `[B, T, D]`; the head and loss are differentiated on the last layer's output; then
//! each layer, last to first, re-runs its forward from its saved input and is differentiated
//! against the gradient of its output (a vector-Jacobian product through the scalar
//! `Σ y·∂L/∂y`), which gives its LoRA gradients and the gradient of its input. At any time one
//! layer's activations are alive, not all of them, and only for a few rows at a time (rows are
//! independent in a decoder layer); the cost is one more forward pass.
//! burn's own gradient checkpointing recomputes only element-wise ops, which is why this is
//! written here. Dropout masks are drawn from per-layer seeds, so the recomputed forward is the
//! same as the first.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Int, Tensor};

use super::causal_lm::CausalLm;
use super::dropout::Adapter;
use super::error::ModelError;

/// The most bytes a recomputed layer's attention scores and MLP activations may take at once:
/// rows are recomputed in chunks that stay under it.
pub const RECOMPUTE_CHUNK_BYTES: u64 = 32 << 20;

/// How backward gets each layer's activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backprop {
    /// Kept from the forward pass (every layer's, until backward).
    Whole,
    /// Recomputed layer by layer, rows in chunks whose activations stay under `chunk_bytes`.
    ByLayer {
        /// See [`RECOMPUTE_CHUNK_BYTES`].
        chunk_bytes: u64,
    },
}

impl Backprop {
    /// Per-layer recomputation in chunks of [`RECOMPUTE_CHUNK_BYTES`].
    pub const RECOMPUTE: Backprop = Backprop::ByLayer { chunk_bytes: RECOMPUTE_CHUNK_BYTES };

    /// [`Backprop::RECOMPUTE`] when `recompute`, else [`Backprop::Whole`].
    pub fn recompute(recompute: bool) -> Self {
        if recompute { Backprop::RECOMPUTE } else { Backprop::Whole }
    }
}

/// Rows recomputed at once for `b` rows of `t` tokens: as many as keep one layer's attention
/// scores `[rows, H, T, T]` and MLP activations `[rows, T, 3·I]` under `chunk_bytes`; all `b`
/// when a LoRA layer has dropout in a training forward (its masks are drawn for the whole
/// micro-batch's shape).
pub fn recompute_rows(model: &CausalLm, [b, t]: [usize; 2], adapter: Adapter, chunk_bytes: u64) -> usize {
    let dropout = model.linear_layers().iter().any(|(_, l)| l.lora.as_ref().is_some_and(|l| l.dropout > 0.0));
    if dropout && matches!(adapter, Adapter::Train { .. }) {
        return b.max(1);
    }
    let c = model.config();
    let per_row = 4 * (c.num_attention_heads * t * t + 3 * t * c.intermediate_size) as u64;
    ((chunk_bytes / per_row.max(1)) as usize).clamp(1, b.max(1))
}

fn no_gradient(what: &str) -> ModelError {
    ModelError::Compute(format!("recomputation: {what} received no gradient (is the adapter trainable?)"))
}

/// The gradients of `loss_of(hidden)` with respect to `model`'s trainable weights, where
/// `hidden` `[B, T, D]` = `model.hidden(tokens, mask, adapter)`, and `loss_of`'s other output.
/// `backprop` chooses per-layer recomputation; both ways give the same gradients up to f32
/// rounding. `model` must be on an autodiff device.
///
/// # Errors
/// A failed forward pass, or `loss_of`'s error.
pub fn gradients<O, E>(
    model: &CausalLm,
    tokens: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    adapter: Adapter,
    backprop: Backprop,
    loss_of: impl FnOnce(Tensor<3>) -> Result<(Tensor<1>, O), E>,
) -> Result<(GradientsParams, O), E>
where
    E: From<ModelError>,
{
    let chunk_bytes = match backprop {
        Backprop::Whole => {
            let (loss, out) = loss_of(model.hidden(tokens, mask, adapter)?)?;
            return Ok((GradientsParams::from_grads(loss.backward(), model), out));
        }
        Backprop::ByLayer { chunk_bytes } => chunk_bytes,
    };
    let [b, t] = tokens.dims();
    let step = recompute_rows(model, [b, t], adapter, chunk_bytes);
    let chunks: Vec<(usize, usize)> = (0..b).step_by(step).map(|s| (s, step.min(b - s))).collect();
    let rows = |x: &Tensor<2, Int>, (s, n): (usize, usize)| x.clone().narrow(0, s, n);
    // Forward on the plain device, a few rows at a time: no graph, only each layer's input kept.
    let plain = model.valid();
    let mut inputs: Vec<Vec<Tensor<3>>> = plain.layers.iter().map(|_| Vec::with_capacity(chunks.len())).collect();
    let (mut outputs, mut contexts) = (Vec::with_capacity(chunks.len()), Vec::with_capacity(chunks.len()));
    for &c in &chunks {
        let (mut x, ctx) = plain.prepare(rows(&tokens, c).inner(), rows(&mask, c).inner(), adapter)?;
        for (layer, kept) in plain.layers.iter().zip(inputs.iter_mut()) {
            kept.push(x.clone());
            x = layer.forward(x, &ctx, None);
        }
        outputs.push(x);
        // RoPE tables and masks take no gradient: the recomputation reuses them as constants.
        contexts.push(ctx);
    }
    drop(plain);
    // The head and the loss on a leaf holding the last layer's output.
    let last = Tensor::from_inner(Tensor::cat(outputs, 0)).require_grad();
    let (loss, out) = loss_of(model.norm.forward(last.clone()))?;
    let mut grads = loss.backward();
    let mut upstream = last.grad_remove(&mut grads).ok_or_else(|| no_gradient("the last layer's output"))?;
    let mut acc = GradientsAccumulator::<CausalLm>::new();
    acc.accumulate(model, GradientsParams::from_grads(grads, model));
    // Each layer, last to first, a few rows at a time: re-run it from its input, backward
    // against its output's gradient (a sum over rows, so the chunks add up to the whole).
    for (i, (layer, kept)) in model.layers.iter().zip(inputs).enumerate().rev() {
        let mut below = Vec::with_capacity(chunks.len());
        for ((input, ctx), &(s, n)) in kept.into_iter().zip(&contexts).zip(&chunks) {
            let input = Tensor::from_inner(input).require_grad();
            let y = layer.forward(input.clone(), ctx, None);
            let [yb, yt, yd] = y.dims();
            // Only this sum's gradient is used (ones), never its value.
            let vjp = (y * upstream.clone().narrow(0, s, n)).reshape([yb * yt * yd]).sum();
            let mut grads = vjp.backward();
            below.push(input.grad_remove(&mut grads).ok_or_else(|| no_gradient(&format!("layer {i}'s input")))?);
            acc.accumulate(model, GradientsParams::from_module(&mut grads, layer));
        }
        upstream = Tensor::cat(below, 0);
    }
    Ok((acc.grads(), out))
}
