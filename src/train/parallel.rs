//! The gradients of a step's micro-batches, run on several threads on the CPU backend (the part
//! runner, shared with rollouts and evaluation, is `rollout::parallel`).
//!
//! burn's CPU backend keeps about one core busy on the built-in model's small matrices, so the
//! warm-up and the RL train phase run their micro-batches on `threads` threads, each on its own
//! fork of the model (fresh autodiff leaves with the same parameter ids, so the threads' graphs
//! never merge and their backward passes do not wait on one another). Each part's gradients
//! are summed in part order, which makes the result independent of the number of threads: one
//! thread or eight give the same sum, bit for bit.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Tensor;

use crate::model::{CausalLm, ModelError};
pub use crate::rollout::parallel::{in_parallel, threads};

/// The sum of the gradients `f` computes over `parts` (in part order), and each part's other
/// output. `f` gets the model to differentiate (a fork of `model` when there is more than one
/// thread) and one part, and returns that part's gradients (see `model::recompute::gradients`).
///
/// # Errors
/// The first error of `f`, in part order; a worker thread that panicked.
pub fn summed_grads<P, O, E, F>(
    model: &CausalLm,
    parts: Vec<P>,
    threads: usize,
    f: F,
) -> Result<(GradientsParams, Vec<O>), E>
where
    P: Send,
    O: Send,
    E: From<ModelError> + Send,
    F: Fn(&CausalLm, P) -> Result<(GradientsParams, O), E> + Sync,
{
    let threads = threads.clamp(1, parts.len().max(1));
    let device = model.device();
    // One thread differentiates `model` itself; several each take a fork.
    let init = || if threads == 1 { model.clone() } else { model.clone().fork(&device) };
    let results = in_parallel(parts, threads, init, |m, part| f(m, part))?;
    let mut acc = GradientsAccumulator::<CausalLm>::new();
    let mut outs = Vec::with_capacity(results.len());
    for r in results {
        let (grads, out) = r?;
        acc.accumulate(model, grads);
        outs.push(out);
    }
    Ok((acc.grads(), outs))
}

/// Every gradient of `model`'s parameters in `grads`, flattened in visiting order (tests and
/// checks compare gradients computed in different ways with it).
///
/// # Errors
/// A device read-back failed.
pub fn flat_grads(model: &CausalLm, grads: &GradientsParams) -> Result<Vec<f32>, ModelError> {
    use burn::module::{ModuleVisitor, Param};
    struct Flat<'a>(&'a GradientsParams, Vec<f32>, Option<ModelError>);
    impl ModuleVisitor for Flat<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.get::<D>(param.id) {
                let n = g.shape().num_elements();
                match crate::train::optim::host(g.reshape([1, n])) {
                    Ok(v) => self.1.extend(v),
                    Err(e) => self.2 = Some(e),
                }
            }
        }
    }
    let mut v = Flat(grads, Vec::new(), None);
    model.visit(&mut v);
    match v.2 {
        Some(e) => Err(e),
        None => Ok(v.1),
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, TensorData};

    use super::*;
    use crate::device::{Backend, DeviceConfig, select};
    use crate::model::logprob::token_stats;
    use crate::train::builtin_policy::model_config;

    fn flat(model: &CausalLm, grads: &GradientsParams) -> Vec<f32> {
        flat_grads(model, grads).expect("read back")
    }

    #[test]
    fn gradients_are_the_same_on_any_number_of_threads_and_equal_the_whole_batch() {
        use rand::{Rng, SeedableRng};
        let device = select(&DeviceConfig { backend: Backend::Cpu, ..DeviceConfig::default() }).expect("cpu").device;
        let device = device.autodiff();
        let mut cfg = model_config(61);
        (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) = (32, 48, 2);
        (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) = (2, 1, 16);
        let seed = rand::rng().random::<u64>();
        let model = CausalLm::random(cfg, seed, &device).expect("model").unfreeze();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // Six rows of 5..12 random tokens, scored on every position after the first.
        let rows: Vec<Vec<i64>> =
            (0..6).map(|_| (0..rng.random_range(5..12)).map(|_| rng.random_range(0..61)).collect()).collect();
        let grads_of = |m: &CausalLm, part: &[Vec<i64>]| -> Result<(GradientsParams, usize), ModelError> {
            let t = part.iter().map(Vec::len).max().unwrap_or(2);
            let mut ids = vec![0i64; part.len() * t];
            let mut attention = vec![0i64; part.len() * t];
            for (r, row) in part.iter().enumerate() {
                ids[r * t..r * t + row.len()].copy_from_slice(row);
                attention[r * t..r * t + row.len()].iter_mut().for_each(|a| *a = 1);
            }
            let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [part.len(), t]), &device);
            let attention = Tensor::<2, Int>::from_data(TensorData::new(attention, [part.len(), t]), &device);
            let stats = token_stats(m, ids, attention, crate::model::Adapter::On, 4)?;
            Ok((GradientsParams::from_grads(stats.logprobs.sum().neg().backward(), m), part.len()))
        };
        let parts = || rows.chunks(2).collect::<Vec<_>>();
        let (one, n1) = summed_grads(&model, parts(), 1, |m, p| grads_of(m, p)).expect("one thread");
        let (three, n3) = summed_grads(&model, parts(), 3, |m, p| grads_of(m, p)).expect("three threads");
        let (whole, _) = summed_grads(&model, vec![&rows[..]], 1, |m, p| grads_of(m, p)).expect("whole batch");
        assert_eq!((n1, n3), (vec![2, 2, 2], vec![2, 2, 2]), "outputs in part order");
        let (one, three, whole) = (flat(&model, &one), flat(&model, &three), flat(&model, &whole));
        assert!(!one.is_empty() && one.iter().all(|g| g.is_finite()), "finite gradients");
        assert_eq!(one.len(), whole.len());
        assert!(one.iter().zip(&three).all(|(a, b)| a.to_bits() == b.to_bits()), "seed {seed}: bit-identical");
        let scale = whole.iter().fold(0f32, |m, g| m.max(g.abs()));
        let worst = one.iter().zip(&whole).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            scale > 0.0 && worst <= 1e-4 * scale,
            "seed {seed}: parts vs whole batch differ by {worst} (scale {scale})"
        );
    }
}
