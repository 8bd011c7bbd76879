//! One LoRA training step (forward + backward of the teacher-forced log-prob loss) of a
//! random-init Qwen2.5-0.5B-shaped model, at a few batch shapes: time and memory.
//!
//! `cargo bench --profile dev --bench lora_step` (CPU backend); `AWPO_BENCH_DEVICE=wgpu` for the
//! wgpu adapter; `AWPO_BENCH_VOCAB=N` / `AWPO_BENCH_LAYERS=N` shrink the model (lavapipe caps a
//! storage binding at 128 MiB, less than Qwen's 151936 × 896 f32 embedding);
//! `AWPO_BENCH_SHAPES=1x64,4x128` picks batch shapes.

use std::time::Instant;

mod common;

use awpo::model::logprob::token_stats;
use awpo::model::{CausalLm, LoraConfig, peft};
use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};
use common::{env, peak_rss_mib, qwen25_05b};

fn main() -> anyhow::Result<()> {
    let selected = common::device()?;
    let layers = env("AWPO_BENCH_LAYERS").and_then(|v| v.parse().ok()).unwrap_or(24);
    let vocab = env("AWPO_BENCH_VOCAB").and_then(|v| v.parse().ok()).unwrap_or(151_936);
    let config = qwen25_05b(vocab, layers);
    let device = selected.device.autodiff();
    let start = Instant::now();
    let mut model = CausalLm::random(config, 0, &device)?;
    let lora = LoraConfig::default();
    peft::attach(&mut model, &lora, 0);
    println!(
        "device: {}; Qwen2.5-0.5B shape, {layers} layers, vocab {vocab}; LoRA r={} on {} projections; built in {:.1?}",
        selected.description,
        lora.rank,
        lora.target_modules.len(),
        start.elapsed()
    );
    let shapes = env("AWPO_BENCH_SHAPES").unwrap_or_else(|| "1x128,4x128,1x512".into());
    println!("| B x T | step (fwd+bwd) | tokens/s | peak process RSS | device pool reserved |");
    println!("|---|---|---|---|---|");
    for shape in shapes.split(',') {
        let (b, t) =
            shape.split_once('x').and_then(|(b, t)| Some((b.parse().ok()?, t.parse().ok()?))).unwrap_or((1, 128));
        let ids: Vec<i64> = (0..b * t).map(|i| ((i * 7919 + 13) % vocab) as i64).collect();
        let mut times = Vec::new();
        for _ in 0..3 {
            let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [b, t]), &device);
            let mask = Tensor::<2, Int>::ones([b, t], &device);
            let begin = Instant::now();
            let stats = token_stats(&model, tokens, mask, awpo::model::Adapter::On, 128)?;
            let loss = stats.logprobs.sum().neg();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let _ = grads.len();
            device.sync().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            times.push(begin.elapsed().as_secs_f64());
        }
        // The first run includes kernel compilation (wgpu) and allocator growth: report the best warm run.
        let best = times[1..].iter().cloned().fold(f64::MAX, f64::min);
        let pool = device
            .memory_pool_usage()
            .map_or("n/a".to_string(), |u| format!("{:.0} MiB", u.bytes_reserved as f64 / 1048576.0));
        let rss = peak_rss_mib().map_or("n/a".to_string(), |m| format!("{m:.0} MiB"));
        println!(
            "| {b} x {t} | {best:.2} s (cold {:.2} s) | {:.0} | {rss} | {pool} |",
            times[0],
            (b * t) as f64 / best
        );
    }
    Ok(())
}
