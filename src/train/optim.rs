//! AdamW on the LoRA factors only (PyTorch's rule: decoupled weight decay, bias-corrected
//! moments), after clipping the gradients by their global norm (burn clips per tensor). The
//! moments are kept by parameter name (`model.layers.N.….lora_A`), so a checkpoint stores and
//! restores them bit for bit whatever the in-memory parameter ids.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use crate::config::OptimSection;
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

/// Host values of a tensor (through [`crate::device::to_host`]).
///
/// # Errors
/// A device read-back failed.
pub fn host(t: Tensor<2>) -> Result<Vec<f32>, ModelError> {
    Ok(crate::device::to_host(t, "a training tensor")?)
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

    /// Restores a state written by [`AdamW::state`] for `model`'s LoRA factors; `path` (the file
    /// the tensors were read from) names the errors. On error the optimizer is left as it was.
    ///
    /// # Errors
    /// A tensor that is no moment (`FACTOR.exp_avg` / `FACTOR.exp_avg_sq`), a moment of a factor
    /// the model does not have, of another shape (or rank) than its factor, whose values do not
    /// fill its shape, given twice, or whose partner is missing.
    pub fn restore(
        &mut self,
        model: &CausalLm,
        t: u64,
        tensors: Vec<NamedTensor>,
        path: &Path,
        device: &Device,
    ) -> Result<(), ModelError> {
        let shapes: BTreeMap<String, [usize; 2]> =
            factors(model).into_iter().map(|(name, p)| (name, p.val().dims())).collect();
        let bad = |name: &str, reason: String| ModelError::Tensor { path: path.into(), name: name.into(), reason };
        let mut pairs: BTreeMap<String, [Option<Tensor<2>>; 2]> = BTreeMap::new();
        for (name, dims, values) in tensors {
            let (factor, which) = match (name.strip_suffix(".exp_avg"), name.strip_suffix(".exp_avg_sq")) {
                (Some(f), _) => (f, 0),
                (_, Some(f)) => (f, 1),
                _ => return Err(bad(&name, "not an optimizer moment (FACTOR.exp_avg or FACTOR.exp_avg_sq)".into())),
            };
            let Some(&shape) = shapes.get(factor) else {
                return Err(bad(&name, format!("a moment of {factor}, which is no LoRA factor of this model")));
            };
            if dims != shape {
                return Err(ModelError::Shape { path: path.into(), name, expected: shape.to_vec(), found: dims });
            }
            if values.len() != shape[0] * shape[1] {
                return Err(bad(&name, format!("{} values for shape {shape:?}", values.len())));
            }
            let slot = &mut pairs.entry(factor.to_string()).or_default()[which];
            if slot.is_some() {
                return Err(bad(&name, "given twice".into()));
            }
            *slot = Some(Tensor::<2>::from_data(TensorData::new(values, shape), device));
        }
        let mut moments = BTreeMap::new();
        for (factor, pair) in pairs {
            match pair {
                [Some(m), Some(v)] => {
                    moments.insert(factor, (m, v));
                }
                [Some(_), None] => {
                    return Err(bad(
                        &format!("{factor}.exp_avg"),
                        format!("its partner {factor}.exp_avg_sq is missing"),
                    ));
                }
                [None, _] => {
                    return Err(bad(
                        &format!("{factor}.exp_avg_sq"),
                        format!("its partner {factor}.exp_avg is missing"),
                    ));
                }
            }
        }
        self.t = t;
        self.moments = moments;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{Backend, DeviceConfig, select};
    use crate::model::{LoraConfig, peft};

    fn cpu() -> Device {
        let cfg = DeviceConfig { backend: Backend::Cpu, ..DeviceConfig::default() };
        select(&cfg).expect("cpu").device
    }

    fn model() -> CausalLm {
        let cfg = crate::train::builtin_policy::model_config(32);
        let mut model = CausalLm::random(cfg, 1, &cpu()).expect("model");
        let lora = LoraConfig { rank: 2, target_modules: vec!["q_proj".into(), "v_proj".into()], ..Default::default() };
        peft::attach(&mut model, &lora, 1);
        model
    }

    /// A moment pair per LoRA factor of `model`, with distinct values.
    fn moments(model: &CausalLm) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for (i, (name, p)) in factors(model).into_iter().enumerate() {
            let dims = p.val().dims();
            let n = dims[0] * dims[1];
            for (j, suffix) in ["exp_avg", "exp_avg_sq"].iter().enumerate() {
                let values = (0..n).map(|k| (i * 1000 + j * 100 + k) as f32 * 1e-3).collect();
                out.push((format!("{name}.{suffix}"), dims.to_vec(), values));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn restore_round_trips_and_names_the_file_and_tensor_of_every_problem() {
        let model = model();
        let device = cpu();
        let path = Path::new("/run/checkpoints/step-3/optimizer.safetensors");
        let good = moments(&model);
        assert!(good.len() >= 4);
        let mut optim = AdamW::new(&OptimSection::default());
        optim.restore(&model, 7, good.clone(), path, &device).expect("a state that fits");
        let (t, state) = optim.state().expect("state");
        assert_eq!((t, state), (7, good.clone()), "restored bit for bit");

        let (first, dims, values) = good[0].clone();
        let cases: Vec<(Vec<NamedTensor>, &str)> = vec![
            // Not 2-D (the values still fill the shape).
            (
                {
                    let mut t = good.clone();
                    t[0].1 = vec![1, dims[0], dims[1]];
                    t
                },
                "has shape",
            ),
            (
                {
                    let mut t = good.clone();
                    t[0].1 = vec![dims[0] * dims[1]];
                    t
                },
                "has shape",
            ),
            // 2-D, but not the factor's shape.
            (
                {
                    let mut t = good.clone();
                    t[0].1 = vec![dims[1], dims[0] + 1];
                    t
                },
                "has shape",
            ),
            // Values that do not fill the shape.
            (
                {
                    let mut t = good.clone();
                    t[0].2.pop();
                    t
                },
                "values for shape",
            ),
            // A moment without its partner.
            (good.iter().filter(|t| !t.0.ends_with(".exp_avg_sq")).cloned().collect(), "partner"),
            (good.iter().filter(|t| !t.0.ends_with(".exp_avg")).cloned().collect(), "partner"),
            // A moment of a parameter the model does not have.
            (
                {
                    let mut t = good.clone();
                    t.push(("model.layers.99.mlp.up_proj.lora_A.exp_avg".into(), dims.clone(), values.clone()));
                    t
                },
                "no LoRA factor",
            ),
            // Something that is no moment at all.
            (
                {
                    let mut t = good.clone();
                    t.push((first.replace(".exp_avg", ".momentum"), dims.clone(), values.clone()));
                    t
                },
                "not an optimizer moment",
            ),
            // The same moment twice.
            (
                {
                    let mut t = good.clone();
                    t.push(good[0].clone());
                    t
                },
                "twice",
            ),
        ];
        for (i, (tensors, needle)) in cases.into_iter().enumerate() {
            let mut optim = AdamW::new(&OptimSection::default());
            let err = optim.restore(&model, 9, tensors, path, &device).expect_err("refused").to_string();
            assert!(err.contains(needle) && err.contains(path.to_str().unwrap_or_default()), "case {i}: {err}");
            assert!(err.contains(".lora_") || err.contains(".momentum"), "case {i} names the tensor: {err}");
            assert_eq!(optim.t, 0, "case {i}: unchanged on error");
            assert!(optim.state().expect("state").1.is_empty(), "case {i}: no moments on error");
        }
    }
}
