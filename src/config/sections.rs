//! The trainer's configuration sections: `[model]`, `[data]`, `[rollout]`, `[optim]`, `[train]`.
//! Every key has a default; the defaults are the built-in run (a tiny model and generated tasks
//! that ship with the crate).

use serde::{Deserialize, Serialize};

use crate::model::BaseDtype;

use crate::rollout::Sampling;

/// `[model]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelSection {
    /// A Hugging Face directory or `.gguf` file; "builtin" is the tiny model that ships with
    /// awpo (warm-started by `train.sft_steps` of supervised training on demonstrations).
    pub path: String,
    /// A PEFT adapter to start from ("" = a fresh one from `[lora]`).
    pub adapter: String,
    /// Precision of the frozen base weights: "auto" (bf16 where the device computes it, else
    /// f16 where the wgpu adapter has SHADER_F16, f32 on the CPU backend), "f32", "f16" or
    /// "bf16". LoRA factors, their optimiser state, norms, logits and the loss stay f32. The
    /// built-in model trains every weight in its warm-up and is always f32.
    pub dtype: BaseDtype,
}

impl Default for ModelSection {
    fn default() -> Self {
        ModelSection { path: "builtin".into(), adapter: String::new(), dtype: BaseDtype::Auto }
    }
}

/// `[data]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataSection {
    /// Training tasks: a JSONL task file, "builtin" (the nine built-in tools' tasks) or "synth"
    /// (the generated corpus of `awpo data synth`, from `seed`).
    pub train: String,
    /// Held-out tasks for evaluation: a file, "builtin" or "synth" (the corpus's held-out split,
    /// on other functions), or "" for none.
    pub held_out: String,
    /// Generated training tasks ("builtin" or "synth").
    pub builtin_train: usize,
    /// Generated held-out tasks ("builtin" or "synth").
    pub builtin_held_out: usize,
    /// Tools listed in each generated task's prompt: its own, then others drawn at random, up to
    /// this many (0 = all nine). Fewer make shorter prompts, which a real model trains on several
    /// times faster on a CPU.
    pub builtin_tools: usize,
    /// Categories of the generated training tasks (`train = "synth"`), taken in turn; a
    /// category listed twice is drawn twice as often (`["simple", "multiple", "parallel",
    /// "parallel_multiple", "irrelevance", "irrelevance"]`: a third declines). Empty: all five.
    /// `multi_turn` adds conversations on the built-in tools (`synth::multi_turn`). The
    /// held-out split takes all five in turn, and `multi_turn` after them when training has it.
    pub synth_categories: Vec<crate::corpus::Category>,
    /// Skip malformed task lines (counted and reported) instead of stopping at the first.
    pub skip_bad_lines: bool,
}

impl Default for DataSection {
    fn default() -> Self {
        DataSection {
            train: "builtin".into(),
            held_out: "builtin".into(),
            builtin_train: 2000,
            builtin_held_out: 200,
            builtin_tools: 0,
            synth_categories: Vec::new(),
            skip_bad_lines: false,
        }
    }
}

/// `[rollout]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutSection {
    /// Prompts per step (P).
    pub prompts_per_step: usize,
    /// Samples per prompt (G).
    pub group_size: usize,
    /// Most new tokens per sample.
    pub max_new_tokens: usize,
    /// Sampling temperature (0 = greedy).
    pub temperature: f64,
    /// Keep the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Nucleus mass (1 = all).
    pub top_p: f64,
    /// Where the model's calls run during an episode.
    pub environment: EnvMode,
    /// Most assistant messages per user turn: a message with calls gets the tools' results back
    /// and the model answers again, up to this many messages (1 = a single message); a message
    /// without calls ends the turn, and a multi-turn task's next follow-up starts another.
    pub max_steps: usize,
    /// `environment = "process"`: the program serving the JSON-lines protocol
    /// (`env::protocol`) and its arguments (`["python3", "my_env.py"]`); one process per episode.
    pub env_command: Vec<String>,
    /// `environment = "process"`: the longest wait for one answer, seconds.
    pub env_timeout_s: f64,
}

/// `rollout.environment`: what answers the model's tool calls in training episodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvMode {
    /// The built-in tools (`env::builtin`) for a task whose tools are all built in; otherwise a
    /// single assistant message.
    #[default]
    Auto,
    /// The built-in tools for every task (a call to any other tool gets an `error: unknown tool`).
    Builtin,
    /// No environment: one assistant message per episode, scored as it is.
    None,
    /// A program speaking the JSON-lines protocol (`rollout.env_command`) for every task: it
    /// answers the calls and sends the follow-ups, and its own reward at the end, when it sends
    /// one, replaces the checker's outcome.
    Process,
}

impl Default for RolloutSection {
    fn default() -> Self {
        RolloutSection {
            prompts_per_step: 8,
            group_size: 8,
            max_new_tokens: 256,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            environment: EnvMode::Auto,
            max_steps: 2,
            env_command: Vec::new(),
            env_timeout_s: 30.0,
        }
    }
}

impl RolloutSection {
    /// The environment program of `environment = "process"` (`None` otherwise, or without a
    /// command).
    pub fn process(&self) -> Option<crate::env::process::ProcessConfig> {
        let (program, args) = self.env_command.split_first()?;
        (self.environment == EnvMode::Process).then(|| crate::env::process::ProcessConfig {
            program: program.into(),
            args: args.to_vec(),
            timeout: std::time::Duration::from_secs_f64(self.env_timeout_s.clamp(0.001, 1e6)),
        })
    }

    /// The sampler settings.
    pub fn sampling(&self) -> Sampling {
        Sampling { temperature: self.temperature, top_k: self.top_k, top_p: self.top_p }
    }
}

/// The learning-rate schedule after warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// Cosine decay to `min_lr_ratio · lr`.
    #[default]
    Cosine,
    /// Linear decay to `min_lr_ratio · lr`.
    Linear,
    /// Constant.
    Constant,
}

/// `[optim]`: AdamW on the LoRA parameters, PyTorch's defaults written out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimSection {
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW β1.
    pub beta1: f64,
    /// AdamW β2.
    pub beta2: f64,
    /// AdamW ε.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 = off).
    pub max_grad_norm: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// After warm-up: cosine | linear | constant.
    pub schedule: Schedule,
    /// The schedule's floor, as a fraction of `lr`.
    pub min_lr_ratio: f64,
    /// Rollouts per forward/backward pass (gradients accumulate over the step's batch).
    pub micro_batch: usize,
}

impl Default for OptimSection {
    fn default() -> Self {
        OptimSection {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
            warmup_steps: 3,
            schedule: Schedule::Cosine,
            min_lr_ratio: 0.1,
            micro_batch: 4,
        }
    }
}

impl OptimSection {
    /// The learning rate of optimizer step `step` (0-based) of `total`.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = total.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        let floor = self.lr * self.min_lr_ratio;
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Linear => floor + (self.lr - floor) * (1.0 - progress),
            Schedule::Cosine => floor + (self.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

/// `[train]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSection {
    /// RL steps.
    pub steps: usize,
    /// Where the run writes (checkpoints, metrics.jsonl, transcripts, config).
    pub run_dir: String,
    /// Checkpoint every N steps (and at the end).
    pub save_every: usize,
    /// Held-out evaluation every N steps (and before the first and after the last); 0 = only those.
    pub eval_every: usize,
    /// Write a few full transcripts every N steps (0 = never).
    pub transcripts_every: usize,
    /// Policy updates per batch of rollouts (>1 reuses them with the clipped ratio).
    pub num_iterations: usize,
    /// Built-in model: supervised warm-up steps on demonstrations before RL.
    pub sft_steps: usize,
    /// Supervised batch size (both warm-ups: the built-in model's and the adapter's).
    pub sft_batch: usize,
    /// Supervised rows per forward/backward, both warm-ups (a batch's micro-batches run on
    /// separate threads on the CPU backend); 0 = one row on the CPU backend (no padding), the
    /// whole batch on a GPU.
    pub sft_micro_batch: usize,
    /// Built-in model: supervised learning rate.
    pub sft_lr: f64,
    /// Both warm-ups: the probability, each time the warm-up draws a task, of the careless
    /// teacher's demonstration (`synth::teacher_reply`: it calls `convert_units` by a name
    /// that does not exist), so that RL has a mistake to fix that imitation learned; 0 = a
    /// perfect teacher.
    pub sft_mistake_rate: f64,
    /// Any model: supervised warm-up steps of the LoRA adapter on demonstrations of the training
    /// tasks before RL (0 = none). For a model that never answers in the `<tool_call>` format
    /// (SmolLM2-135M), so that RL has rewards to tell apart. Saved as `RUN_DIR/sft-adapter`; the
    /// held-out accuracy before it is recorded as `base` in `evals.json`.
    pub adapter_sft_steps: usize,
    /// Learning rate of the adapter's warm-up.
    pub adapter_sft_lr: f64,
    /// Training tasks kept for the adapter's warm-up: the first this many demonstrate, and RL
    /// draws only from the rest (0 = both use every training task).
    pub adapter_sft_tasks: usize,
    /// CPU backend: threads that run micro-batches at once (0 = one per core while the memory
    /// plan finds the extra activations cheap: under the rollout phase's peak or 1 GiB; a number
    /// is bounded by the device's memory only). The result does not depend on it: gradients are
    /// summed in micro-batch order.
    pub threads: usize,
    /// Per-layer recomputation: each decoder layer keeps only its input for backward and runs
    /// its forward again during backward (one more forward pass; activation memory of one layer
    /// instead of all): `true`, `false`, or "auto" (on when the memory plan needs it).
    pub recompute_layers: Toggle,
    /// The memory the run may use, MiB (0 = what the machine has available: system memory on
    /// the CPU backend and software adapters; a GPU's own memory cannot be queried through
    /// wgpu, so set it there to have the plan enforced).
    pub memory_limit_mib: u64,
}

impl Default for TrainSection {
    fn default() -> Self {
        TrainSection {
            steps: 30,
            run_dir: "runs/awpo".into(),
            save_every: 10,
            eval_every: 0,
            transcripts_every: 10,
            num_iterations: 1,
            sft_steps: 1200,
            sft_batch: 16,
            sft_micro_batch: 0,
            sft_lr: 5e-3,
            sft_mistake_rate: 0.75,
            adapter_sft_steps: 0,
            adapter_sft_lr: 1e-3,
            adapter_sft_tasks: 0,
            threads: 0,
            recompute_layers: Toggle::Auto(Auto::Auto),
            memory_limit_mib: 0,
        }
    }
}

/// A switch that is `true`, `false` or "auto" (decided at run time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Toggle {
    /// Set by the user.
    Set(bool),
    /// "auto".
    Auto(Auto),
}

/// The word "auto".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auto {
    /// "auto".
    Auto,
}

impl Toggle {
    /// The user's choice, `None` for "auto".
    pub fn get(self) -> Option<bool> {
        match self {
            Toggle::Set(b) => Some(b),
            Toggle::Auto(_) => None,
        }
    }
}

/// Every invalid key of the trainer's sections.
pub fn problems(rollout: &RolloutSection, optim: &OptimSection, train: &TrainSection) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = rollout.sampling().problems();
    if rollout.environment == EnvMode::Process && rollout.env_command.is_empty() {
        out.push(("rollout.env_command", "environment = \"process\" needs the program to run".into()));
    }
    if !(rollout.env_timeout_s.is_finite() && rollout.env_timeout_s > 0.0) {
        out.push((
            "rollout.env_timeout_s",
            format!("must be a positive number of seconds, not {}", rollout.env_timeout_s),
        ));
    }
    let positive = [
        ("rollout.prompts_per_step", rollout.prompts_per_step),
        ("rollout.group_size", rollout.group_size),
        ("rollout.max_new_tokens", rollout.max_new_tokens),
        ("rollout.max_steps", rollout.max_steps),
        ("optim.micro_batch", optim.micro_batch),
        ("train.num_iterations", train.num_iterations),
        ("train.save_every", train.save_every),
        ("train.sft_batch", train.sft_batch),
    ];
    for (key, v) in positive {
        if v == 0 {
            out.push((key, "must be at least 1".into()));
        }
    }
    let rates = [
        ("optim.lr", optim.lr),
        ("optim.eps", optim.eps),
        ("train.sft_lr", train.sft_lr),
        ("train.adapter_sft_lr", train.adapter_sft_lr),
    ];
    for (key, v) in rates {
        if !(v.is_finite() && v > 0.0) {
            out.push((key, format!("{v:?} is invalid: must be > 0")));
        }
    }
    for (key, v) in
        [("optim.beta1", optim.beta1), ("optim.beta2", optim.beta2), ("optim.min_lr_ratio", optim.min_lr_ratio)]
    {
        let floor_of_one = key == "optim.min_lr_ratio" && v == 1.0;
        if !((0.0..1.0).contains(&v) || floor_of_one) {
            out.push((key, format!("{v:?} is invalid: must be in [0, 1)")));
        }
    }
    for (key, v) in [("optim.weight_decay", optim.weight_decay), ("optim.max_grad_norm", optim.max_grad_norm)] {
        if !(v.is_finite() && v >= 0.0) {
            out.push((key, format!("{v:?} is invalid: must be >= 0 (and finite)")));
        }
    }
    if !(0.0..=1.0).contains(&train.sft_mistake_rate) {
        out.push(("train.sft_mistake_rate", format!("{:?} is invalid: must be in [0, 1]", train.sft_mistake_rate)));
    }
    if train.run_dir.trim().is_empty() {
        out.push(("train.run_dir", "must name a directory".into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let o = OptimSection { lr: 1.0, warmup_steps: 2, min_lr_ratio: 0.1, ..OptimSection::default() };
        assert_eq!((o.lr_at(0, 12), o.lr_at(1, 12), o.lr_at(2, 12)), (0.5, 1.0, 1.0));
        assert!((o.lr_at(12, 12) - 0.1).abs() < 1e-12 && (o.lr_at(7, 12) - 0.55).abs() < 1e-12);
        let lin = OptimSection { schedule: Schedule::Linear, ..o.clone() };
        assert!((lin.lr_at(7, 12) - 0.55).abs() < 1e-12);
        assert_eq!(OptimSection { schedule: Schedule::Constant, ..o }.lr_at(9, 12), 1.0);
    }

    #[test]
    fn non_finite_and_negative_optimizer_values_name_their_own_key() {
        let keys = |optim: OptimSection| -> Vec<&'static str> {
            problems(&RolloutSection::default(), &optim, &TrainSection::default()).into_iter().map(|(k, _)| k).collect()
        };
        let base = OptimSection::default();
        assert!(keys(base.clone()).is_empty());
        assert_eq!(keys(OptimSection { max_grad_norm: f64::NAN, ..base.clone() }), ["optim.max_grad_norm"]);
        assert_eq!(keys(OptimSection { max_grad_norm: -1.0, ..base.clone() }), ["optim.max_grad_norm"]);
        assert_eq!(keys(OptimSection { weight_decay: f64::INFINITY, ..base.clone() }), ["optim.weight_decay"]);
        assert_eq!(
            keys(OptimSection { lr: f64::NAN, weight_decay: f64::NAN, ..base }),
            ["optim.lr", "optim.weight_decay"]
        );
    }
}
