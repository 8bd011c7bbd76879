//! The memory plan of a run, printed by `awpo train` before any work: an estimate of each term
//! (base weights, LoRA factors with their gradients and AdamW moments, the rollout KV cache,
//! training activations per micro-batch, logit tiles) beside the memory the device has; it
//! decides per-layer recomputation ("auto": when every layer's activations would outweigh the
//! base weights and 512 MiB, or the run would not fit otherwise) and how many micro-batch
//! threads to run (each holds its own activations: threads past the first only while the train
//! phase stays under the rollout phase's peak, or 1 GiB, and within the device), and refuses a
//! run that cannot fit with an error naming the largest term and the knob that shrinks it.
//!
//! The activation model counts what burn's autodiff keeps per decoder layer for backward (norm
//! inputs, projection inputs and LoRA intermediates, RoPE'd heads, attention scores and
//! probabilities `[B, H, T, T]`, the SwiGLU products) in f32; its constants were fitted to peak
//! RSS measured on the CPU backend (`benches/memory.rs`, figures in BENCHMARKS.md).

use std::fmt::Write as _;

use thiserror::Error;

use crate::model::logprob::LOGIT_TILE_BYTES;
use crate::model::recompute::RECOMPUTE_CHUNK_BYTES;
use crate::model::{LoraConfig, ModelConfig, Precision};

/// Fixed cost of the process: code, tokenizer, allocator arenas, thread stacks, burn's runtime.
pub const RUNTIME_BYTES: u64 = 48 << 20;

/// Extra micro-batch threads may always use this much (small models run several at once).
pub const THREADS_FREE_BYTES: u64 = 1 << 30;

/// Share of the available memory a plan may fill.
pub const HEADROOM: f64 = 0.9;

/// What a run's memory depends on.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The decoder.
    pub model: ModelConfig,
    /// The base weights' precision.
    pub precision: Precision,
    /// LoRA rank and targets.
    pub lora: LoraConfig,
    /// Rows decoded at once per rollout part (all P·G on a GPU, a part's on the CPU backend).
    pub rollout_rows: usize,
    /// Rollout parts sampled at once (threads on the CPU backend; 1 on a GPU).
    pub rollout_parts: usize,
    /// Prompts prefilled at once per rollout part.
    pub rollout_prompts: usize,
    /// The longest prompt, tokens.
    pub prompt_tokens: usize,
    /// Most reply tokens of an episode (`max_new_tokens × max_steps ×` user turns).
    pub new_tokens: usize,
    /// Rows per forward/backward (`optim.micro_batch`).
    pub micro_batch: usize,
    /// Most threads running micro-batches (and rollout parts) at once.
    pub threads: usize,
    /// `threads` was chosen by the user (`train.threads`): bounded by the device only, not by
    /// the frugal rule (see [`plan`]).
    pub threads_set: bool,
    /// `train.recompute_layers` (`None` = auto).
    pub recompute: Option<bool>,
    /// The LM head is trained too (the built-in model's full warm-up): its logits stay on the graph.
    pub trains_head: bool,
    /// A KL term: the base model scores each micro-batch too.
    pub kl: bool,
    /// Episodes can have a second message (`rollout.max_steps > 1` or follow-ups, with an
    /// environment): every
    /// rollout part's cache is held until the round ends, not only the running threads'.
    pub held_caches: bool,
}

/// When a term is alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The whole run.
    Always,
    /// While sampling.
    Rollout,
    /// During forward/backward.
    Train,
}

/// One line of the plan.
#[derive(Clone, Debug)]
pub struct Term {
    /// What it is.
    pub name: String,
    /// Estimated bytes.
    pub bytes: u64,
    /// When it is alive.
    pub phase: Phase,
    /// The setting that shrinks it.
    pub knob: &'static str,
}

/// A run's memory plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The terms.
    pub terms: Vec<Term>,
    /// Per-layer recomputation on.
    pub recompute: bool,
    /// Micro-batch threads that fit.
    pub threads: usize,
    /// The device's memory, if known.
    pub available: Option<u64>,
    /// The base weights' precision.
    pub precision: Precision,
}

/// A run that does not fit.
#[derive(Debug, Error)]
#[error(
    "the run needs about {need} MiB but the device has {have} MiB available: the largest term is {term} ({bytes} MiB); reduce `{knob}`"
)]
pub struct DoesNotFit {
    /// Estimated peak, MiB.
    pub need: u64,
    /// Available, MiB.
    pub have: u64,
    /// The largest term.
    pub term: String,
    /// Its size, MiB.
    pub bytes: u64,
    /// The knob.
    pub knob: &'static str,
}

const MIB: u64 = 1 << 20;

/// Parameters of the base, `(in the base precision, in f32)`.
fn base_params(c: &ModelConfig) -> (u64, u64) {
    let (d, i, l) = (c.hidden_size as u64, c.intermediate_size as u64, c.num_hidden_layers as u64);
    let (q, kv) = ((c.num_attention_heads * c.head_dim) as u64, (c.num_key_value_heads * c.head_dim) as u64);
    let vocab = c.vocab_size as u64 * d * if c.tie_word_embeddings { 1 } else { 2 };
    let per_layer = d * q + 2 * d * kv + q * d + 3 * d * i;
    let norms = l * (2 * d + if c.qk_norm { 2 * c.head_dim as u64 } else { 0 }) + d;
    let biases = if c.qkv_bias { l * (q + 2 * kv) } else { 0 };
    (vocab + l * per_layer, norms + biases)
}

/// LoRA parameters, and the summed widths `in + out` of the targets of one layer.
fn lora_params(c: &ModelConfig, lora: &LoraConfig) -> (u64, u64) {
    let (d, i) = (c.hidden_size as u64, c.intermediate_size as u64);
    let (q, kv) = ((c.num_attention_heads * c.head_dim) as u64, (c.num_key_value_heads * c.head_dim) as u64);
    let width = |t: &str| match t {
        "q_proj" => d + q,
        "k_proj" | "v_proj" => d + kv,
        "o_proj" => q + d,
        "gate_proj" | "up_proj" | "down_proj" => d + i,
        _ => 0,
    };
    let widths: u64 = lora.target_modules.iter().map(|t| width(t)).sum();
    (c.num_hidden_layers as u64 * lora.rank as u64 * widths, widths)
}

/// Bytes one decoder layer keeps for backward for `rows` rows of `t` tokens (f32).
fn layer_saved(c: &ModelConfig, lora: &LoraConfig, rows: u64, t: u64) -> u64 {
    let (d, i) = (c.hidden_size as u64, c.intermediate_size as u64);
    let (h, hkv, dh) = (c.num_attention_heads as u64, c.num_key_value_heads as u64, c.head_dim as u64);
    let low = lora.rank as u64 * lora.target_modules.len() as u64;
    let per_token = 8 * d + 4 * i + 5 * h * dh + 4 * hkv * dh + 2 * low;
    4 * rows * t * per_token + 4 * rows * h * t * t * 3
}

/// The plan for `w` on a device with `available` bytes (`None`: unknown, nothing refused).
pub fn plan(w: &Workload, available: Option<u64>) -> Plan {
    let c = &w.model;
    let (half, f32s) = base_params(c);
    let (lora, _) = lora_params(c, &w.lora);
    let (l, d, v) = (c.num_hidden_layers as u64, c.hidden_size as u64, c.vocab_size as u64);
    let (h, hkv, dh) = (c.num_attention_heads as u64, c.num_key_value_heads as u64, c.head_dim as u64);
    let s = (w.prompt_tokens + w.new_tokens).max(1) as u64;
    let (tp, i) = (w.prompt_tokens.max(1) as u64, c.intermediate_size as u64);
    let mb = w.micro_batch.max(1) as u64;
    let weights = half * w.precision.bytes() + 4 * f32s;
    let fixed = vec![
        Term { name: "base weights".into(), bytes: weights, phase: Phase::Always, knob: "model.dtype" },
        Term { name: "LoRA factors".into(), bytes: 4 * lora, phase: Phase::Always, knob: "lora.rank" },
        Term { name: "runtime".into(), bytes: RUNTIME_BYTES, phase: Phase::Always, knob: "train.threads" },
    ];
    let rollout = |threads: u64| {
        let threads = threads.min(w.rollout_parts.max(1) as u64);
        let rows = w.rollout_rows.max(1) as u64;
        let caches = if w.held_caches { w.rollout_parts.max(1) as u64 } else { threads };
        let kv = caches * rows * s * l * 2 * hkv * dh * 4;
        let decode = 4 * rows * s * dh * (2 * h + 2 * hkv) + 8 * rows * v;
        // The prefill runs `PREFILL_CHUNK` prompt columns at a time against up to `tp` keys.
        let c = tp.min(crate::rollout::generate::PREFILL_CHUNK as u64);
        let prefill = 4 * w.rollout_prompts.max(1) as u64 * (3 * h * c * tp + 3 * c * i + 4 * c * d);
        vec![
            Term {
                name: format!("KV cache ({caches} x {rows} rows x {s} tokens)"),
                bytes: kv,
                phase: Phase::Rollout,
                knob: "rollout.max_new_tokens",
            },
            Term {
                name: "prefill/decode buffers".into(),
                bytes: threads * decode.max(prefill),
                phase: Phase::Rollout,
                knob: "rollout.prompts_per_step",
            },
        ]
    };
    let whole = l * layer_saved(c, &w.lora, mb, s);
    let chunk_rows = (RECOMPUTE_CHUNK_BYTES / (4 * (h * s * s + 3 * s * i)).max(1)).clamp(1, mb);
    let recompute = w.recompute.unwrap_or(whole > weights.max(512 * MIB));
    let train = |threads: u64, recompute: bool| {
        let n = mb * s;
        // The head's logits: fused, two `[rows, V]` tiles at a time, or all of them on the graph.
        let rows = (LOGIT_TILE_BYTES / (4 * v).max(1)).clamp(1, mb * s.min(128));
        let head = if w.trains_head { 3 * 4 * n * v } else { 2 * 4 * n * d + 2 * 4 * rows * v };
        // Recomputed: every layer's input, then the larger of the head and one chunk of a layer.
        let (acts, knob) = if recompute {
            (4 * n * d * l + head.max(2 * layer_saved(c, &w.lora, chunk_rows, s)), "optim.micro_batch")
        } else {
            (whole + head, "train.recompute_layers")
        };
        let reference = if w.kl { layer_saved(c, &w.lora, mb, s) / 2 } else { 0 };
        vec![
            Term {
                name: format!(
                    "activations and logits ({threads} x {mb} rows x {s} tokens{})",
                    if recompute { ", recomputed" } else { "" }
                ),
                bytes: threads * (acts + reference),
                phase: Phase::Train,
                knob,
            },
            Term {
                name: "LoRA gradients and AdamW moments".into(),
                bytes: 4 * lora * (2 + threads),
                phase: Phase::Train,
                knob: "lora.rank",
            },
        ]
    };
    let build = |threads: usize, recompute: bool| {
        let t = threads as u64;
        let mut terms = fixed.clone();
        terms.extend(rollout(t));
        terms.extend(train(t, recompute));
        Plan { terms, recompute, threads, available, precision: w.precision }
    };
    // Threads past the first must fit the device and, unless the user set them, cost no more
    // than the run needs anyway: the rollout phase's peak, or 1 GiB for small models.
    let budget = available.map(|a| (a as f64 * HEADROOM) as u64);
    let frugal = build(1, recompute).rollout_peak().max(THREADS_FREE_BYTES);
    let mut threads = w.threads.max(1);
    while threads > 1 && {
        let p = build(threads, recompute);
        (!w.threads_set && p.train_peak() > frugal) || budget.is_some_and(|b| p.peak() > b)
    } {
        threads -= 1;
    }
    let chosen = build(threads, recompute);
    if w.recompute.is_none() && !recompute && budget.is_some_and(|b| chosen.peak() > b) {
        return build(threads, true);
    }
    chosen
}

impl Plan {
    fn phase(&self, phase: Phase) -> u64 {
        self.terms.iter().filter(|t| t.phase == phase).map(|t| t.bytes).sum()
    }

    /// Estimated peak of the rollout phase.
    pub fn rollout_peak(&self) -> u64 {
        self.phase(Phase::Always) + self.phase(Phase::Rollout)
    }

    /// Estimated peak of the train phase.
    pub fn train_peak(&self) -> u64 {
        self.phase(Phase::Always) + self.phase(Phase::Train)
    }

    /// Estimated peak of the run.
    pub fn peak(&self) -> u64 {
        self.rollout_peak().max(self.train_peak())
    }

    /// `Err` when the estimate does not fit the available memory.
    ///
    /// # Errors
    /// [`DoesNotFit`], naming the largest term and its knob.
    pub fn check(&self) -> Result<(), DoesNotFit> {
        let Some(have) = self.available else { return Ok(()) };
        let need = self.peak();
        if need as f64 <= have as f64 * HEADROOM {
            return Ok(());
        }
        let Some(largest) = self.terms.iter().max_by_key(|t| t.bytes) else { return Ok(()) };
        Err(DoesNotFit {
            need: need / MIB,
            have: have / MIB,
            term: largest.name.clone(),
            bytes: largest.bytes / MIB,
            knob: largest.knob,
        })
    }

    /// The plan on one line: each term by phase, the peak beside the available memory, the
    /// choices made.
    pub fn render(&self) -> String {
        let mut out = format!("memory plan ({}): ", self.precision.name());
        for (phase, label) in [(Phase::Always, ""), (Phase::Rollout, "; rollout: "), (Phase::Train, "; train: ")] {
            out.push_str(label);
            let terms: Vec<String> = self
                .terms
                .iter()
                .filter(|t| t.phase == phase)
                .map(|t| format!("{} {:.0} MiB", t.name, t.bytes as f64 / MIB as f64))
                .collect();
            out.push_str(&terms.join(" + "));
        }
        let have =
            self.available.map_or("unknown (set train.memory_limit_mib)".to_string(), |a| format!("{} MiB", a / MIB));
        let _ = write!(
            out,
            "; peak ~{} MiB (rollout {}, train {}), available {have}; recompute layers: {}; threads: {}",
            self.peak() / MIB,
            self.rollout_peak() / MIB,
            self.train_peak() / MIB,
            self.recompute,
            self.threads
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qwen3_4b() -> ModelConfig {
        let mut c = crate::train::builtin_policy::model_config(151_936);
        (c.hidden_size, c.intermediate_size, c.num_hidden_layers) = (2560, 9728, 36);
        (c.num_attention_heads, c.num_key_value_heads, c.head_dim) = (32, 8, 128);
        (c.qk_norm, c.tie_word_embeddings) = (true, true);
        c
    }

    fn workload(model: ModelConfig, precision: Precision) -> Workload {
        Workload {
            model,
            precision,
            lora: LoraConfig::default(),
            rollout_rows: 8,
            rollout_parts: 1,
            rollout_prompts: 1,
            prompt_tokens: 256,
            new_tokens: 64,
            micro_batch: 4,
            threads: 2,
            threads_set: false,
            recompute: None,
            trains_head: false,
            kl: false,
            held_caches: false,
        }
    }

    #[test]
    fn held_caches_count_every_part_and_others_only_the_running_ones() {
        let w = Workload { rollout_parts: 4, threads: 1, ..workload(qwen3_4b(), Precision::Bf16) };
        let kv = |w: &Workload| plan(w, None).terms.iter().find(|t| t.name.starts_with("KV cache")).map(|t| t.bytes);
        let (one, held) = (kv(&w).expect("a KV term"), kv(&Workload { held_caches: true, ..w.clone() }).expect("KV"));
        assert_eq!(held, 4 * one, "four parts' caches live at once");
    }

    #[test]
    fn the_base_weights_of_a_4b_model_halve_in_half_precision() {
        let f32_plan = plan(&workload(qwen3_4b(), Precision::F32), None);
        let half = plan(&workload(qwen3_4b(), Precision::Bf16), None);
        let weights = |p: &Plan| p.terms[0].bytes as f64 / 1e9;
        // Qwen3-4B: 4.02e9 parameters (tied embedding).
        assert!((weights(&f32_plan) - 16.09).abs() < 0.1, "{}", weights(&f32_plan));
        assert!((weights(&half) - 8.05).abs() < 0.1, "{}", weights(&half));
    }

    #[test]
    fn a_run_that_cannot_fit_names_its_largest_term_and_knob() {
        let w = workload(qwen3_4b(), Precision::F32);
        let err = plan(&w, Some(12 << 30)).check().expect_err("16 GB of weights in 12 GB");
        assert_eq!(err.knob, "model.dtype", "{err}");
        assert!(err.to_string().contains("base weights") && err.to_string().contains("model.dtype"), "{err}");
        let half = plan(&workload(qwen3_4b(), Precision::Bf16), Some(12 << 30));
        assert!(half.check().is_ok(), "{}", half.render());
        assert!(half.recompute, "activations of 36 layers exceed the weights: recomputed");
    }

    #[test]
    fn threads_shrink_to_fit_and_recomputation_turns_on_when_needed() {
        let mut small = workload(crate::train::builtin_policy::model_config(500), Precision::F32);
        small.threads = 8;
        let roomy = plan(&small, None);
        assert_eq!(roomy.threads, 8, "a tiny model runs every thread: {}", roomy.render());
        assert!(!roomy.recompute, "a tiny model's activations need no recomputation");
        let per_thread =
            (plan(&Workload { threads: 2, ..small.clone() }, None).train_peak() - roomy_one(&small)) as f64;
        let tight = plan(&small, Some(roomy_one(&small) + (2.5 * per_thread / HEADROOM) as u64));
        assert!(tight.threads > 1 && tight.threads < 8, "{}", tight.render());
        let mut big = workload(qwen3_4b(), Precision::Bf16);
        big.threads = 8;
        let p = plan(&big, None);
        assert_eq!(p.threads, 1, "a second thread would outgrow the rollout phase: {}", p.render());
        assert!(p.recompute);
        big.threads_set = true;
        assert_eq!(plan(&big, None).threads, 8, "threads the user set are bounded by the device only");
    }

    fn roomy_one(w: &Workload) -> u64 {
        plan(&Workload { threads: 1, ..w.clone() }, None).train_peak()
    }
}
