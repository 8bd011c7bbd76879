//! f32 GEMM throughput of the CPU backend (burn-flex, the `gemm` crate) at the shapes of
//! SmolLM2-135M's decode and prefill, beside `scripts/bench-gemm-torch.py` (the same shapes in
//! PyTorch): what bounds CPU generation speed.
//!
//! `cargo bench --profile dev --bench gemm` (CPU backend; `AWPO_BENCH_DEVICE=wgpu` for wgpu).

mod common;

use burn::tensor::{Distribution, Tensor};

fn main() -> anyhow::Result<()> {
    let selected = common::device()?;
    let device = selected.device.clone();
    println!("device: {}", selected.description);
    println!("| x · W | layout of W | ms | GFLOP/s |");
    println!("|---|---|---:|---:|");
    for (m, k, n) in [(1, 576, 1536), (16, 576, 1536), (64, 576, 1536), (16, 576, 49152), (1024, 576, 1536)] {
        let x = Tensor::<2>::random([m, k], Distribution::Default, &device);
        let w = Tensor::<2>::random([k, n], Distribution::Default, &device);
        let wt = Tensor::<2>::random([n, k], Distribution::Default, &device);
        let reps = if m >= 1024 { 5 } else { 30 };
        let flop = 2.0 * (m * k * n) as f64;
        let row = |layout: &str, f: &dyn Fn() -> Tensor<2>| -> anyhow::Result<()> {
            let ms = common::median_ms(reps, || f().into_data());
            println!("| [{m}, {k}] · [{k}, {n}] | {layout} | {ms:.2} | {:.1} |", flop / ms / 1e6);
            Ok(())
        };
        row("[in, out]", &|| x.clone().matmul(w.clone()))?;
        row("[out, in], x · Wᵀ", &|| x.clone().matmul(wt.clone().transpose()))?;
        row("[out, in], (W · xᵀ)ᵀ", &|| wt.clone().matmul(x.clone().transpose()).transpose())?;
    }
    Ok(())
}
