//! WGSL kernels vs their burn tensor-op twin, side by side on one device: the median of 10
//! timed runs (after a warm-up run) of each, and their ratio.
//!
//! `AWPO_BENCH_DEVICE=wgpu|cpu` (default wgpu), `AWPO_BENCH_FULL=1` for the full grid
//! (P·G = 64…1024 rollouts × T = 512…4096 tokens); the default grid is a CI-sized subset.
//! Each run includes a read-back of one value, so the work is really done.

mod common;

use awpo::algo::{AlgoConfig, KernelMode, LossBatch, advantage, loss};
use awpo::selfcheck::Inputs;
use burn::tensor::{Device, Tensor, TensorData};
use common::{env, median_ms};

const SAMPLES: usize = 10;

fn modes(device: &Device) -> Vec<KernelMode> {
    if awpo::algo::wgsl_available(device) {
        vec![KernelMode::Wgsl, KernelMode::Tensor]
    } else {
        vec![KernelMode::Tensor]
    }
}

fn shapes() -> Vec<(usize, usize)> {
    if env("AWPO_BENCH_FULL").is_some_and(|v| v == "1") {
        [64, 256, 1024].into_iter().flat_map(|r| [512, 1024, 4096].map(|t| (r, t))).collect()
    } else {
        vec![(64, 512), (256, 1024)]
    }
}

/// One table row: the times of each mode and, with two modes, tensor ops / WGSL.
fn row(what: &str, times: &[(KernelMode, f64)]) {
    let cells: Vec<String> = times.iter().map(|(m, t)| format!("{m:?} {t:.3} ms")).collect();
    let ratio = match times {
        [(_, wgsl), (_, tensor)] => format!(" | tensor / wgsl {:.1}x", tensor / wgsl),
        _ => String::new(),
    };
    println!("| {what} | {}{ratio} |", cells.join(" | "));
}

fn main() -> anyhow::Result<()> {
    let selected = match env("AWPO_BENCH_DEVICE").as_deref() {
        Some("cpu") => awpo::device::select(&awpo::device::DeviceConfig {
            backend: awpo::device::Backend::Cpu,
            ..Default::default()
        })?,
        _ => awpo::device::select(&awpo::device::DeviceConfig {
            backend: awpo::device::Backend::Wgpu,
            ..Default::default()
        })?,
    };
    let device = selected.device;
    println!("bench device: {}; median of {SAMPLES} runs", selected.description);
    for rollouts in [64usize, 256, 1024] {
        let inputs = Inputs::random(rollouts / 8, 8, 1, 1);
        let rewards = Tensor::<3>::from_data(TensorData::new(inputs.rewards.clone(), [rollouts / 8, 8, 2]), &device);
        let times: Vec<(KernelMode, f64)> = modes(&device)
            .into_iter()
            .map(|mode| {
                let cfg = AlgoConfig { kernel: mode, ..AlgoConfig::default() };
                (mode, median_ms(SAMPLES, || advantage(rewards.clone(), &cfg).expect("valid")))
            })
            .collect();
        row(&format!("group_advantage {rollouts} (G=8)"), &times);
    }
    let grad_device = device.clone().autodiff();
    for (rollouts, tokens) in shapes() {
        let x = Inputs::random(rollouts / 8, 8, tokens, 2);
        let t2 = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rollouts, tokens]), &grad_device);
        let adv: Vec<f32> = (0..rollouts).map(|i| (i % 5) as f32 - 2.0).collect();
        let batch = LossBatch {
            logp: t2(&x.logp),
            old_logp: t2(&x.old_logp),
            ref_logp: Some(t2(&x.ref_logp)),
            adv: Tensor::<1>::from_data(TensorData::new(adv, [rollouts]), &grad_device),
            mask: t2(&x.mask),
            norm: None,
        };
        let times: Vec<(KernelMode, f64)> = modes(&device)
            .into_iter()
            .map(|mode| {
                let cfg = AlgoConfig { kernel: mode, kl_beta: 0.04, ..AlgoConfig::default() };
                let run = || {
                    let logp = batch.logp.clone().require_grad();
                    let (value, _) = loss(LossBatch { logp: logp.clone(), ..batch.clone() }, &cfg).expect("valid");
                    let grad = logp.grad(&value.backward()).expect("tracked");
                    grad.slice([0..1, 0..1]).into_data()
                };
                (mode, median_ms(SAMPLES, run))
            })
            .collect();
        row(&format!("awpo_loss_fwd_bwd {rollouts} x {tokens}"), &times);
    }
    Ok(())
}
