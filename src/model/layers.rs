//! Building blocks named as in the Hugging Face checkpoints: RMSNorm, a linear layer with an
//! optional LoRA adapter, and the SwiGLU MLP.

use burn::module::{Module, Param};
use burn::tensor::activation::silu;
use burn::tensor::module::linear;
use burn::tensor::{Device, FloatDType, Tensor, TensorData};

use super::dropout::{Adapter, dropout};
use super::error::ModelError;
use super::precision::{Precision, base_matmul};
use super::weights::TensorSource;

/// `x / sqrt(mean(x²) + eps) · weight` over the last dimension, in f32 (as HF computes it).
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// `[D]`.
    pub weight: Param<Tensor<1>>,
    #[module(skip)]
    eps: f64,
}

impl RmsNorm {
    /// Loads `{prefix}.weight` of width `dim`.
    ///
    /// # Errors
    /// Missing tensor or wrong shape.
    pub fn load(w: &dyn TensorSource, prefix: &str, dim: usize, eps: f64, device: &Device) -> Result<Self, ModelError> {
        let weight = w.tensor(&format!("{prefix}.weight"), &[dim])?;
        Ok(RmsNorm { weight: frozen(TensorData::new(weight, [dim]), device), eps })
    }

    /// `[.., D]` → `[.., D]`.
    pub fn forward<const N: usize>(&self, x: Tensor<N>) -> Tensor<N> {
        let variance = x.clone().square().mean_dim(N - 1);
        let dims = x.dims();
        let mut shape = [1usize; N];
        shape[N - 1] = dims[N - 1];
        x * variance.add_scalar(self.eps).sqrt().recip() * self.weight.val().reshape(shape)
    }
}

/// A tensor as PEFT stores it: `(shape, row-major values)`.
pub type PeftTensor = (Vec<usize>, Vec<f32>);

/// A parameter that never receives gradients (base weights).
pub fn frozen<const N: usize>(data: TensorData, device: &Device) -> Param<Tensor<N>> {
    Param::from_data(data, device).set_require_grad(false)
}

/// LoRA factors of one linear layer: `Δy = scale · (x·A)·B`.
#[derive(Module, Debug)]
pub struct Lora {
    /// `A`, `[in, r]` (PEFT's `lora_A.weight` is `[r, in]`).
    pub lora_a: Param<Tensor<2>>,
    /// `B`, `[r, out]` (PEFT's `lora_B.weight` is `[out, r]`).
    pub lora_b: Param<Tensor<2>>,
    /// Dropout probability on the adapter's input in training forwards ([`Adapter::Train`]).
    #[module(skip)]
    pub dropout: f64,
    /// Mixed into the dropout seed, so each layer draws its own mask (from its name).
    #[module(skip)]
    pub salt: u64,
    /// `alpha / r` (`alpha / √r` for rsLoRA).
    #[module(skip)]
    pub scale: f64,
}

/// `y = x·W (+ b) (+ scale·(x·A)·B)`; `W` and `b` frozen, the LoRA factors trainable. The
/// adapter is never merged into a dense `W + A·B` on the forward pass. `W` is stored in the
/// base precision (`[model] dtype`); `x`, `b`, the factors and `y` are f32.
#[derive(Module, Debug)]
pub struct LoraLinear {
    /// `W`, `[in, out]` (HF stores `[out, in]`).
    pub weight: Param<Tensor<2>>,
    /// `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// The adapter, when this layer is a LoRA target.
    pub lora: Option<Lora>,
}

/// A row-major `rows × cols` matrix as `cols × rows` (HF's `[out, in]` ↔ ours `[in, out]`).
pub(crate) fn transpose(values: Vec<f32>, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

impl LoraLinear {
    /// Loads `{prefix}.weight` `[out, in]` in `precision` (and `{prefix}.bias` when `bias`, in
    /// f32), frozen.
    ///
    /// # Errors
    /// Missing tensor or wrong shape.
    pub fn load(
        w: &dyn TensorSource,
        prefix: &str,
        [d_in, d_out]: [usize; 2],
        bias: bool,
        precision: Precision,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let weight = transpose(w.tensor(&format!("{prefix}.weight"), &[d_out, d_in])?, d_out, d_in);
        let bias = if bias {
            Some(frozen(TensorData::new(w.tensor(&format!("{prefix}.bias"), &[d_out])?, [d_out]), device))
        } else {
            None
        };
        Ok(LoraLinear { weight: precision.frozen(weight, [d_in, d_out], device), bias, lora: None })
    }

    /// `[in]` and `[out]` widths.
    pub fn dims(&self) -> [usize; 2] {
        self.weight.val().dims()
    }

    /// Attaches trainable factors `A` `[in, r]`, `B` `[r, out]` (row-major values), scaled by
    /// `scale`, with `dropout` (in [0, 1)) on the adapter's input in training forwards; `name`
    /// (the layer's checkpoint name) seeds its masks.
    #[allow(clippy::too_many_arguments)] // the factors and their three settings, as PEFT has them
    pub fn attach(
        &mut self,
        name: &str,
        a: Vec<f32>,
        b: Vec<f32>,
        rank: usize,
        scale: f64,
        dropout: f64,
        device: &Device,
    ) {
        let [d_in, d_out] = self.dims();
        self.lora = Some(Lora {
            lora_a: Param::from_data(TensorData::new(a, [d_in, rank]), device),
            lora_b: Param::from_data(TensorData::new(b, [rank, d_out]), device),
            dropout: dropout.clamp(0.0, 0.99),
            salt: super::dropout::salt(name),
            scale,
        });
    }

    /// PEFT's tensors for this layer: `lora_A.weight` `[r, in]` and `lora_B.weight` `[out, r]`;
    /// `None` without an adapter.
    ///
    /// # Errors
    /// A device read-back failed.
    pub fn lora_tensors(&self) -> Result<Option<[PeftTensor; 2]>, ModelError> {
        let Some(lora) = self.lora.as_ref() else { return Ok(None) };
        let [d_in, rank] = lora.lora_a.val().dims();
        let [_, d_out] = lora.lora_b.val().dims();
        let a = crate::device::to_host(lora.lora_a.val(), "lora_A")?;
        let b = crate::device::to_host(lora.lora_b.val(), "lora_B")?;
        Ok(Some([(vec![rank, d_in], transpose(a, d_in, rank)), (vec![d_out, rank], transpose(b, rank, d_out))]))
    }

    /// `[.., in]` → `[.., out]`; [`Adapter::Off`] computes the base layer alone (the KL
    /// reference, with no second copy of the weights).
    pub fn forward<const N: usize>(&self, x: Tensor<N>, adapter: Adapter) -> Tensor<N> {
        let base = base_matmul(x.clone(), self.weight.val());
        let base = match &self.bias {
            Some(b) => base + b.val().unsqueeze::<N>(),
            None => base,
        };
        let Some(l) = self.lora.as_ref().filter(|_| adapter.is_on()) else { return base };
        let x = match adapter {
            Adapter::Train { seed } => dropout(x, l.dropout, seed ^ l.salt),
            _ => x,
        };
        let low = linear(x, l.lora_a.val(), None);
        base + linear(low, l.lora_b.val(), None).mul_scalar(l.scale)
    }

    /// `W + scale·A·B` as `[in, out]` values (for `awpo merge`).
    ///
    /// # Errors
    /// A device read-back failed.
    pub fn merged(&self) -> Result<Vec<f32>, ModelError> {
        let weight = self.weight.val().cast(FloatDType::F32);
        let w = match &self.lora {
            Some(l) => weight + l.lora_a.val().matmul(l.lora_b.val()).mul_scalar(l.scale),
            None => weight,
        };
        Ok(crate::device::to_host(w, "a merged weight")?)
    }
}

/// SwiGLU: `down(silu(gate(x)) · up(x))`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// `[D, I]`.
    pub gate_proj: LoraLinear,
    /// `[D, I]`.
    pub up_proj: LoraLinear,
    /// `[I, D]`.
    pub down_proj: LoraLinear,
}

impl Mlp {
    /// `[B, T, D]` → `[B, T, D]`.
    pub fn forward(&self, x: Tensor<3>, adapter: Adapter) -> Tensor<3> {
        let gate = silu(self.gate_proj.forward(x.clone(), adapter));
        self.down_proj.forward(gate * self.up_proj.forward(x, adapter), adapter)
    }
}
