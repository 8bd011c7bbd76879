//! Work split into parts and run on threads on the CPU backend, outputs kept in part order:
//! rollout parts (`train::episode`), micro-batches (`train::parallel`) and evaluation batches
//! (`eval::Policy`). burn's CPU backend keeps about one core busy per call, so a batch split
//! across threads runs on all cores; GPU backends get one thread (their kernels fill the device).

use crate::model::ModelError;

/// How many threads to use on `device` for `wanted` (0 = one per core): the CPU backend only;
/// GPU backends get one (their kernels already fill the device).
pub fn threads(device: &burn::tensor::Device, wanted: usize) -> usize {
    if !crate::device::is_cpu(device) {
        return 1;
    }
    if wanted > 0 {
        return wanted;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `f(&state, part)` for every part, on up to `threads` threads (thread k takes parts k,
/// k + threads, ...; each makes its `state` once with `init`); the outputs in part order.
///
/// # Errors
/// A thread that panicked (a bug in burn or here), reported instead of the outputs it left.
pub fn in_parallel<P, O, S>(
    parts: Vec<P>,
    threads: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&S, P) -> O + Sync,
) -> Result<Vec<O>, ModelError>
where
    P: Send,
    O: Send,
{
    let n = parts.len();
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        let state = init();
        return Ok(parts.into_iter().map(|p| f(&state, p)).collect());
    }
    let mut queues: Vec<Vec<(usize, P)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, p) in parts.into_iter().enumerate() {
        queues[i % threads].push((i, p));
    }
    let mut slots: Vec<Option<O>> = (0..n).map(|_| None).collect();
    std::thread::scope(|scope| {
        let (init, f) = (&init, &f);
        let handles: Vec<_> = queues
            .into_iter()
            .map(|queue| {
                scope.spawn(move || {
                    let state = init();
                    queue.into_iter().map(|(i, p)| (i, f(&state, p))).collect::<Vec<_>>()
                })
            })
            .collect();
        for done in handles.into_iter().filter_map(|h| h.join().ok()) {
            for (i, out) in done {
                slots[i] = Some(out);
            }
        }
    });
    slots.into_iter().map(|s| s.ok_or_else(|| ModelError::Compute("a worker thread panicked".into()))).collect()
}
