//! Which weights a forward pass runs ([`Adapter`]), and the LoRA dropout masks: drawn from a
//! seed the trainer derives from the run seed, the step and the micro-batch, so a resumed run
//! and a run on any number of threads draw the same masks.

use std::sync::Mutex;

use burn::tensor::{Distribution, Tensor};

/// Which weights a forward pass runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// The base model alone (the KL reference).
    Off,
    /// The base model and its LoRA adapters.
    On,
    /// The base model and its LoRA adapters with dropout (`lora.dropout`) on the adapters'
    /// inputs, the masks drawn from `seed` (mixed with each layer's name): a training forward.
    Train {
        /// The micro-batch's dropout seed.
        seed: u64,
    },
}

impl From<bool> for Adapter {
    /// `true`: [`Adapter::On`]; `false`: [`Adapter::Off`].
    fn from(on: bool) -> Self {
        if on { Adapter::On } else { Adapter::Off }
    }
}

impl Adapter {
    /// Whether the LoRA adapters take part.
    pub fn is_on(self) -> bool {
        self != Adapter::Off
    }
}

/// burn's random number generators are global per backend: seeding one and drawing from it
/// must not interleave with another thread's seed-and-draw.
static DRAW: Mutex<()> = Mutex::new(());

/// FNV-1a of `name`, mixed into a layer's dropout seed.
pub fn salt(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// `x` with each element zeroed with probability `p` and the rest scaled by `1 / (1 - p)`;
/// the mask depends only on `seed` and `x`'s shape.
pub fn dropout<const N: usize>(x: Tensor<N>, p: f64, seed: u64) -> Tensor<N> {
    if p <= 0.0 {
        return x;
    }
    let device = x.device();
    let keep = {
        let _one_at_a_time = DRAW.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        device.seed(seed);
        Tensor::<N>::random(x.shape(), Distribution::Bernoulli(1.0 - p), &device)
    };
    x * keep.div_scalar(1.0 - p)
}

/// A seed derived from `seed` and `index` (an update iteration, a micro-batch, a step).
pub fn seed_of(seed: u64, index: usize) -> u64 {
    (seed ^ 0x9e37_79b9_7f4a_7c15 ^ (index as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9))
        .wrapping_mul(0x94d0_49bb_1331_11eb)
}
