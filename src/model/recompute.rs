//! Gradients of a loss on the final hidden states, either through the whole graph (every
//! layer's activations kept until backward) or with per-layer recomputation
//! (`train.recompute_layers`): a forward pass without a graph keeps only each decoder layer's
//! input `[B, T, D]`; the head and loss are differentiated on the last layer's output; then
//! each layer, last to first, re-runs its forward from its saved input and is differentiated
//! against the gradient of its output (a vector-Jacobian product through the scalar
//! `Σ y·∂L/∂y`), which gives its LoRA gradients and the gradient of its input. At any time one
//! layer's activations are alive, not all of them; the cost is one more forward pass.
//! burn's own gradient checkpointing recomputes only element-wise ops, which is why this is
//! written here. Dropout masks are drawn from per-layer seeds, so the recomputed forward is the
//! same as the first.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Int, Tensor};

use super::causal_lm::CausalLm;
use super::dropout::Adapter;
use super::error::ModelError;

fn no_gradient(what: &str) -> ModelError {
    ModelError::Compute(format!("recomputation: {what} received no gradient (is the adapter trainable?)"))
}

/// The gradients of `loss_of(hidden)` with respect to `model`'s trainable weights, where
/// `hidden` `[B, T, D]` = `model.hidden(tokens, mask, adapter)`, and `loss_of`'s other output.
/// `recompute` chooses per-layer recomputation; both ways give the same gradients up to f32
/// rounding. `model` must be on an autodiff device.
///
/// # Errors
/// A failed forward pass, or `loss_of`'s error.
pub fn gradients<O, E>(
    model: &CausalLm,
    tokens: Tensor<2, Int>,
    mask: Tensor<2, Int>,
    adapter: Adapter,
    recompute: bool,
    loss_of: impl FnOnce(Tensor<3>) -> Result<(Tensor<1>, O), E>,
) -> Result<(GradientsParams, O), E>
where
    E: From<ModelError>,
{
    if !recompute {
        let (loss, out) = loss_of(model.hidden(tokens, mask, adapter)?)?;
        return Ok((GradientsParams::from_grads(loss.backward(), model), out));
    }
    // Forward on the plain device: no graph, only each layer's input kept.
    let plain = model.valid();
    let (mut x, ctx) = plain.prepare(tokens.clone().inner(), mask.clone().inner(), adapter)?;
    let mut inputs = Vec::with_capacity(plain.layers.len());
    for layer in &plain.layers {
        inputs.push(x.clone());
        x = layer.forward(x, &ctx, None);
    }
    drop((plain, ctx));
    // The head and the loss on a leaf holding the last layer's output.
    let last = Tensor::from_inner(x).require_grad();
    let (loss, out) = loss_of(model.norm.forward(last.clone()))?;
    let mut grads = loss.backward();
    let mut upstream = last.grad_remove(&mut grads).ok_or_else(|| no_gradient("the last layer's output"))?;
    let mut acc = GradientsAccumulator::<CausalLm>::new();
    acc.accumulate(model, GradientsParams::from_grads(grads, model));
    // Each layer, last to first: re-run it from its input, backward against its output's gradient.
    let (_, ctx) = model.prepare(tokens, mask, adapter)?;
    for (i, (layer, input)) in model.layers.iter().zip(inputs).enumerate().rev() {
        let input = Tensor::from_inner(input).require_grad();
        let y = layer.forward(input.clone(), &ctx, None);
        let [b, t, d] = y.dims();
        let vjp = (y * Tensor::from_inner(upstream)).reshape([b * t * d]).sum();
        let mut grads = vjp.backward();
        upstream = input.grad_remove(&mut grads).ok_or_else(|| no_gradient(&format!("layer {i}'s input")))?;
        acc.accumulate(model, GradientsParams::from_module(&mut grads, layer));
    }
    Ok((acc.grads(), out))
}
