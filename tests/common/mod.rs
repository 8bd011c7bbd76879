//! Helpers shared by the test binaries.
#![allow(dead_code)]

use awpo::algo::{Aggregation, AlgoConfig, Clip, Gate, KernelMode, Mode, Scale, Weighting};
use awpo::algo::{LossBatch, loss};
use awpo::selfcheck::{Comparison, Inputs};
use burn::tensor::{Device, Tensor, TensorData};

pub mod draws;
pub mod fixtures;
pub mod fused;
pub mod generation;

/// Fills every LoRA `B` factor of `model` with seeded values in ±0.05 (PEFT starts `B` at zero,
/// which would leave the adapter out of every forward pass a test compares).
pub fn randomise_lora_b(model: &mut awpo::model::CausalLm, seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for (_, layer) in model.linear_layers_mut() {
        if let Some(l) = layer.lora.as_mut() {
            let dims = l.lora_b.val().dims();
            let device = l.lora_b.val().device();
            let v: Vec<f32> = (0..dims[0] * dims[1]).map(|_| rng.random_range(-0.05..0.05)).collect();
            l.lora_b = burn::module::Param::from_data(TensorData::new(v, dims), &device);
        }
    }
}

/// A registry artifact fetched (once, sha256-checked) by `scripts/fetch-assets.sh <which>`:
/// `relative` inside the asset cache.
pub fn asset(which: &str, relative: &str) -> std::path::PathBuf {
    let out = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch-assets.sh"))
        .arg(which)
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "fetch-assets {which} failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let assets = stdout.lines().last().expect("the script prints the assets folder");
    std::path::PathBuf::from(assets).join(relative)
}

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

/// A spread of configurations: every mode, scale, gate, weight, clip and aggregation, KL on and off.
pub fn configs(kernel: KernelMode) -> Vec<AlgoConfig> {
    let base = AlgoConfig { kernel, kl_beta: 0.04, ..AlgoConfig::default() };
    vec![
        base.clone(),
        AlgoConfig { mode: Mode::Grpo, kl_beta: 0.0, loss_agg: Aggregation::SeqMeanTokenMean, ..base.clone() },
        AlgoConfig { mode: Mode::NaiveSum, lambda: 0.5, scale: Scale::Batch, ..base.clone() },
        AlgoConfig { mode: Mode::DrGrpo, loss_norm_len: Some(700), ..base.clone() },
        AlgoConfig { gate: Gate::Hard, gate_tau: 0.3, weight: Weighting::Mid, scale: Scale::Batch, ..base.clone() },
        AlgoConfig {
            gate: Gate::Off,
            weight: Weighting::Off,
            gate_tau_r: 0.0,
            kappa: 0.0,
            lambda: 2.0,
            ..base.clone()
        },
        AlgoConfig { clip: Clip::Off, lambda: 1.5, ..base },
    ]
}

/// Asserts every error of `c` is within [`TOLERANCE`] and few tokens sit on a clip boundary.
pub fn assert_close(c: &Comparison, what: &str) {
    eprintln!(
        "{what}: adv {:.1e} stats {:.1e} loss {:.1e} loss stats {:.1e} grad {:.1e} boundary {}",
        c.adv, c.group_stats, c.loss, c.loss_stats, c.grad, c.boundary_tokens
    );
    let errors = [
        ("advantage", c.adv),
        ("group stats", c.group_stats),
        ("loss", c.loss),
        ("loss statistics", c.loss_stats),
        ("gradient", c.grad),
    ];
    for (name, err) in errors {
        assert!(err <= TOLERANCE, "{what}: {name} error {err:e} > {TOLERANCE:e}");
    }
    // Random ratios put ~6e-5 of all tokens within 1e-5 of a boundary; 1e-3 leaves a wide margin.
    let limit = 8 + c.compared_tokens / 1000;
    assert!(c.boundary_tokens <= limit, "{what}: {} tokens on a clip boundary (limit {limit})", c.boundary_tokens);
}

/// Autodiff gradient of the loss (through `kernel`) vs f32 central differences of the same loss.
pub fn finite_difference_check(device: &Device, kernel: KernelMode, label: &str) {
    let (b, t) = (4, 6);
    let inputs = Inputs::random(2, 2, t, seed(label));
    let cfg = AlgoConfig { kernel, kl_beta: 0.1, ..AlgoConfig::default() };
    let adv = vec![0.9f32, -0.4, 1.3, -1.1];
    let eval = |logp: &[f32], d: &Device| {
        let t2 = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [b, t]), d);
        let lp = if d.is_autodiff() { t2(logp).require_grad() } else { t2(logp) };
        let batch = LossBatch {
            logp: lp.clone(),
            old_logp: t2(&inputs.old_logp),
            ref_logp: Some(t2(&inputs.ref_logp)),
            adv: Tensor::<1>::from_data(TensorData::new(adv.clone(), [b]), d),
            mask: t2(&inputs.mask),
            norm: None,
        };
        let (value, _) = loss(batch, &cfg).expect("valid");
        let grad = d
            .is_autodiff()
            .then(|| lp.grad(&value.backward()))
            .flatten()
            .map(|g| g.into_data().try_to_vec::<f32>().unwrap());
        (value.into_data().try_to_vec::<f32>().unwrap()[0], grad)
    };
    let ad = device.clone().autodiff();
    let (_, grad) = eval(&inputs.logp, &ad);
    let grad = grad.expect("logp is tracked");
    let scale = grad.iter().fold(0f32, |m, g| m.max(g.abs()));
    // f32 central differences with h = 1e-2: rounding ~6e-8/h relative to |loss|, so 1e-3 of the
    // largest gradient is the honest bound here; the tight checks are the comparisons with the
    // f64 reference (`assert_close`).
    let mut checked = 0;
    for i in 0..b * t {
        // A probe of ±h straddling a clip boundary measures a kink, not the derivative.
        let log_ratio = inputs.logp[i] - inputs.old_logp[i];
        if [0.8f32.ln(), 1.28f32.ln()].iter().any(|k| (log_ratio - k).abs() < 2e-2) {
            continue;
        }
        checked += 1;
        let (mut plus, mut minus) = (inputs.logp.clone(), inputs.logp.clone());
        plus[i] += 1e-2;
        minus[i] -= 1e-2;
        let numeric = (eval(&plus, device).0 - eval(&minus, device).0) / (plus[i] - minus[i]);
        assert!((numeric - grad[i]).abs() <= 1e-3 * scale, "token {i}: fd {numeric} vs autodiff {}", grad[i]);
    }
    assert!(checked >= b * t / 2, "only {checked} of {} tokens away from a clip boundary", b * t);
}

/// Scores that differ between rollouts, so a random-init policy gets a non-zero advantage (its
/// outcome rewards are all equal).
#[derive(Default)]
pub struct Varying(std::sync::atomic::AtomicUsize);

impl awpo::judge::Judge for Varying {
    fn score(&self, requests: &[awpo::judge::JudgeRequest]) -> Vec<Result<f64, awpo::judge::JudgeError>> {
        let n = self.0.fetch_add(requests.len(), std::sync::atomic::Ordering::SeqCst);
        (0..requests.len()).map(|i| Ok(((n + i) % 5) as f64 / 4.0)).collect()
    }
}

/// The trainer tests' rollout context: episodes through the built-in tools (`auto`), at most two
/// assistant messages, sampled in parts of `part_rows` rows on `threads` threads.
pub fn builtin_context<'a>(
    tokenizer: &'a awpo::tokenizer::TextTokenizer,
    prompter: &'a awpo::prompt::Prompter,
    reward: &'a awpo::reward::RewardConfig,
    judge: &'a dyn awpo::judge::Judge,
    part_rows: usize,
    threads: usize,
) -> awpo::train::episode::Context<'a> {
    awpo::train::episode::Context {
        tokenizer,
        prompter,
        reward,
        judge,
        environment: awpo::config::EnvMode::Auto,
        process: None,
        max_steps: 2,
        part_rows,
        threads,
    }
}

/// For every aggregation (KL on), under a whole-batch normaliser in which rows 0 and 1 are one
/// episode (so it counts once): a batch's loss and gradient through `kernel` on `device` equal
/// the f64 reference's, and equal, to f32 rounding, the sums over its parts (split 1, 2, 3 and B
/// ways, each part padded with two token-less columns).
pub fn split_check(device: &Device, kernel: KernelMode, label: &str) {
    use awpo::algo::reference::{self, LossInput, Normaliser};
    let (groups, group_size, t) = (3, 4, 37);
    let inputs = Inputs::random(groups, group_size, t, seed(label));
    let b = groups * group_size;
    let adv: Vec<f32> = (0..b).map(|i| ((i * 7) % 5) as f32 * 0.6 - 1.2).collect();
    let counts: Vec<f64> = inputs.mask.chunks(t).map(|m| m.iter().map(|&x| f64::from(x)).sum()).collect();
    let ad = device.clone().autodiff();
    // Loss and d loss / d logp of rows `range`, padded to `t + pad`, under `norm`.
    let run = |cfg: &AlgoConfig, range: std::ops::Range<usize>, pad: usize, norm: Option<Normaliser>| {
        let rows = range.len();
        let w = t + pad;
        let widen = |v: &[f32]| -> Vec<f32> {
            v[range.start * t..range.end * t]
                .chunks(t)
                .flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(0.0, pad)))
                .collect()
        };
        let t2 = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [rows, w]), &ad);
        let logp = t2(widen(&inputs.logp)).require_grad();
        let batch = LossBatch {
            logp: logp.clone(),
            old_logp: t2(widen(&inputs.old_logp)),
            ref_logp: Some(t2(widen(&inputs.ref_logp))),
            adv: Tensor::<1>::from_data(TensorData::new(adv[range.clone()].to_vec(), [rows]), &ad),
            mask: t2(widen(&inputs.mask)),
            norm,
        };
        let (value, stats) = loss(batch, cfg).expect("valid inputs");
        let grad: Vec<f32> = logp.grad(&value.backward()).expect("tracked").into_data().try_to_vec::<f32>().unwrap();
        let value = value.into_data().try_to_vec::<f32>().unwrap()[0];
        let grad: Vec<f32> = grad.chunks(w).flat_map(|r| r[..t].to_vec()).collect();
        (f64::from(value), grad, stats)
    };
    for agg in [Aggregation::TokenMean, Aggregation::SeqMeanTokenMean, Aggregation::SeqMeanTokenSumNorm] {
        let cfg = AlgoConfig { kernel, kl_beta: 0.04, loss_agg: agg, ..AlgoConfig::default() };
        let spec = cfg.loss_spec();
        let mut global = Normaliser::of_rows(&counts, t, &spec);
        global.sequences -= 1.0;
        let joined = counts[0] + counts[1];
        global.seq_tokens[..2].fill(joined);
        let (whole, whole_grad, whole_stats) = run(&cfg, 0..b, 0, Some(global.clone()));
        let want = reference::awpo_loss(
            &LossInput {
                rows: b,
                cols: t,
                logp: &inputs.logp,
                old_logp: &inputs.old_logp,
                ref_logp: &inputs.ref_logp,
                adv: &adv,
                mask: &inputs.mask,
                norm: Some(&global),
            },
            &spec,
        )
        .expect("valid inputs");
        let scale = want.grad.iter().fold(0f64, |m, g| m.max(g.abs()));
        assert!((whole - want.stats.loss).abs() <= TOLERANCE * want.abs_mass, "{label} {agg:?}: whole batch vs spec");
        let spec_worst = whole_grad.iter().zip(&want.grad).fold(0f64, |m, (a, e)| m.max((f64::from(*a) - e).abs()));
        assert!(spec_worst <= TOLERANCE * scale, "{label} {agg:?}: whole-batch gradient vs spec off by {spec_worst}");
        for parts in [1, 2, 3, b] {
            let size = b.div_ceil(parts);
            let (mut sum, mut grad, mut tokens) = (0.0, Vec::new(), 0.0);
            for start in (0..b).step_by(size) {
                let range = start..(start + size).min(b);
                let norm = Normaliser { seq_tokens: global.seq_tokens[range.clone()].to_vec(), ..global.clone() };
                let (value, g, stats) = run(&cfg, range, 2, Some(norm));
                sum += value;
                grad.extend(g);
                tokens += stats.tokens;
            }
            let what = format!("{label} {agg:?} in {parts} parts");
            assert!((sum - whole).abs() <= TOLERANCE * want.abs_mass, "{what}: loss {sum} vs whole {whole}");
            assert_eq!(tokens, whole_stats.tokens, "{what}: tokens");
            let worst = grad.iter().zip(&whole_grad).fold(0f64, |m, (a, e)| m.max(f64::from((a - e).abs())));
            assert!(grad.len() == whole_grad.len() && worst <= TOLERANCE * scale, "{what}: gradient off by {worst}");
            let spec_worst = grad.iter().zip(&want.grad).fold(0f64, |m, (a, e)| m.max((f64::from(*a) - e).abs()));
            assert!(spec_worst <= TOLERANCE * scale, "{what}: gradient vs spec off by {spec_worst}");
        }
    }
}
