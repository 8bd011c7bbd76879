//! WGSL kernels vs their burn tensor-op twin, side by side on one device.
//!
//! `AWPO_BENCH_DEVICE=wgpu|cpu` (default wgpu), `AWPO_BENCH_FULL=1` for the full grid
//! (P·G = 64…1024 rollouts × T = 512…4096 tokens); the default grid is a CI-sized subset.
//! Each iteration includes a read-back of one value, so the work is really done.

use awpo::algo::{AlgoConfig, KernelMode, LossBatch, advantage, loss};
use awpo::device::{Backend, DeviceConfig, select};
use awpo::selfcheck::Inputs;
use burn::tensor::{Device, Tensor, TensorData};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn device() -> Device {
    let backend = match std::env::var("AWPO_BENCH_DEVICE").as_deref() {
        Ok("cpu") => Backend::Cpu,
        _ => Backend::Wgpu,
    };
    let chosen = select(&DeviceConfig { backend, ..Default::default() }).expect("bench device");
    eprintln!("bench device: {}", chosen.description);
    chosen.device
}

fn modes(device: &Device) -> Vec<KernelMode> {
    if awpo::kernels::kernels_available(device) {
        vec![KernelMode::Wgsl, KernelMode::Tensor]
    } else {
        vec![KernelMode::Tensor]
    }
}

fn shapes() -> Vec<(usize, usize)> {
    if std::env::var("AWPO_BENCH_FULL").is_ok_and(|v| v == "1") {
        let mut out = Vec::new();
        for rollouts in [64, 256, 1024] {
            for tokens in [512, 1024, 4096] {
                out.push((rollouts, tokens));
            }
        }
        out
    } else {
        vec![(64, 512), (256, 1024)]
    }
}

fn bench_advantage(c: &mut Criterion) {
    let device = device();
    let mut group = c.benchmark_group("group_advantage");
    group.sample_size(10);
    for rollouts in [64usize, 256, 1024] {
        let inputs = Inputs::random(rollouts / 8, 8, 1, 1);
        let rewards = Tensor::<3>::from_data(TensorData::new(inputs.rewards.clone(), [rollouts / 8, 8, 2]), &device);
        for mode in modes(&device) {
            let cfg = AlgoConfig { kernel: mode, ..AlgoConfig::default() };
            group.bench_with_input(BenchmarkId::new(format!("{mode:?}"), rollouts), &rewards, |b, r| {
                b.iter(|| advantage(r.clone(), &cfg).expect("valid"))
            });
        }
    }
    group.finish();
}

fn bench_loss(c: &mut Criterion) {
    let device = device();
    let grad_device = device.clone().autodiff();
    let mut group = c.benchmark_group("awpo_loss_fwd_bwd");
    group.sample_size(10);
    for (rollouts, tokens) in shapes() {
        let x = Inputs::random(rollouts / 8, 8, tokens, 2);
        let t2 = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rollouts, tokens]), &grad_device);
        let adv: Vec<f32> = (0..rollouts).map(|i| (i % 5) as f32 - 2.0).collect();
        let base = LossBatch {
            logp: t2(&x.logp),
            old_logp: t2(&x.old_logp),
            ref_logp: Some(t2(&x.ref_logp)),
            adv: Tensor::<1>::from_data(TensorData::new(adv, [rollouts]), &grad_device),
            mask: t2(&x.mask),
        };
        for mode in modes(&device) {
            let cfg = AlgoConfig { kernel: mode, kl_beta: 0.04, ..AlgoConfig::default() };
            let id = BenchmarkId::new(format!("{mode:?}"), format!("{rollouts}x{tokens}"));
            group.bench_with_input(id, &base, |b, batch| {
                b.iter(|| {
                    let logp = batch.logp.clone().require_grad();
                    let (value, _) = loss(LossBatch { logp: logp.clone(), ..batch.clone() }, &cfg).expect("valid");
                    let grad = logp.grad(&value.backward()).expect("tracked");
                    grad.slice([0..1, 0..1]).into_data()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_advantage, bench_loss);
criterion_main!(benches);
