//! AdamW on the LoRA factors only (PyTorch's rule: decoupled weight decay, bias-corrected
//! moments), after clipping the gradients by their global norm (burn clips per tensor). The
//! moments are kept by parameter name (`model.layers.N.….lora_A`), so a checkpoint stores and
//! restores them bit for bit whatever the in-memory parameter ids.

use std::collections::BTreeMap;

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use super::config::OptimSection;
use crate::model::CausalLm;
use crate::model::ModelError;
use crate::model::weights::NamedTensor;
use crate::reduce::sum_all;

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Whether the gradients were scaled down.
    pub clipped: bool,
    /// Learning rate used.
    pub lr: f64,
}

/// AdamW state: step count and first/second moments by parameter name.
pub struct AdamW {
    cfg: OptimSection,
    /// Optimizer steps taken.
    pub t: u64,
    moments: BTreeMap<String, (Tensor<2>, Tensor<2>)>,
}

/// `(name, factor)` of every LoRA factor, `lora_A` then `lora_B` per layer.
fn factors(model: &CausalLm) -> Vec<(String, &Param<Tensor<2>>)> {
    let mut out = Vec::new();
    for (name, layer) in model.linear_layers() {
        if let Some(l) = &layer.lora {
            out.push((format!("{name}.lora_A"), &l.lora_a));
            out.push((format!("{name}.lora_B"), &l.lora_b));
        }
    }
    out
}

/// `sqrt(Σ g²)` over every element of `grads`, summed in f64 on the host from per-tensor sums
/// that [`sum_all`] keeps correct on wgpu for any tensor size.
///
/// # Errors
/// A device read-back failed.
pub fn global_norm(grads: impl IntoIterator<Item = Tensor<2>>) -> Result<f64, ModelError> {
    let squares: Vec<Tensor<1>> = grads
        .into_iter()
        .map(|g| {
            let [r, c] = g.dims();
            sum_all(g.powi_scalar(2).reshape([r * c]))
        })
        .collect();
    if squares.is_empty() {
        return Ok(0.0);
    }
    let n = squares.len();
    let total = host(Tensor::cat(squares, 0).reshape([1, n]))?;
    Ok(total.iter().map(|&x| f64::from(x)).sum::<f64>().sqrt())
}

/// Host values of a tensor.
pub fn host(t: Tensor<2>) -> Result<Vec<f32>, ModelError> {
    let data = t.try_into_data_as::<f32>().map_err(|e| ModelError::Compute(format!("read-back: {e:?}")))?;
    data.try_to_vec::<f32>().map_err(|e| ModelError::Compute(format!("read-back: {e:?}")))
}

impl AdamW {
    /// A fresh optimizer.
    pub fn new(cfg: &OptimSection) -> Self {
        AdamW { cfg: cfg.clone(), t: 0, moments: BTreeMap::new() }
    }

    /// One step at learning rate `lr`: returns the updated model.
    ///
    /// # Errors
    /// A non-finite gradient norm (the step is refused, the model unchanged).
    pub fn step(
        &mut self,
        mut model: CausalLm,
        grads: &GradientsParams,
        lr: f64,
    ) -> Result<(CausalLm, StepStats), ModelError> {
        let named: Vec<(String, Tensor<2>)> = factors(&model)
            .into_iter()
            .filter_map(|(name, p)| grads.get::<2>(p.id).map(|g| (name, g.detach())))
            .collect();
        if named.is_empty() {
            return Err(ModelError::Input("no LoRA factor received a gradient".into()));
        }
        let grad_norm = global_norm(named.iter().map(|(_, g)| g.clone()))?;
        if !grad_norm.is_finite() {
            return Err(ModelError::Compute(format!("the gradient norm is {grad_norm}; step skipped")));
        }
        let max = self.cfg.max_grad_norm;
        let clip = if max > 0.0 && grad_norm > max { max / (grad_norm + 1e-6) } else { 1.0 };
        self.t += 1;
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        let (c1, c2) = (1.0 - b1.powi(self.t as i32), 1.0 - b2.powi(self.t as i32));
        let mut updates: BTreeMap<String, Tensor<2>> = BTreeMap::new();
        let params: BTreeMap<String, Tensor<2>> =
            factors(&model).into_iter().map(|(n, p)| (n, p.val().detach())).collect();
        for (name, g) in named {
            let g = if clip < 1.0 { g.mul_scalar(clip) } else { g };
            let (m, v) = match self.moments.remove(&name) {
                Some((m, v)) => (
                    m.mul_scalar(b1) + g.clone().mul_scalar(1.0 - b1),
                    v.mul_scalar(b2) + g.powi_scalar(2).mul_scalar(1.0 - b2),
                ),
                None => (g.clone().mul_scalar(1.0 - b1), g.powi_scalar(2).mul_scalar(1.0 - b2)),
            };
            let Some(p) = params.get(&name) else { continue };
            let decayed = p.clone().mul_scalar(1.0 - lr * self.cfg.weight_decay);
            let step = m.clone().div_scalar(c1).div(v.clone().div_scalar(c2).sqrt().add_scalar(self.cfg.eps));
            updates.insert(name.clone(), decayed - step.mul_scalar(lr));
            self.moments.insert(name, (m, v));
        }
        for (name, layer) in model.linear_layers_mut() {
            if let Some(l) = layer.lora.as_mut() {
                for (suffix, param) in [("lora_A", &mut l.lora_a), ("lora_B", &mut l.lora_b)] {
                    if let Some(new) = updates.remove(&format!("{name}.{suffix}")) {
                        let fresh = new.detach();
                        let old = std::mem::replace(param, Param::from_tensor(fresh.clone()));
                        *param = old.map(|_| fresh.require_grad());
                    }
                }
            }
        }
        Ok((model, StepStats { grad_norm, clipped: clip < 1.0, lr }))
    }

    /// The state as named host tensors (`{name}.exp_avg`, `{name}.exp_avg_sq`) and the step count.
    ///
    /// # Errors
    /// A device read-back failed.
    pub fn state(&self) -> Result<(u64, Vec<NamedTensor>), ModelError> {
        let mut out = Vec::new();
        for (name, (m, v)) in &self.moments {
            let dims = m.dims().to_vec();
            out.push((format!("{name}.exp_avg"), dims.clone(), host(m.clone())?));
            out.push((format!("{name}.exp_avg_sq"), dims, host(v.clone())?));
        }
        Ok((self.t, out))
    }

    /// Restores a state written by [`AdamW::state`].
    pub fn restore(&mut self, t: u64, tensors: Vec<NamedTensor>, device: &Device) {
        self.t = t;
        self.moments.clear();
        let mut avg: BTreeMap<String, Tensor<2>> = BTreeMap::new();
        let mut sq: BTreeMap<String, Tensor<2>> = BTreeMap::new();
        for (name, dims, values) in tensors {
            let shape = [dims.first().copied().unwrap_or(0), dims.get(1).copied().unwrap_or(0)];
            let t = Tensor::<2>::from_data(TensorData::new(values, shape), device);
            if let Some(base) = name.strip_suffix(".exp_avg_sq") {
                sq.insert(base.to_string(), t);
            } else if let Some(base) = name.strip_suffix(".exp_avg") {
                avg.insert(base.to_string(), t);
            }
        }
        for (name, m) in avg {
            if let Some(v) = sq.remove(&name) {
                self.moments.insert(name, (m, v));
            }
        }
    }
}
