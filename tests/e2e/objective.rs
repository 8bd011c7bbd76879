//! The burn tensor-op twin (the path of CPU and CUDA) against the f64 specification.

use awpo::algo::error::LossTensor;
use awpo::algo::{AlgoConfig, KernelMode, LossBatch, ObjectiveError, advantage, loss};
use awpo::selfcheck::{Inputs, compare};
use burn::tensor::{Device, Tensor, TensorData};

use crate::common::{assert_close, configs, finite_difference_check, seed, split_check};

#[test]
fn tensor_twin_matches_the_reference_on_cpu() {
    let device = Device::flex();
    let shapes = [(5, 1, 33), (7, 2, 64), (6, 8, 129), (4, 16, 300), (2, 64, 40), (1, 256, 9)];
    let base_seed = seed("twin sweep");
    for (i, (p, g, t)) in shapes.into_iter().enumerate() {
        let inputs = Inputs::random(p, g, t, base_seed + i as u64);
        for (k, cfg) in configs(KernelMode::Auto).iter().enumerate() {
            let c = compare(&device, &inputs, cfg).expect("valid inputs");
            assert_close(&c, &format!("flex P={p} G={g} T={t} config {k}"));
        }
    }
}

#[test]
fn micro_batches_under_the_whole_batch_normaliser_sum_to_the_whole_batch_on_cpu() {
    split_check(&Device::flex(), KernelMode::Tensor, "tensor twin split on cpu");
}

#[test]
fn tensor_twin_gradient_matches_finite_differences() {
    finite_difference_check(&Device::flex(), KernelMode::Auto, "twin finite differences");
}

#[test]
fn shapes_and_sizes_are_checked_before_any_work() {
    let device = Device::flex();
    let cfg = AlgoConfig::default();
    let empty = Tensor::<3>::zeros([4, 0, 2], &device);
    assert!(matches!(advantage(empty, &cfg), Err(ObjectiveError::Empty { tensor: LossTensor::Rewards, .. })));
    let three = Tensor::<3>::zeros([4, 2, 3], &device);
    assert!(matches!(advantage(three, &cfg), Err(ObjectiveError::Shape { tensor: LossTensor::Rewards, .. })));
    let single = Tensor::<3>::from_data(TensorData::new(vec![0.2f32, 0.7, 1.0, 0.1], [2, 1, 2]), &device);
    let (adv, _) = advantage(single, &cfg).expect("G = 1 is valid");
    assert_eq!(adv.into_data().try_to_vec::<f32>().unwrap(), [0.0, 0.0]);

    let z = |b, t| Tensor::<2>::zeros([b, t], &device);
    let batch = LossBatch {
        logp: z(3, 4),
        old_logp: z(3, 5),
        ref_logp: None,
        adv: Tensor::<1>::zeros([3], &device),
        mask: Tensor::<2>::ones([3, 4], &device),
        norm: None,
    };
    let err = loss(batch.clone(), &cfg).unwrap_err();
    assert_eq!(err, ObjectiveError::Shape { tensor: LossTensor::OldLogProb, expected: vec![3, 4], found: vec![3, 5] });
    let kl = AlgoConfig { kl_beta: 0.1, ..cfg.clone() };
    let err = loss(LossBatch { old_logp: z(3, 4), ..batch.clone() }, &kl).unwrap_err();
    assert!(matches!(err, ObjectiveError::Shape { tensor: LossTensor::RefLogProb, .. }), "{err}");
    let err = loss(LossBatch { old_logp: z(3, 4), adv: Tensor::<1>::zeros([2], &device), ..batch.clone() }, &cfg)
        .unwrap_err();
    assert!(matches!(err, ObjectiveError::Shape { tensor: LossTensor::Advantage, .. }), "{err}");
    let wgsl = AlgoConfig { kernel: KernelMode::Wgsl, ..cfg };
    let err = loss(LossBatch { old_logp: z(3, 4), ..batch }, &wgsl).unwrap_err();
    assert!(matches!(err, ObjectiveError::KernelUnavailable { .. }), "{err}");
}

#[test]
fn non_finite_values_are_named_on_cpu() {
    let device = Device::flex();
    let cfg = AlgoConfig { kl_beta: 0.1, ..AlgoConfig::default() };
    let mut r = vec![0.25f32; 2 * 3 * 2];
    r[2 * 4] = f32::INFINITY; // group 1, sample 1, outcome
    let rewards = Tensor::<3>::from_data(TensorData::new(r, [2, 3, 2]), &device);
    let err = advantage(rewards, &cfg).unwrap_err();
    assert!(err.to_string().contains("outcome reward inf in group 1, sample 1"), "{err}");

    let (b, t) = (2, 3);
    let t2 = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [b, t]), &device);
    let mut refs = vec![-1.0f32; b * t];
    refs[4] = f32::NAN;
    let batch = LossBatch {
        logp: t2(vec![-1.0; b * t]),
        old_logp: t2(vec![-1.0; b * t]),
        ref_logp: Some(t2(refs)),
        adv: Tensor::<1>::from_data(TensorData::new(vec![0.5f32, f32::NAN], [b]), &device),
        mask: t2(vec![1.0; b * t]),
        norm: None,
    };
    // Row 1 carries both a NaN advantage and a NaN ref_logp: the advantage is named first.
    let err = loss(batch.clone(), &cfg).unwrap_err();
    assert!(matches!(err, ObjectiveError::NonFinite { tensor: LossTensor::Advantage, row: 1, col: 0, .. }), "{err}");

    // Finite inputs that overflow: a log-ratio of 100 makes exp() infinite.
    let fine = LossBatch {
        logp: t2(vec![-1.0, -1.0, -1.0, 99.0, -1.0, -1.0]),
        ref_logp: None,
        adv: Tensor::<1>::from_data(TensorData::new(vec![0.5f32, -0.5], [b]), &device),
        ..batch
    };
    let err = loss(fine, &AlgoConfig::default()).unwrap_err();
    assert!(matches!(err, ObjectiveError::Overflow { what: "loss", .. }), "{err}");
    let huge = Tensor::<3>::from_data(TensorData::new(vec![3e38f32, 0.0, 3e38, 0.0], [1, 2, 2]), &device);
    let err = advantage(huge, &AlgoConfig::default()).unwrap_err();
    assert!(matches!(err, ObjectiveError::Overflow { unit: "group", index: 0, .. }), "{err}");
}
