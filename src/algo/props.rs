//! Property tests of the specification's invariants (`reference.rs`).

use proptest::prelude::*;

use super::config::{AlgoConfig, Clip, Gate, Mode, Scale, Weighting};
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
        let input = LossInput {
            rows: b,
            cols: t,
            logp: &logp,
            old_logp: &old,
            ref_logp: &refs,
            adv: &adv,
            mask: &mask,
            norm: None,
        };
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

/// Random `[B, T]` loss inputs from `seed`: every row has at least one generated token.
/// `[logp, old_logp, ref_logp, adv, mask]`.
fn loss_inputs(b: usize, t: usize, seed: u64) -> [Vec<f32>; 5] {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let logp: Vec<f32> = (0..b * t).map(|_| rng.random_range(-5.0..-0.01)).collect();
    let old: Vec<f32> = logp.iter().map(|x| x + rng.random_range(-0.4..0.4)).collect();
    let refs: Vec<f32> = logp.iter().map(|x| x + rng.random_range(-0.5..0.5)).collect();
    let adv: Vec<f32> = (0..b).map(|_| rng.random_range(-2.0..2.0)).collect();
    let mut mask = vec![0.0f32; b * t];
    for row in mask.chunks_mut(t) {
        let start = rng.random_range(0..t);
        let len = rng.random_range(1..=t - start);
        row[start..start + len].fill(1.0);
    }
    [logp, old, refs, adv, mask]
}

const AGGREGATIONS: [super::Aggregation; 3] =
    [super::Aggregation::TokenMean, super::Aggregation::SeqMeanTokenMean, super::Aggregation::SeqMeanTokenSumNorm];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Under the whole batch's normaliser, parts of a batch (any split, each padded to its own
    /// width) have losses and gradients that sum to the whole batch's, for every aggregation.
    #[test]
    fn parts_under_the_whole_batch_normaliser_sum_to_the_whole(
        b in 1usize..9, t in 1usize..12, seed in any::<u64>(), parts in 1usize..9, pad in 0usize..4,
    ) {
        use super::reference::Normaliser;
        let [logp, old, refs, adv, mask] = loss_inputs(b, t, seed);
        for agg in AGGREGATIONS {
            let cfg = AlgoConfig { kl_beta: 0.05, loss_agg: agg, ..AlgoConfig::default() };
            let spec = cfg.loss_spec();
            let whole_in =
                LossInput { rows: b, cols: t, logp: &logp, old_logp: &old, ref_logp: &refs, adv: &adv, mask: &mask, norm: None };
            let whole = awpo_loss(&whole_in, &spec).unwrap();
            let counts: Vec<f64> = mask.chunks(t).map(|m| m.iter().map(|&x| f64::from(x)).sum()).collect();
            let global = Normaliser::of_rows(&counts, t, &spec);
            let size = b.div_ceil(parts.min(b));
            let (mut loss, mut grad) = (0.0, Vec::new());
            for start in (0..b).step_by(size) {
                let rows = size.min(b - start);
                // This part alone, right-padded with `pad` columns that carry no token.
                let w = t + pad;
                let widen = |v: &[f32]| -> Vec<f32> {
                    v[start * t..(start + rows) * t].chunks(t).flat_map(|r| r.iter().copied().chain(std::iter::repeat_n(0.0, pad))).collect()
                };
                let (lp, op, rp, mp) = (widen(&logp), widen(&old), widen(&refs), widen(&mask));
                let norm = Normaliser { seq_tokens: counts[start..start + rows].to_vec(), ..global.clone() };
                let part = LossInput {
                    rows, cols: w, logp: &lp, old_logp: &op, ref_logp: &rp, adv: &adv[start..start + rows], mask: &mp, norm: Some(&norm),
                };
                let out = awpo_loss(&part, &spec).unwrap();
                loss += out.stats.loss;
                grad.extend(out.grad.chunks(w).flat_map(|r| r[..t].to_vec()));
            }
            prop_assert!((loss - whole.stats.loss).abs() <= 1e-12 * (1.0 + whole.abs_mass), "{agg:?}: {loss} vs {}", whole.stats.loss);
            for (i, (a, e)) in grad.iter().zip(&whole.grad).enumerate() {
                prop_assert!((a - e).abs() <= 1e-12 * (1.0 + e.abs()), "{agg:?} token {i}: {a} vs {e}");
            }
        }
    }

    /// The tailored clip is keyed on the group: `c_max` bounds the reasoning term only where every
    /// outcome of the group is alike; in any other group it is bounded by `kappa·|Ao_i|`, so a
    /// sample at its group's mean gets none.
    #[test]
    fn the_tailored_clip_is_keyed_on_the_group((p, g, r) in rewards(6, 12), cfg in knobs()) {
        let out = group_advantage(&r, p, g, &cfg.advantage_spec()).unwrap();
        for q in 0..p {
            let span = q * g..(q + 1) * g;
            let flat = out.outcome_adv[span.clone()].iter().all(|&a| a == 0.0);
            for i in span {
                let want = if flat { cfg.c_max } else { cfg.kappa * out.outcome_adv[i].abs() };
                prop_assert_eq!(out.clip_bound[i], want, "group {} sample {}", q, i);
                prop_assert!((out.adv[i] - out.outcome_adv[i]).abs() <= want + 1e-12);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// With the clip off the reasoning term is added whole, also at a group's mean and in flat
    /// groups, and nothing counts as clipped.
    #[test]
    fn with_the_clip_off_the_reasoning_term_is_added_whole((p, g, r) in rewards(6, 12), cfg in knobs()) {
        let cfg = AlgoConfig { clip: Clip::Off, ..cfg };
        let out = group_advantage(&r, p, g, &cfg.advantage_spec()).unwrap();
        for i in 0..p * g {
            prop_assert_eq!(out.adv[i], out.outcome_adv[i] + out.reasoning_raw[i], "sample {}", i);
        }
        prop_assert!(out.stats.iter().all(|s| s.clip_frac == 0.0));
    }
}

#[test]
fn a_sample_at_the_mean_of_a_group_that_differs_gets_no_reasoning_term() {
    // Outcomes {0, 0.5, 1}: the middle sample has Ao = 0 but its group is not flat.
    let r = [0.0f32, 0.1, 0.5, 0.9, 1.0, 0.5];
    let out = group_advantage(&r, 1, 3, &AlgoConfig::default().advantage_spec()).unwrap();
    assert_eq!(out.outcome_adv[1], 0.0);
    assert_eq!(out.clip_bound[1], 0.0);
    assert_eq!(out.adv[1], 0.0, "no reasoning term at the mean of a group whose outcomes differ");
    assert!(out.reasoning_raw[1].abs() > 0.1, "its raw reasoning term was not zero: {}", out.reasoning_raw[1]);
}

#[test]
fn an_episode_packed_into_several_rows_counts_once() {
    use super::reference::Normaliser;
    // One episode of 3 + 2 generated tokens in two rows, next to an episode of 4 in one row,
    // against the same two episodes each in one row.
    let [logp, old, refs, _, _] = loss_inputs(3, 5, 7);
    let adv = [0.8f32, 0.8, -1.1];
    let split_mask = [1., 1., 1., 0., 0., 0., 1., 1., 0., 0., 1., 1., 1., 1., 0.];
    for agg in AGGREGATIONS {
        let cfg = AlgoConfig { kl_beta: 0.05, loss_agg: agg, ..AlgoConfig::default() };
        let spec = cfg.loss_spec();
        let norm = Normaliser { sequences: 2.0, tokens: 9.0, norm_len: 5.0, seq_tokens: vec![5.0, 5.0, 4.0] };
        let split = LossInput {
            rows: 3,
            cols: 5,
            logp: &logp,
            old_logp: &old,
            ref_logp: &refs,
            adv: &adv,
            mask: &split_mask,
            norm: Some(&norm),
        };
        let split = awpo_loss(&split, &spec).unwrap();
        // The first episode's five tokens in one row: row 0's tokens 0..3, then row 1's 1..3.
        let join = |v: &[f32]| -> Vec<f32> { vec![v[0], v[1], v[2], v[6], v[7], v[10], v[11], v[12], v[13], v[14]] };
        let joined_mask = [1., 1., 1., 1., 1., 1., 1., 1., 1., 0.];
        let (jl, jo, jr) = (join(&logp), join(&old), join(&refs));
        let joined = LossInput {
            rows: 2,
            cols: 5,
            logp: &jl,
            old_logp: &jo,
            ref_logp: &jr,
            adv: &[0.8, -1.1],
            mask: &joined_mask,
            norm: None,
        };
        let joined = awpo_loss(&joined, &spec).unwrap();
        assert!(
            (split.stats.loss - joined.stats.loss).abs() < 1e-12,
            "{agg:?}: {} vs {}",
            split.stats.loss,
            joined.stats.loss
        );
    }
}
