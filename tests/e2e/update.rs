//! The policy update of a step (`train::step::policy_gradients`) on the CPU backend: its
//! gradients and loss statistics do not depend on the micro-batch size, the thread count or the
//! padding, for every aggregation and mode, with episodes packed into several rows counting
//! once; LoRA dropout masks depend on the seed only, never on the threads; per-layer
//! recomputation (`train.recompute_layers`) gives the gradients of the plain path.

use awpo::algo::{Aggregation, AlgoConfig, KlReference, Mode};
use awpo::model::recompute::Backprop;
use awpo::model::{Adapter, AdapterConfig, CausalLm, LoraConfig, peft};
use awpo::train::batch::Row;
use awpo::train::builtin_policy::model_config;
use awpo::train::parallel::flat_grads;
use awpo::train::start::kl_reference;
use awpo::train::step::{LossRows, LossSummary, Plan, policy_gradients};
use burn::module::Module;
use burn::tensor::Device;
use rand::{Rng, SeedableRng};

use crate::common::seed;

/// A tiny random decoder (vocabulary 61) with LoRA factors A and B both random.
fn adapted(dropout: f64, seed: u64, device: &Device) -> CausalLm {
    let mut cfg = model_config(61);
    (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) = (32, 48, 2);
    (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) = (2, 1, 16);
    let mut model = CausalLm::random(cfg, seed, device).expect("model");
    peft::attach(&mut model, &LoraConfig { rank: 4, dropout, ..LoraConfig::default() }, seed);
    crate::common::randomise_lora_b(&mut model, seed);
    model
}

/// Seven rows of random prompts and responses (old log-probs near -2); rows 2 and 3 are one
/// episode packed into two rows.
struct Episodes {
    ids: Vec<(Vec<u32>, Vec<u32>, Vec<f64>)>,
    adv: Vec<f32>,
}

impl Episodes {
    fn random(seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let ids = (0..7)
            .map(|_| {
                let prompt: Vec<u32> = (0..rng.random_range(2..9)).map(|_| rng.random_range(0..61)).collect();
                let n = rng.random_range(1..10);
                let response: Vec<u32> = (0..n).map(|_| rng.random_range(0..61)).collect();
                let old: Vec<f64> = (0..n).map(|_| rng.random_range(-4.6..-3.6)).collect();
                (prompt, response, old)
            })
            .collect();
        let adv = vec![1.2, -0.7, 0.9, 0.9, -1.4, 0.3, -0.2];
        Episodes { ids, adv }
    }

    fn rows(&self) -> LossRows<'_> {
        let rows: Vec<Row> = self.ids.iter().map(|(p, r, v)| Row::single(p, r, v)).collect();
        let tokens: Vec<f64> = self.ids.iter().map(|(_, r, _)| r.len() as f64).collect();
        let joined = tokens[2] + tokens[3];
        let seq_tokens = vec![tokens[0], tokens[1], joined, joined, tokens[4], tokens[5], tokens[6]];
        LossRows { rows, adv: self.adv.clone(), seq_tokens, sequences: 6 }
    }
}

fn run(
    model: &CausalLm,
    rows: &LossRows<'_>,
    algo: &AlgoConfig,
    micro_batch: usize,
    (threads, recompute): (usize, bool),
    seed: u64,
) -> (Vec<f32>, LossSummary) {
    // Recomputation one row at a time (a chunk budget of one byte).
    let recompute = if recompute { Backprop::ByLayer { chunk_bytes: 1 } } else { Backprop::Whole };
    let plan = Plan { algo, micro_batch, threads, seed, recompute, fused: true };
    let (grads, summary) =
        policy_gradients(model, (&model.valid(), Adapter::Off), rows, plan).unwrap_or_else(|e| panic!("{e}"));
    (flat_grads(model, &grads).expect("read back"), summary)
}

#[test]
fn micro_batches_threads_and_padding_do_not_change_the_update() {
    let device = Device::flex().autodiff();
    let s = seed("update invariance");
    let model = adapted(0.0, s, &device);
    let episodes = Episodes::random(s);
    let rows = episodes.rows();
    let configs = [
        AlgoConfig { kl_beta: 0.04, ..AlgoConfig::default() },
        AlgoConfig { loss_agg: Aggregation::SeqMeanTokenMean, ..AlgoConfig::default() },
        AlgoConfig { loss_agg: Aggregation::SeqMeanTokenSumNorm, kl_beta: 0.04, ..AlgoConfig::default() },
        AlgoConfig { mode: Mode::DrGrpo, ..AlgoConfig::default() },
    ];
    for algo in &configs {
        let what = format!("seed {s}, {:?} / {:?}", algo.mode, algo.loss_agg);
        let (whole, want) = run(&model, &rows, algo, 7, (1, false), 1);
        let scale = whole.iter().fold(0f32, |m, g| m.max(g.abs()));
        assert!(scale > 0.0 && whole.iter().all(|g| g.is_finite()), "{what}: gradients flow");
        assert!(want.loss.is_finite() && want.tokens > 0.0 && want.ratio_mean > 0.0, "{what}: {want:?}");
        let splits = [(1, 1, false), (2, 2, false), (3, 1, false), (3, 2, true), (4, 2, false), (7, 1, true)];
        for (micro_batch, threads, recompute) in splits {
            let (got, summary) = run(&model, &rows, algo, micro_batch, (threads, recompute), 1);
            let worst = got.iter().zip(&whole).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst <= 1e-5 * scale,
                "{what}: micro-batch {micro_batch} x {threads} threads (recompute {recompute}): off by {worst} (scale {scale})"
            );
            let pairs = [
                (summary.loss, want.loss),
                (summary.clip_low, want.clip_low),
                (summary.clip_high, want.clip_high),
                (summary.kl_ref, want.kl_ref),
                (summary.approx_kl, want.approx_kl),
                (summary.ratio_mean, want.ratio_mean),
                (summary.entropy, want.entropy),
            ];
            for (i, (a, b)) in pairs.into_iter().enumerate() {
                assert!(
                    (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                    "{what}: micro-batch {micro_batch}: statistic {i}: {a} vs {b}"
                );
            }
            assert_eq!(summary.tokens, want.tokens, "{what}");
        }
    }
}

#[test]
fn dropout_masks_depend_on_the_seed_and_never_on_the_threads() {
    let device = Device::flex().autodiff();
    let s = seed("dropout determinism");
    let model = adapted(0.3, s, &device);
    let episodes = Episodes::random(s ^ 1);
    let rows = episodes.rows();
    let algo = AlgoConfig::default();
    let (one, _) = run(&model, &rows, &algo, 2, (1, false), 11);
    let (two, _) = run(&model, &rows, &algo, 2, (2, false), 11);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&one), bits(&two), "seed {s}: the same masks on 1 and 2 threads");
    // Recomputed layers draw the same masks again.
    let (recomputed, _) = run(&model, &rows, &algo, 2, (1, true), 11);
    let scale = one.iter().fold(0f32, |m, g| m.max(g.abs()));
    let worst = recomputed.iter().zip(&one).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(scale > 0.0 && worst <= 1e-5 * scale, "seed {s}: recomputed with dropout off by {worst} (scale {scale})");
    let (other, _) = run(&model, &rows, &algo, 2, (1, false), 12);
    assert_ne!(bits(&one), bits(&other), "seed {s}: another seed draws other masks");
    let (undropped, _) = run(&adapted(0.0, s, &device), &rows, &algo, 2, (1, false), 11);
    assert_ne!(bits(&one), bits(&undropped), "seed {s}: dropout is active in training forwards");
}

#[test]
fn the_kl_term_measures_against_the_adapter_rl_starts_from() {
    let device = Device::flex().autodiff();
    let s = seed("kl reference");
    let model = adapted(0.0, s, &device);
    let dir = std::env::temp_dir().join(format!("awpo-kl-reference-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let adapter = AdapterConfig::from(LoraConfig { rank: 4, ..LoraConfig::default() });
    peft::save_adapter(&model, &adapter, "builtin", &dir).unwrap_or_else(|e| panic!("{e}"));
    let mut cfg = awpo::config::RunConfig::default();
    cfg.algo.kl_beta = 0.04;
    cfg.model.adapter = dir.display().to_string();
    // Another adapter on the same base: the reference is read from `model.adapter`, not copied.
    let mut other = model.clone();
    crate::common::randomise_lora_b(&mut other, s ^ 7);
    let start = kl_reference(&cfg, &dir, &other).unwrap_or_else(|e| panic!("{e}")).expect("a reference");
    let episodes = Episodes::random(s ^ 3);
    let rows = episodes.rows();
    let update = |algo: &AlgoConfig, reference: (&CausalLm, Adapter)| {
        let plan = Plan { algo, micro_batch: 3, threads: 1, seed: 1, recompute: Backprop::Whole, fused: true };
        let (grads, summary) = policy_gradients(&model, reference, &rows, plan).unwrap_or_else(|e| panic!("{e}"));
        (flat_grads(&model, &grads).expect("read back"), summary)
    };
    let (plain, _) = update(&AlgoConfig::default(), (&start, Adapter::On));
    let (to_start, at_start) = update(&cfg.algo, (&start, Adapter::On));
    let (to_base, at_base) = update(&cfg.algo, (&model.valid(), Adapter::Off));
    // At the start policy the k3 KL and its gradient are zero; to the base model they are not.
    assert!(at_start.kl_ref.abs() < 1e-6, "seed {s}: KL to the start policy {}", at_start.kl_ref);
    assert!(at_base.kl_ref > 1e-4, "seed {s}: KL to the base model {}", at_base.kl_ref);
    let scale = plain.iter().fold(0f32, |m, g| m.max(g.abs()));
    let off = |a: &[f32]| a.iter().zip(&plain).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(scale > 0.0 && off(&to_start) <= 1e-5 * scale, "seed {s}: {} (scale {scale})", off(&to_start));
    assert!(off(&to_base) > 1e-3 * scale, "seed {s}: the base-model KL changes the update");
    // No reference model where the base model is the reference or there is no KL term.
    for (beta, reference) in [(0.04, KlReference::Base), (0.0, KlReference::Start)] {
        let mut c = cfg.clone();
        (c.algo.kl_beta, c.algo.kl_reference) = (beta, reference);
        assert!(kl_reference(&c, &dir, &model).unwrap_or_else(|e| panic!("{e}")).is_none(), "{beta} {reference:?}");
    }
    // A missing adapter is an error that names it.
    cfg.model.adapter = dir.join("gone").display().to_string();
    let Err(err) = kl_reference(&cfg, &dir, &model) else { panic!("seed {s}: a missing adapter is an error") };
    let err = err.to_string();
    assert!(err.contains("gone"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
