//! Device draws (`rollout::device_draw`) against the host sampler, on any device: greedy equals
//! the host exactly (planted ties included), the inverse CDF picks the host's token for the same
//! uniform, the truncated and tempered modes draw from the host's distribution, and a row with
//! a NaN or `+inf` logit is an error.

use awpo::rollout::device_draw::draw;
use awpo::rollout::sampler::{distribution, log_softmax};
use awpo::rollout::{Sampling, sample};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn upload(values: &[f32], n: usize, v: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [n, v]), device)
}

/// Equal to within `2e-5` relative to `1 + |b|` (f32 sums of exponentials, whose accuracy
/// differs between devices: lavapipe's `exp` is less exact than the CPU's).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 2e-5 * (1.0 + b.abs())
}

/// Greedy on `[N, V]` random logits with planted ties equals the host's arg-max, token for token;
/// log-probs [`close`].
pub fn greedy_equals_the_host(device: &Device, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (n, v) in [(37, 1000), (5, 7), (3, 49_157)] {
        let mut logits: Vec<f32> = (0..n * v).map(|_| rng.random_range(-8.0..8.0)).collect();
        for row in 0..n {
            // A tie for the maximum at two random ids in every other row.
            if row % 2 == 0 {
                let (a, b) = (rng.random_range(0..v), rng.random_range(0..v));
                logits[row * v + a] = 9.5;
                logits[row * v + b] = 9.5;
            }
        }
        let greedy = Sampling { temperature: 0.0, ..Sampling::default() };
        let got = draw(upload(&logits, n, v, device), &greedy, &[]).unwrap_or_else(|e| panic!("{e}"));
        for (row, d) in got.iter().enumerate() {
            let host = sample(&logits[row * v..(row + 1) * v], &greedy, &mut rng.clone());
            assert_eq!(d.token, host.token, "row {row} of [{n}, {v}]");
            assert!(close(d.logp, host.logp), "row {row}: {} vs {}", d.logp, host.logp);
            assert_eq!(d.sample_logp, 0.0);
        }
    }
    for bad in [f32::NAN, f32::INFINITY] {
        let mut logits = vec![0.5f32; 2 * 50];
        logits[77] = bad;
        for s in [Sampling { temperature: 0.0, ..Sampling::default() }, Sampling::default()] {
            let err = draw(upload(&logits, 2, 50, device), &s, &[0.5, 0.5]).err().map(|e| e.to_string());
            assert!(err.as_deref().is_some_and(|e| e.contains("row 1")), "{bad} in row 1 ({s:?}): {err:?}");
        }
    }
}

/// Plain sampling picks the smallest id whose cumulative probability reaches the row's uniform,
/// as a host walk in f64 does, except within `1e-4` of a boundary (f32 sums).
pub fn inverse_cdf_equals_the_host_walk(device: &Device, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n, v) = (64, 3001);
    let logits: Vec<f32> = (0..n * v).map(|_| rng.random_range(-3.0..3.0)).collect();
    let uniforms: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let got = draw(upload(&logits, n, v, device), &Sampling::default(), &uniforms).unwrap_or_else(|e| panic!("{e}"));
    let mut compared = 0;
    for (row, d) in got.iter().enumerate() {
        let lp = log_softmax(&logits[row * v..(row + 1) * v], 1.0);
        let mut cum = 0.0;
        let (mut want, mut margin) = (None, f64::INFINITY);
        for (i, l) in lp.iter().enumerate() {
            let next = cum + l.exp();
            margin = margin.min((next - uniforms[row]).abs());
            if next >= uniforms[row] && want.is_none() {
                want = Some(i);
            }
            cum = next;
        }
        assert!(close(d.logp, lp[d.token as usize]) && close(d.sample_logp, d.logp), "row {row}");
        if margin > 1e-4 {
            assert_eq!(Some(d.token as usize), want, "row {row}, u = {}", uniforms[row]);
            compared += 1;
        }
    }
    assert!(compared > n / 2, "only {compared} rows away from a boundary");
}

/// Tempered, top-k, top-p and both: `N` draws from one row of logits follow the host's
/// distribution (every token within 5.3 standard deviations of its expected count: a
/// false-failure rate below 1e-5 for the whole test), tokens outside the kept set never come,
/// and each draw's log-probs are the host's.
pub fn truncated_draws_follow_the_host_distribution(device: &Device, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let v = 10;
    let row: Vec<f32> = (0..v).map(|i| i as f32 * 0.45 + rng.random_range(0.0..0.3)).collect();
    let (n, per_call) = (20_000, 4_000);
    let logits: Vec<f32> = row.iter().copied().cycle().take(per_call * v).collect();
    let modes = [
        Sampling { temperature: 0.7, ..Sampling::default() },
        Sampling { top_k: 3, ..Sampling::default() },
        Sampling { temperature: 1.3, top_p: 0.6, ..Sampling::default() },
        Sampling { temperature: 0.9, top_k: 4, top_p: 0.8 },
    ];
    let model = log_softmax(&row, 1.0);
    for s in modes {
        let q = distribution(&row, &s);
        let uniforms: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
        let got: Vec<_> = uniforms
            .chunks(per_call)
            .flat_map(|u| draw(upload(&logits, per_call, v, device), &s, u).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let mut counts = vec![0usize; v];
        for d in &got {
            let t = d.token as usize;
            counts[t] += 1;
            assert!(q[t] > 0.0, "{s:?}: token {t} is outside the kept set {q:?}");
            assert!((d.sample_logp - q[t].ln()).abs() < 1e-4, "{s:?}: log q {} vs {}", d.sample_logp, q[t].ln());
            assert!(close(d.logp, model[t]), "{s:?}: log p {} vs {}", d.logp, model[t]);
        }
        for (t, (&c, &p)) in counts.iter().zip(&q).enumerate() {
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!((c as f64 - n as f64 * p).abs() <= 5.3 * sd + 1.0, "{s:?}: token {t}: {counts:?} vs {q:?}");
        }
        eprintln!("{s:?}: counts {counts:?}");
    }
}
