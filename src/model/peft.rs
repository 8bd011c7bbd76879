//! LoRA adapters in PEFT's format: `adapter_config.json` + `adapter_model.safetensors` with
//! PEFT's key names (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` `[r, in]`,
//! `….lora_B.weight` `[out, r]`), so adapters trained here load in Python's `peft` and back.

use std::path::Path;

use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::causal_lm::CausalLm;
use super::error::ModelError;
use super::weights::{Weights, save};

/// The projections LoRA can target, by their HF names.
pub fn targets() -> impl Iterator<Item = &'static str> {
    super::causal_lm::PROJECTIONS.iter().map(|(_, name)| *name)
}

/// `[lora]`: rank, scaling and where adapters go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank `r`.
    pub rank: usize,
    /// `alpha`; the update is scaled by `alpha / r`.
    pub alpha: f64,
    /// Dropout on the adapter's input while training (0 = off), in [0, 1).
    pub dropout: f64,
    /// Projections that get adapters (HF names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).
    pub target_modules: Vec<String>,
    /// rsLoRA: scale the update by `alpha / √r` instead of `alpha / r` (PEFT's `use_rslora`).
    pub use_rslora: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 16,
            alpha: 32.0,
            dropout: 0.0,
            target_modules: targets().map(str::to_string).collect(),
            use_rslora: false,
        }
    }
}

impl LoraConfig {
    /// The factor of the update `(x·A)·B`: `alpha / r`, or `alpha / √r` with rsLoRA.
    pub fn scale(&self) -> f64 {
        if self.use_rslora { self.alpha / (self.rank as f64).sqrt() } else { self.alpha / self.rank as f64 }
    }

    /// Every invalid key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.rank == 0 {
            out.push(("lora.rank", "0 is invalid: must be >= 1".to_string()));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            out.push(("lora.alpha", format!("{:?} is invalid: must be > 0", self.alpha)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            out.push(("lora.dropout", format!("{:?} is invalid: must be in [0, 1)", self.dropout)));
        }
        if let Some(bad) = self.target_modules.iter().find(|t| !targets().any(|k| k == t.as_str())) {
            out.push((
                "lora.target_modules",
                format!("{bad:?} is not one of {}", targets().collect::<Vec<_>>().join(", ")),
            ));
        }
        if self.target_modules.is_empty() {
            out.push(("lora.target_modules", "empty: name at least one projection".to_string()));
        }
        out
    }
}

/// An adapter's settings: ours, and, for an adapter loaded from disk, the whole
/// `adapter_config.json` it came with (written back as it was, so PEFT's other keys survive a
/// load → train → save round trip).
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterConfig {
    /// Rank, alpha, dropout, targets, rsLoRA.
    pub lora: LoraConfig,
    /// The loaded `adapter_config.json`, when there was one.
    pub file: Option<serde_json::Map<String, Value>>,
}

impl From<LoraConfig> for AdapterConfig {
    fn from(lora: LoraConfig) -> Self {
        AdapterConfig { lora, file: None }
    }
}

/// PEFT's key of a module of the base model.
fn peft_key(module: &str, factor: &str) -> String {
    format!("base_model.model.{module}.lora_{factor}.weight")
}

/// Attaches fresh adapters as PEFT initialises them: `A` Kaiming-uniform (bound `1/√in`),
/// `B` zero, so the model starts equal to the base.
pub fn attach(model: &mut CausalLm, cfg: &LoraConfig, seed: u64) {
    let device = model.device();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let scale = cfg.scale();
    for (name, layer) in model.linear_layers_mut() {
        if !cfg.target_modules.iter().any(|t| name.ends_with(&format!(".{t}"))) {
            continue;
        }
        let [d_in, d_out] = layer.dims();
        let bound = 1.0 / (d_in as f32).sqrt();
        let a: Vec<f32> = (0..d_in * cfg.rank).map(|_| rng.random_range(-bound..bound)).collect();
        layer.attach(&name, a, vec![0.0; cfg.rank * d_out], cfg.rank, scale, cfg.dropout, &device);
    }
}

#[derive(Deserialize)]
struct AdapterFile {
    r: usize,
    lora_alpha: f64,
    target_modules: Value,
    #[serde(default)]
    lora_dropout: f64,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
    #[serde(default)]
    fan_in_fan_out: bool,
    peft_type: Option<String>,
    #[serde(default)]
    rank_pattern: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    alpha_pattern: Option<serde_json::Map<String, Value>>,
}

/// Loads a PEFT LoRA adapter directory into `model`; returns its configuration.
///
/// # Errors
/// Missing files or tensors, shapes that do not fit the model, PEFT options not implemented
/// (DoRA, fan_in_fan_out, per-module rank or alpha patterns, non-LoRA adapters).
pub fn load(model: &mut CausalLm, dir: &Path) -> Result<AdapterConfig, ModelError> {
    let path = dir.join("adapter_config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Read { path: path.clone(), source })?;
    let bad = |field: &str, reason: String| ModelError::Json { path: path.clone(), field: field.into(), reason };
    let raw: serde_json::Map<String, Value> = serde_json::from_str(&text).map_err(|e| bad("(file)", e.to_string()))?;
    let file: AdapterFile =
        serde_json::from_value(Value::Object(raw.clone())).map_err(|e| bad("(file)", e.to_string()))?;
    let unsupported = |what: &str| ModelError::Unsupported { path: path.clone(), what: what.into() };
    if file.peft_type.as_deref().is_some_and(|t| t != "LORA") {
        return Err(unsupported("a non-LoRA PEFT adapter"));
    }
    if file.use_dora || file.fan_in_fan_out {
        return Err(unsupported("DoRA / fan_in_fan_out"));
    }
    if [&file.rank_pattern, &file.alpha_pattern].iter().any(|p| p.as_ref().is_some_and(|m| !m.is_empty())) {
        return Err(unsupported("per-module rank_pattern / alpha_pattern"));
    }
    if file.r == 0 {
        return Err(bad("r", "must be >= 1".into()));
    }
    if !(0.0..1.0).contains(&file.lora_dropout) {
        return Err(bad("lora_dropout", format!("{} must be in [0, 1)", file.lora_dropout)));
    }
    let targets: Vec<String> = match &file.target_modules {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => return Err(bad("target_modules", "expected a list of module names".into())),
    };
    let weights = Weights::open(dir, "adapter_model.safetensors")?;
    if !(file.lora_alpha.is_finite() && file.lora_alpha > 0.0) {
        return Err(bad("lora_alpha", format!("{} must be > 0", file.lora_alpha)));
    }
    let config = LoraConfig {
        rank: file.r,
        alpha: file.lora_alpha,
        dropout: file.lora_dropout,
        target_modules: targets,
        use_rslora: file.use_rslora,
    };
    let scale = config.scale();
    let device: Device = model.device();
    let r = file.r;
    let mut attached = 0;
    let mut used = std::collections::HashSet::new();
    for (name, layer) in model.linear_layers_mut() {
        if !weights.contains(&peft_key(&name, "A")) {
            continue;
        }
        used.extend([peft_key(&name, "A"), peft_key(&name, "B")]);
        let [d_in, d_out] = layer.dims();
        let a = super::layers::transpose(weights.get(&peft_key(&name, "A"), &[r, d_in])?, r, d_in);
        let b = super::layers::transpose(weights.get(&peft_key(&name, "B"), &[d_out, r])?, d_out, r);
        layer.attach(&name, a, b, r, scale, file.lora_dropout, &device);
        attached += 1;
    }
    let mut unused: Vec<&str> = weights.names().filter(|n| !used.contains(*n)).collect();
    unused.sort_unstable();
    if let Some(first) = unused.first() {
        let what =
            format!("adapter tensor {first} (and {} more) matching no projection of this model", unused.len() - 1);
        return Err(ModelError::Unsupported { path: dir.join("adapter_model.safetensors"), what });
    }
    if attached == 0 {
        return Err(ModelError::MissingTensor {
            dir: dir.into(),
            name: "any lora_A / lora_B pair of this model's layers".into(),
            files: "adapter_model.safetensors".into(),
        });
    }
    Ok(AdapterConfig { lora: config, file: Some(raw) })
}

/// PEFT's `adapter_config.json` for a fresh adapter of `cfg` on `base`.
fn fresh_config(cfg: &LoraConfig, base: &str) -> Value {
    // PEFT writes an integral alpha as an int.
    let alpha =
        if cfg.alpha.fract() == 0.0 && cfg.alpha.abs() < 1e15 { json!(cfg.alpha as i64) } else { json!(cfg.alpha) };
    json!({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base,
        "r": cfg.rank, "lora_alpha": alpha, "lora_dropout": cfg.dropout, "target_modules": cfg.target_modules,
        "bias": "none", "fan_in_fan_out": false, "use_rslora": cfg.use_rslora, "use_dora": false,
        "inference_mode": true, "modules_to_save": null,
    })
}

/// Writes the model's adapters to `dir` in PEFT format (into a temporary sibling directory,
/// renamed into place, so an interrupted save leaves the previous adapter intact). An adapter
/// loaded from disk keeps its `adapter_config.json` as it was; a fresh one gets PEFT's keys
/// from `cfg.lora` with `base` as its base model.
///
/// # Errors
/// The model has no adapters; files cannot be written.
pub fn save_adapter(model: &CausalLm, cfg: &AdapterConfig, base: &str, dir: &Path) -> Result<(), ModelError> {
    let write = |path: &Path, reason: String| ModelError::Write { path: path.into(), reason };
    let mut tensors = Vec::new();
    for (name, layer) in model.linear_layers() {
        if let Some([(sa, a), (sb, b)]) = layer.lora_tensors()? {
            tensors.push((peft_key(&name, "A"), sa, a));
            tensors.push((peft_key(&name, "B"), sb, b));
        }
    }
    if tensors.is_empty() {
        return Err(write(dir, "the model has no LoRA adapters".into()));
    }
    let tmp = dir.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| write(&tmp, e.to_string()))?;
    let config = match &cfg.file {
        Some(file) => Value::Object(file.clone()),
        None => fresh_config(&cfg.lora, base),
    };
    let text = serde_json::to_string_pretty(&config).map_err(|e| write(&tmp, e.to_string()))?;
    std::fs::write(tmp.join("adapter_config.json"), text).map_err(|e| write(&tmp, e.to_string()))?;
    save(&tmp.join("adapter_model.safetensors"), &tensors)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| write(dir, e.to_string()))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| write(dir, e.to_string()))
}

/// Writes a merged HF checkpoint: every tensor of `base_dir` as f32, adapted projections
/// replaced by `W + (alpha/r)·A·B`; `config.json` and tokenizer files copied.
///
/// # Errors
/// Unreadable base, unwritable output.
pub fn merge(model: &CausalLm, base_dir: &Path, out: &Path) -> Result<(), ModelError> {
    let write = |path: &Path, reason: String| ModelError::Write { path: path.into(), reason };
    let base = Weights::open(base_dir, "model.safetensors")?;
    let merged: std::collections::HashMap<String, (usize, usize, Vec<f32>)> = model
        .linear_layers()
        .into_iter()
        .filter(|(_, l)| l.lora.is_some())
        .map(|(name, l)| {
            let [d_in, d_out] = l.dims();
            Ok((format!("{name}.weight"), (d_in, d_out, l.merged()?)))
        })
        .collect::<Result<_, ModelError>>()?;
    let mut tensors = Vec::new();
    let mut names: Vec<String> = base.names().map(str::to_string).collect();
    names.sort();
    for name in names {
        let (shape, values) = match merged.get(&name) {
            Some((d_in, d_out, values)) => {
                (vec![*d_out, *d_in], super::layers::transpose(values.clone(), *d_in, *d_out))
            }
            None => {
                let shape = base.shape(&name).unwrap_or_default();
                let values = base.get(&name, &shape)?;
                (shape, values)
            }
        };
        tensors.push((name, shape, values));
    }
    std::fs::create_dir_all(out).map_err(|e| write(out, e.to_string()))?;
    save(&out.join("model.safetensors"), &tensors)?;
    for file in
        ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
    {
        let from = base_dir.join(file);
        if from.exists() {
            std::fs::copy(&from, out.join(file)).map_err(|e| write(&out.join(file), e.to_string()))?;
        }
    }
    Ok(())
}
