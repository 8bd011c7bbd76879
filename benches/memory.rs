//! Peak memory and time of one RL step's two phases, beside the memory plan's estimate
//! (`train::memory`): rollout of P = 1 prompt (256 tokens) × G = 8 samples of 64 new tokens,
//! then the train phase (the trainer's `policy_gradients` and AdamW step) over those 8 rows at
//! 512 tokens (the 64 sampled tokens after 448 of context), LoRA r = 16 on all seven
//! projections, micro-batches and threads as `awpo train` plans them.
//!
//! ```text
//! cargo bench --profile dev --bench memory -- MODEL DTYPE [micro_batch]
//! ```
//! MODEL: `smollm2` (the real SmolLM2-135M-Instruct GGUF, fetched by
//! `scripts/fetch-assets.sh smollm2`), `qwen3-0.6b`, `qwen3-1.7b`, `qwen3-4b` (random-init shapes
//! with the full 151936-token vocabulary); DTYPE: f32, f16, bf16. `AWPO_BENCH_DEVICE=wgpu`
//! runs on the wgpu adapter. One model per process, so each peak is its own: the peak resident
//! set (`VmHWM`) is reset between phases (`/proc/self/clear_refs`), after freed memory is
//! returned to the system (`malloc_trim`). `AWPO_BENCH_BEFORE=1` trains as before issue 21
//! (every layer's activations and every logits chunk kept for backward, one thread per core);
//! `AWPO_BENCH_THREADS=N` sets the threads; `AWPO_BENCH_SHAPE=G,PROMPT,NEW,ROW` another workload.

use std::time::Instant;

mod common;

use awpo::algo::AlgoConfig;
use awpo::model::{CausalLm, LoraConfig, Precision, peft};
use awpo::rollout::{GenerateOptions, Sampling, generate};
use awpo::train::batch::Row;
use awpo::train::memory::{Workload, plan};
use awpo::train::optim::AdamW;
use awpo::train::step::{LossRows, Plan, policy_gradients};
use burn::module::Module;
use common::{qwen3, smollm2};

unsafe extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

fn status_mib(key: &str) -> f64 {
    common::status_mib(key).unwrap_or(0.0)
}

/// Returns freed heap to the system and restarts the peak at the current resident set.
fn reset_peak() {
    // SAFETY: glibc's malloc_trim only releases free memory; it takes no pointers.
    unsafe {
        malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let name = args.first().map_or("smollm2", String::as_str).to_string();
    let precision = match args.get(1).map_or("f32", String::as_str) {
        "f16" => Precision::F16,
        "bf16" => Precision::Bf16,
        _ => Precision::F32,
    };
    let micro_batch: usize = args.get(2).and_then(|m| m.parse().ok()).unwrap_or(4);
    let unfused = common::env("AWPO_BENCH_BEFORE").is_some();
    let selected = common::device()?;
    let device = selected.device.clone().autodiff();
    // The workload; `AWPO_BENCH_SHAPE=G,PROMPT,NEW,ROW` shrinks it (lavapipe runs of big shapes).
    let shape: Vec<usize> = common::env("AWPO_BENCH_SHAPE")
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_default();
    let (p, g, prompt_len, new, row_len) = match shape.as_slice() {
        &[g, prompt, new, row] if g > 0 && prompt > 0 && new > 0 && row > new => (1usize, g, prompt, new, row),
        _ => (1usize, 8usize, 256usize, 64usize, 512usize),
    };

    // Load.
    reset_peak();
    let before = status_mib("VmRSS:");
    eprintln!("resident before loading: {before:.0} MiB");
    let start = Instant::now();
    let mut model = match name.as_str() {
        "smollm2" => CausalLm::load_as(&smollm2()?, precision, &device)?,
        "qwen3-0.6b" => CausalLm::random_as(qwen3(1024, 3072, 28, 16), 0, precision, &device)?,
        "qwen3-1.7b" => CausalLm::random_as(qwen3(2048, 6144, 28, 16), 0, precision, &device)?,
        "qwen3-4b" => CausalLm::random_as(qwen3(2560, 9728, 36, 32), 0, precision, &device)?,
        other => anyhow::bail!("unknown model {other}: smollm2, qwen3-0.6b, qwen3-1.7b, qwen3-4b"),
    };
    let load_s = start.elapsed().as_secs_f64();
    let weights_mib = model.weight_bytes() as f64 / 1_048_576.0;
    let load_peak = status_mib("VmHWM:") - before;
    let lora = LoraConfig { rank: 16, alpha: 32.0, ..LoraConfig::default() };
    peft::attach(&mut model, &lora, 0);
    let vocab = model.config().vocab_size as u32;

    // The plan `awpo train` would make for this workload.
    let available = awpo::device::memory_available(&device);
    let cores = awpo::train::parallel::threads(
        &device,
        common::env("AWPO_BENCH_THREADS").and_then(|t| t.parse().ok()).unwrap_or(0),
    );
    let workload = |prompt_tokens: usize| Workload {
        model: model.config().clone(),
        precision,
        lora: lora.clone(),
        rollout_rows: p * g,
        rollout_parts: 1,
        rollout_prompts: p,
        prompt_tokens,
        new_tokens: new,
        micro_batch,
        threads: cores,
        threads_set: common::env("AWPO_BENCH_THREADS").is_some(),
        recompute: None,
        trains_head: false,
        kl: false,
        held_caches: false,
    };
    let rollout_plan = plan(&workload(prompt_len), available);
    let train_plan = plan(&workload(row_len - new), available);
    eprintln!("{}", train_plan.render());

    // Rollout: one 256-token prompt, 8 samples of exactly 64 tokens (no stop token).
    reset_peak();
    let prompt: Vec<u32> = (0..prompt_len as u32).map(|i| (i * 7919 + 13) % vocab).collect();
    let opts = GenerateOptions {
        sampling: Sampling { temperature: 1.0, ..Sampling::default() },
        max_new_tokens: new,
        stop_tokens: Vec::new(),
        seed: 1,
        ..GenerateOptions::default()
    };
    let start = Instant::now();
    let snapshot = model.valid();
    let out = generate(&snapshot, std::slice::from_ref(&prompt), g, &opts, None, &mut |_, _| {})?;
    drop(snapshot);
    let rollout_s = start.elapsed().as_secs_f64();
    let rollout_peak = status_mib("VmHWM:");

    // Train: the 8 rows at 512 tokens (448 of context, then the 64 sampled), the trainer's update.
    reset_peak();
    let context: Vec<u32> = (0..(row_len - new) as u32).map(|i| (i * 104_729 + 7) % vocab).collect();
    let responses: Vec<(Vec<u32>, Vec<f64>)> =
        out.samples.iter().map(|s| (s.tokens.clone(), s.logps.clone())).collect();
    let rows: Vec<Row> = responses.iter().map(|(r, v)| Row::single(&context, r, v)).collect();
    let adv: Vec<f32> = (0..rows.len()).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
    let seq_tokens = rows.iter().map(|r| r.response_tokens() as f64).collect();
    let batch = LossRows { rows, adv, seq_tokens, sequences: p * g };
    let algo = AlgoConfig::default();
    // Before issue 21: every layer's activations and every chunk's logits on the graph, one
    // micro-batch thread per core.
    let (recompute, fused, threads) = if unfused {
        (awpo::model::recompute::Backprop::Whole, false, cores)
    } else {
        (awpo::model::recompute::Backprop::recompute(train_plan.recompute), true, train_plan.threads)
    };
    let step = Plan { algo: &algo, micro_batch, threads, seed: 1, recompute, fused };
    let mut optim = AdamW::new(&awpo::config::OptimSection::default());
    let start = Instant::now();
    let reference = model.valid();
    let (grads, summary) = policy_gradients(&model, (&reference, awpo::model::Adapter::Off), &batch, step)?;
    drop(reference);
    let (model, stats) = optim.step(model, &grads, 1e-5)?;
    let train_s = start.elapsed().as_secs_f64();
    let train_peak = status_mib("VmHWM:");
    drop(model);
    anyhow::ensure!(summary.loss.is_finite() && stats.grad_norm.is_finite() && stats.grad_norm > 0.0, "a dead step");

    let pool =
        device.memory_pool_usage().map_or("n/a".into(), |u| format!("{:.0}", u.bytes_reserved as f64 / 1048576.0));
    let est = |b: u64| b as f64 / 1_048_576.0;
    println!(
        "| model | dtype | device | weights MiB | load peak MiB (x weights) | rollout s | rollout peak MiB (plan) | train s | train peak MiB (plan) | micro-batch x threads | recompute | device pool MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {name} | {} | {} | {weights_mib:.0} | {load_peak:.0} ({:.2}) | {rollout_s:.1} | {rollout_peak:.0} ({:.0}) | {train_s:.1} | {train_peak:.0} ({:.0}) | {micro_batch} x {} | {} | {pool} |",
        precision.name(),
        selected.description,
        load_peak / weights_mib,
        est(rollout_plan.rollout_peak()),
        est(train_plan.train_peak()),
        threads,
        if unfused { "before: none, unfused".to_string() } else { train_plan.recompute.to_string() },
    );
    println!(
        "P {p} x G {g}, prompt {prompt_len}, {new} new tokens, train rows of {row_len}; load {load_s:.1} s; loss {:.4}, grad norm {:.4}",
        summary.loss, stats.grad_norm
    );
    Ok(())
}
