//! Property tests of the specification's invariants (`reference.rs`).

use proptest::prelude::*;

use super::config::{AlgoConfig, Gate, Mode, Scale, Weighting};
use super::reference::{LossInput, awpo_loss, group_advantage, token_term};

fn rewards(max_groups: usize, max_g: usize) -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (1..=max_groups, 1..=max_g).prop_flat_map(|(p, g)| {
        // Mix of discrete (tool-call correctness is often 0/1) and continuous rewards.
        let value = prop_oneof![Just(0.0f32), Just(1.0f32), Just(0.5f32), 0.0f32..=1.0];
        (Just(p), Just(g), prop::collection::vec(value, p * g * 2))
    })
}

fn knobs() -> impl Strategy<Value = AlgoConfig> {
    let scale = prop_oneof![Just(Scale::Group), Just(Scale::Batch), Just(Scale::None)];
    let gate = prop_oneof![Just(Gate::Soft), Just(Gate::Hard), Just(Gate::Off)];
    let weight = prop_oneof![Just(Weighting::HardFirst), Just(Weighting::Mid), Just(Weighting::Off)];
    (scale, gate, weight, 0.0f64..3.0, 0.0f64..1.0).prop_map(|(scale, gate, weight, lambda, kappa)| AlgoConfig {
        scale,
        gate,
        weight,
        lambda,
        kappa,
        ..AlgoConfig::default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Centred advantages sum to 0 per group; only the tailored clip moves the mixed sum.
    #[test]
    fn group_sums_vanish_up_to_the_clip((p, g, r) in rewards(6, 12), cfg in knobs()) {
        let out = group_advantage(&r, p, g, &cfg.advantage_spec()).unwrap();
        for q in 0..p {
            let span = q * g..(q + 1) * g;
            let ao: f64 = out.outcome_adv[span.clone()].iter().sum();
            prop_assert!(ao.abs() < 1e-6 * (1.0 + g as f64), "group {q}: sum Ao = {ao}");
            let moved: f64 = span.clone()
                .map(|i| out.reasoning_raw[i].clamp(-out.clip_bound[i], out.clip_bound[i]) - out.reasoning_raw[i])
                .sum();
            let a: f64 = out.adv[span].iter().sum();
            prop_assert!((a - moved).abs() < 1e-6 * (1.0 + g as f64), "group {q}: sum A = {a}, clip moved {moved}");
        }
    }

    /// The reasoning term never flips the sign of a non-zero outcome advantage.
    #[test]
    fn reasoning_never_flips_the_outcome((p, g, r) in rewards(6, 12), cfg in knobs()) {
        let out = group_advantage(&r, p, g, &cfg.advantage_spec()).unwrap();
        for (i, (&a, &ao)) in out.adv.iter().zip(&out.outcome_adv).enumerate() {
            if ao != 0.0 {
                prop_assert!(a * ao > 0.0 || cfg.kappa >= 1.0, "sample {i}: A = {a}, Ao = {ao}");
                prop_assert!((a - ao).abs() <= cfg.kappa * ao.abs() + 1e-12);
            }
        }
    }

    /// With lambda = 0 AWPO is GRPO, to the last bit.
    #[test]
    fn lambda_zero_is_grpo((p, g, r) in rewards(6, 12), cfg in knobs()) {
        let awpo = AlgoConfig { lambda: 0.0, ..cfg.clone() };
        let grpo = AlgoConfig { mode: Mode::Grpo, ..cfg };
        let a = group_advantage(&r, p, g, &awpo.advantage_spec()).unwrap();
        let b = group_advantage(&r, p, g, &grpo.advantage_spec()).unwrap();
        prop_assert_eq!(a.adv, b.adv);
    }

    /// Where the ratio is clipped the surrogate's gradient is exactly 0, and elsewhere it is -A·r.
    #[test]
    fn gradient_vanishes_where_clipped(logp in -8.0f64..0.0, shift in -1.0f64..1.0, adv in -3.0f64..3.0) {
        let spec = AlgoConfig::default().loss_spec();
        let term = token_term(logp, logp - shift, 0.0, adv, &spec);
        if term.clip != 0 {
            prop_assert_eq!(term.dloss, 0.0);
        } else {
            prop_assert!((term.dloss + adv * term.ratio).abs() < 1e-12);
        }
        let r = shift.exp();
        prop_assert_eq!(term.clip == 1, adv > 0.0 && r > 1.28);
        prop_assert_eq!(term.clip == -1, adv < 0.0 && r < 0.8);
    }
}

#[test]
fn single_sample_groups_give_zero_advantages() {
    let r = [0.3f32, 0.9, 1.0, 0.0, 0.0, 0.5];
    for mode in [Mode::Awpo, Mode::Grpo, Mode::NaiveSum, Mode::DrGrpo] {
        let cfg = AlgoConfig { mode, ..AlgoConfig::default() };
        let out = group_advantage(&r, 3, 1, &cfg.advantage_spec()).unwrap();
        assert_eq!(out.adv, [0.0; 3], "{mode:?}");
    }
}

#[test]
fn equal_outcomes_let_the_gated_reasoning_through() {
    // All outcomes 0: Ao = 0, sd_o = 0 → g_o = 1, w = 1; reasoning spreads the group.
    let r = [0.0f32, 0.9, 0.0, 0.1];
    let cfg = AlgoConfig::default();
    let out = group_advantage(&r, 1, 2, &cfg.advantage_spec()).unwrap();
    assert_eq!(out.outcome_adv, [0.0, 0.0]);
    assert_eq!(out.stats[0].gate, 1.0);
    // Ar = ±1 (±0.4 / (0.4 + eps)), c clamped to c_max = 1.
    assert!((out.adv[0] - 1.0 / (1.0 + 2.5e-6)).abs() < 1e-9 && out.adv[0] > 0.99);
    assert!((out.adv[0] + out.adv[1]).abs() < 1e-12);
}

#[test]
fn numerical_gradient_matches_the_analytic_one() {
    let (b, t) = (3, 5);
    let logp: Vec<f32> = (0..b * t).map(|i| -1.0 - 0.37 * ((i * 7) % 11) as f32 / 11.0).collect();
    let old: Vec<f32> = logp.iter().enumerate().map(|(i, x)| x + 0.3 * ((i % 5) as f32 - 2.0) / 2.0).collect();
    let refs: Vec<f32> = logp.iter().map(|x| x - 0.2).collect();
    let adv = [0.7f32, -1.2, 0.1];
    let mask: Vec<f32> = (0..b * t).map(|i| if i % 5 == 4 && i != 14 { 0.0 } else { 1.0 }).collect();
    for agg in
        [super::Aggregation::TokenMean, super::Aggregation::SeqMeanTokenMean, super::Aggregation::SeqMeanTokenSumNorm]
    {
        let cfg = AlgoConfig { kl_beta: 0.05, loss_agg: agg, ..AlgoConfig::default() };
        let spec = cfg.loss_spec();
        let input =
            LossInput { rows: b, cols: t, logp: &logp, old_logp: &old, ref_logp: &refs, adv: &adv, mask: &mask };
        let exact = awpo_loss(&input, &spec).unwrap();
        for i in 0..b * t {
            let h = 1e-3f32;
            let mut plus = logp.clone();
            plus[i] += h;
            let mut minus = logp.clone();
            minus[i] -= h;
            let f = |lp: &[f32]| awpo_loss(&LossInput { logp: lp, ..input }, &spec).unwrap().stats.loss;
            let numeric = (f(&plus) - f(&minus)) / (f64::from(plus[i]) - f64::from(minus[i]));
            assert!((numeric - exact.grad[i]).abs() < 1e-5, "{agg:?} token {i}: {numeric} vs {}", exact.grad[i]);
        }
    }
}
