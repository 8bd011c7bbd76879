//! Helpers shared by the test binaries.
#![allow(dead_code)]

use awpo::algo::{Aggregation, AlgoConfig, Gate, KernelMode, Mode, Scale, Weighting};
use awpo::selfcheck::Comparison;
use burn::tensor::Device;

/// A fresh seed per run (printed, so a failure can be replayed with `AWPO_TEST_SEED=<seed>`).
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("AWPO_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        now.as_nanos() as u64
    });
    eprintln!("{test}: AWPO_TEST_SEED={seed}");
    seed
}

/// Largest scaled error accepted between an f32 implementation and the f64 reference.
pub const TOLERANCE: f64 = 1e-5;

/// The wgpu device (lavapipe in CI), or `None` with a printed reason. With `AWPO_REQUIRE_GPU=1`
/// a missing adapter fails the test instead.
pub fn gpu_device() -> Option<Device> {
    let adapters = awpo::device::adapters();
    match adapters.first() {
        Some(a) => {
            eprintln!("wgpu adapter: {} ({})", a.name, a.api);
            let cfg = awpo::device::DeviceConfig { backend: awpo::device::Backend::Wgpu, ..Default::default() };
            Some(awpo::device::select(&cfg).expect("an adapter was listed").device)
        }
        None if std::env::var("AWPO_REQUIRE_GPU").is_ok_and(|v| v == "1") => {
            panic!("AWPO_REQUIRE_GPU=1 but no wgpu adapter was found (install mesa-vulkan-drivers)")
        }
        None => {
            eprintln!("skipped: no adapter (set AWPO_REQUIRE_GPU=1 to make this a failure)");
            None
        }
    }
}

/// A spread of configurations: every mode, scale, gate, weight and aggregation, KL on and off.
pub fn configs(kernel: KernelMode) -> Vec<AlgoConfig> {
    let base = AlgoConfig { kernel, kl_beta: 0.04, ..AlgoConfig::default() };
    vec![
        base.clone(),
        AlgoConfig { mode: Mode::Grpo, kl_beta: 0.0, loss_agg: Aggregation::SeqMeanTokenMean, ..base.clone() },
        AlgoConfig { mode: Mode::NaiveSum, lambda: 0.5, scale: Scale::Batch, ..base.clone() },
        AlgoConfig { mode: Mode::DrGrpo, loss_norm_len: Some(700), ..base.clone() },
        AlgoConfig { gate: Gate::Hard, gate_tau: 0.3, weight: Weighting::Mid, scale: Scale::Batch, ..base.clone() },
        AlgoConfig { gate: Gate::Off, weight: Weighting::Off, gate_tau_r: 0.0, kappa: 0.0, lambda: 2.0, ..base },
    ]
}

/// Asserts every error of `c` is within [`TOLERANCE`] and few tokens sit on a clip boundary.
pub fn assert_close(c: &Comparison, what: &str) {
    eprintln!(
        "{what}: adv {:.1e} stats {:.1e} loss {:.1e} grad {:.1e} boundary {}",
        c.adv, c.group_stats, c.loss, c.grad, c.boundary_tokens
    );
    for (name, err) in [("advantage", c.adv), ("group stats", c.group_stats), ("loss", c.loss), ("gradient", c.grad)] {
        assert!(err <= TOLERANCE, "{what}: {name} error {err:e} > {TOLERANCE:e}");
    }
    // Random ratios put ~6e-5 of all tokens within 1e-5 of a boundary; 1e-3 leaves a wide margin.
    let limit = 8 + c.compared_tokens / 1000;
    assert!(c.boundary_tokens <= limit, "{what}: {} tokens on a clip boundary (limit {limit})", c.boundary_tokens);
}
