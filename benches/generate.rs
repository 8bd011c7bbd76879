//! Batched generation speed through the rollout decode loop (`rollout::generate`): `B` prompts of
//! `PROMPT` tokens, one sample each, greedy, exactly `NEW` new tokens (no stop token), as
//! `scripts/bench-generate-torch.py` runs PyTorch + transformers' `generate` on the same work.
//! Models: SmolLM2-135M-Instruct (its GGUF, fetched by `scripts/fetch-assets.sh smollm2`), a
//! random-init Qwen3-0.6B shape and a Qwen2.5-0.5B shape.
//!
//! `cargo bench --profile dev --bench generate` (CPU backend); `AWPO_BENCH_DEVICE=wgpu` for the
//! wgpu adapter (lavapipe here); `AWPO_BENCH_VOCAB=N` shrinks the Qwen vocabularies;
//! `AWPO_BENCH_MODELS=smollm2,qwen3-0.6b,qwen2.5-0.5b`, `AWPO_BENCH_BATCHES=1,16,64`,
//! `AWPO_BENCH_PROMPT=64` and `AWPO_BENCH_NEW=128` pick the work; `AWPO_BENCH_RUNS=2` runs each
//! shape that many times and reports the fastest (the first compiles kernels, grows the
//! allocator). Figures: generated tokens/s over the whole call (prefill included), decode
//! steps, and host reads per decode step.
//!
//! `AWPO_BENCH_TURNS=N` (N > 1) times conversations instead: each of `B` rows takes `N` turns of
//! `NEW` greedy tokens, turn `k + 1`'s prompt being turn `k`'s prompt, its reply and
//! `AWPO_BENCH_TOOL=32` more ids (a tool's result and the template around it); every turn is
//! run from a fresh prefill of the whole conversation (as before issue 22's item 3) and from the
//! previous turn's held caches (`rollout::generate_held`), alternately, and the ratio printed.

use std::time::Instant;

mod common;

use awpo::model::CausalLm;
use awpo::rollout::{GenerateOptions, Held, Sampling, generate, generate_held};
use common::{env, peak_rss_mib, qwen3, qwen25_05b, smollm2};

/// `b` deterministic prompts of `len` ids.
fn prompts(v: usize, b: usize, len: usize) -> Vec<Vec<u32>> {
    (0..b).map(|r| (0..len).map(|i| (((r * len + i) * 7919 + 13) % v) as u32).collect()).collect()
}

/// Greedy, exactly `new` tokens, no adapter.
fn greedy(new: usize) -> GenerateOptions {
    GenerateOptions {
        sampling: Sampling { temperature: 0.0, ..Sampling::default() },
        max_new_tokens: new,
        adapter: false,
        ..GenerateOptions::default()
    }
}

/// Seconds of `turns` turns of `b` conversations (see the header), from held caches or from
/// fresh prefills, and the prompt tokens prefilled.
fn conversation(model: &CausalLm, b: usize, shape: [usize; 4], held: bool) -> anyhow::Result<(f64, usize)> {
    let [prompt, new, turns, tool] = shape;
    let v = model.config().vocab_size;
    let mut rows = prompts(v, b, prompt);
    let mut kept: Option<Held> = None;
    let (mut prefilled, begin) = (0, Instant::now());
    for turn in 0..turns {
        let out = if held {
            let (out, next) = generate_held(model, &rows, 1, &greedy(new), None, 0, kept.take())?;
            kept = next;
            out
        } else {
            generate(model, &rows, 1, &greedy(new), None, &mut |_, _| {})?
        };
        prefilled += out.stats.prefill_tokens;
        for (r, (row, s)) in rows.iter_mut().zip(&out.samples).enumerate() {
            row.extend(&s.tokens);
            row.extend((0..tool).map(|i| (((turn * 31 + r) * tool + i) * 104_729 % v) as u32));
        }
    }
    Ok((begin.elapsed().as_secs_f64(), prefilled))
}

/// Seconds of one `generate` call and its decode steps.
fn run(model: &CausalLm, b: usize, prompt: usize, new: usize) -> anyhow::Result<(f64, usize)> {
    let prompts = prompts(model.config().vocab_size, b, prompt);
    let opts = greedy(new);
    let begin = Instant::now();
    let out = generate(model, &prompts, 1, &opts, None, &mut |_, _| {})?;
    let seconds = begin.elapsed().as_secs_f64();
    anyhow::ensure!(out.samples.iter().all(|s| s.tokens.len() == new), "a row stopped early");
    Ok((seconds, out.stats.decode_steps))
}

fn main() -> anyhow::Result<()> {
    let selected = common::device()?;
    let device = selected.device.clone();
    let num = |name: &str, default: usize| env(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (prompt, new, runs) = (num("AWPO_BENCH_PROMPT", 64), num("AWPO_BENCH_NEW", 128), num("AWPO_BENCH_RUNS", 2));
    let batches: Vec<usize> = env("AWPO_BENCH_BATCHES")
        .unwrap_or_else(|| "1,16,64".into())
        .split(',')
        .filter_map(|b| b.trim().parse().ok())
        .collect();
    println!(
        "device: {}; {prompt} prompt tokens per row, {new} new tokens, greedy; best of {runs}",
        selected.description
    );
    let turns = num("AWPO_BENCH_TURNS", 1);
    if turns > 1 {
        println!("| model | B | turns | fresh prefill each turn | held caches | speed-up |");
        println!("|---|---:|---:|---|---|---:|");
    } else {
        println!(
            "| model | B | tokens/s | ms per step (call ÷ NEW) | host reads per decode step | bytes read per decode step | peak process RSS |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
    }
    let vocab = num("AWPO_BENCH_VOCAB", 151_936);
    for name in env("AWPO_BENCH_MODELS").unwrap_or_else(|| "smollm2,qwen3-0.6b".into()).split(',') {
        let (label, model) = match name.trim() {
            "smollm2" => ("SmolLM2-135M (GGUF Q4_1 → f32)".to_string(), CausalLm::load(&smollm2()?, &device)?),
            "qwen3-0.6b" => {
                let mut config = qwen3(1024, 3072, 28, 16);
                config.vocab_size = vocab;
                (format!("Qwen3-0.6B shape, random, vocab {vocab}"), CausalLm::random(config, 0, &device)?)
            }
            "qwen2.5-0.5b" => (
                format!("Qwen2.5-0.5B shape, random, vocab {vocab}"),
                CausalLm::random(qwen25_05b(vocab, 24), 0, &device)?,
            ),
            other => anyhow::bail!("unknown model {other:?} (smollm2, qwen3-0.6b, qwen2.5-0.5b)"),
        };
        if turns > 1 {
            let shape = [prompt, new, turns, num("AWPO_BENCH_TOOL", 32)];
            for &b in &batches {
                let (mut fresh, mut held) = ((f64::INFINITY, 0), (f64::INFINITY, 0));
                for _ in 0..runs.max(1) {
                    let f = conversation(&model, b, shape, false)?;
                    let h = conversation(&model, b, shape, true)?;
                    fresh = (fresh.0.min(f.0), f.1);
                    held = (held.0.min(h.0), h.1);
                }
                let tps = |s: f64| (b * new * turns) as f64 / s;
                println!(
                    "| {label} | {b} | {turns} | {:.1} tok/s, {} prompt tokens run | {:.1} tok/s, {} run | {:.2}x |",
                    tps(fresh.0),
                    fresh.1,
                    tps(held.0),
                    held.1,
                    fresh.0 / held.0
                );
            }
            continue;
        }
        for &b in &batches {
            let mut best = f64::INFINITY;
            let (mut reads, mut bytes) = (0.0, 0.0);
            for _ in 0..runs.max(1) {
                let before = (awpo::device::host_reads(), awpo::device::host_read_bytes());
                let (seconds, steps) = run(&model, b, prompt, new)?;
                reads = (awpo::device::host_reads() - before.0) as f64 / steps.max(1) as f64;
                bytes = (awpo::device::host_read_bytes() - before.1) as f64 / steps.max(1) as f64;
                best = best.min(seconds);
            }
            let rss = peak_rss_mib().map_or("n/a".to_string(), |m| format!("{m:.0} MiB"));
            println!(
                "| {label} | {b} | {:.1} | {:.0} | {reads:.2} | {bytes:.0} | {rss} |",
                (b * new) as f64 / best,
                1000.0 * best / new as f64
            );
        }
    }
    Ok(())
}
