//! Each AWPO kernel against the f64 specification on the local adapter, at a few rollout shapes,
//! with the implementation (WGSL kernel or burn ops) side by side.
//!
//! ```text
//! cargo run --example kernel_check -- [wgpu|cpu]
//! ```

use awpo::algo::{AlgoConfig, KernelMode};
use awpo::device::{Backend, DeviceConfig, select};
use awpo::selfcheck::{Inputs, compare};

fn main() -> anyhow::Result<()> {
    let backend = match std::env::args().nth(1).as_deref() {
        Some("cpu") => Backend::Cpu,
        Some("wgpu") | None => Backend::Wgpu,
        Some(other) => anyhow::bail!("unknown device {other:?}: use wgpu or cpu"),
    };
    let chosen = select(&DeviceConfig { backend, ..Default::default() })?;
    println!("device: {}", chosen.description);
    let mut modes = vec![KernelMode::Tensor];
    if awpo::kernels::kernels_available(&chosen.device) {
        modes.insert(0, KernelMode::Wgsl);
    }
    println!(
        "{:<8} {:>5} {:>4} {:>5} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "impl", "P", "G", "T", "adv", "stats", "loss", "grad", "adv ms", "loss ms"
    );
    for (p, g, t) in [(8, 8, 512), (32, 8, 1024), (128, 8, 1024)] {
        let inputs = Inputs::random(p, g, t, 42);
        for &kernel in &modes {
            let cfg = AlgoConfig { kernel, kl_beta: 0.04, ..AlgoConfig::default() };
            compare(&chosen.device, &inputs, &cfg)?; // warm-up: shader compilation
            let c = compare(&chosen.device, &inputs, &cfg)?;
            println!(
                "{:<8} {p:>5} {g:>4} {t:>5} {:>9.1e} {:>9.1e} {:>9.1e} {:>9.1e} {:>10.2} {:>10.2}",
                format!("{kernel:?}"),
                c.adv,
                c.group_stats,
                c.loss,
                c.grad,
                c.advantage_time.as_secs_f64() * 1e3,
                c.loss_time.as_secs_f64() * 1e3
            );
        }
    }
    Ok(())
}
