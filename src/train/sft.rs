//! Supervised warm-up of the built-in model: every weight trained (burn's AdamW) on
//! demonstrations with the mean negative log-likelihood of the reply tokens, then frozen again,
//! so RL starts from a model that answers in the `<tool_call>` format and adapts it through LoRA.
//! A share `mistake_rate` of the demonstrations (drawn per task from the seed) come from the
//! careless teacher (`data::synth::teacher_reply`), whose mistakes RL then has to unlearn.

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use indicatif::ProgressBar;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::batch::{Row, build};
use super::config::{OptimSection, Schedule};
use crate::data::synth::teacher_reply;
use crate::data::task::Task;
use crate::model::logprob::token_stats;
use crate::model::{CausalLm, ModelError};
use crate::tokenizer::TextTokenizer;

/// Trains every weight of `model` (on an autodiff device) for `steps` batches of `batch`
/// demonstrations (a share `mistake_rate` of them careless), then freezes it; returns the mean
/// loss of the last 10 steps.
///
/// # Errors
/// Tokenisation or a non-finite loss.
#[allow(clippy::too_many_arguments)]
pub fn warm_up(
    mut model: CausalLm,
    tokenizer: &TextTokenizer,
    prompts: &[Vec<u32>],
    tasks: &[Task],
    steps: usize,
    batch: usize,
    lr: f64,
    mistake_rate: f64,
    seed: u64,
    progress: &ProgressBar,
) -> Result<(CausalLm, f64), ModelError> {
    let mut teacher = ChaCha8Rng::seed_from_u64(seed ^ 0x7ea);
    let replies: Vec<Vec<u32>> = tasks
        .iter()
        .map(|t| {
            let careless = teacher.random_bool(mistake_rate.clamp(0.0, 1.0));
            let mut ids = tokenizer.encode(&teacher_reply(t, careless))?;
            ids.extend(tokenizer.stop_ids.iter().rev().take(1));
            Ok(ids)
        })
        .collect::<Result<_, ModelError>>()?;
    model = model.unfreeze();
    let schedule = OptimSection {
        lr,
        warmup_steps: steps.min(10),
        schedule: Schedule::Cosine,
        min_lr_ratio: 0.1,
        weight_decay: 0.0,
        ..OptimSection::default()
    };
    // PyTorch's AdamW defaults, written out (burn's differ).
    let mut optim =
        AdamWConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).with_weight_decay(0.0).init();
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5f7);
    let mut cursor = order.len();
    let mut recent = Vec::new();
    let device = model.device();
    for step in 0..steps {
        let mut pick = Vec::with_capacity(batch);
        while pick.len() < batch.min(order.len()) {
            if cursor == order.len() {
                order.shuffle(&mut rng);
                cursor = 0;
            }
            pick.push(order[cursor]);
            cursor += 1;
        }
        let rows: Vec<Row> =
            pick.iter().map(|&i| Row { prompt: &prompts[i], response: &replies[i], values: &[] }).collect();
        let b = build(&rows, &device);
        let stats = token_stats(&model, b.tokens, b.attention, true, 128)?;
        let loss = stats.logprobs.mul(b.mask).sum().neg().div_scalar(b.response_tokens.max(1) as f64);
        let value: f32 = loss.clone().into_scalar();
        let value = f64::from(value);
        if !value.is_finite() {
            return Err(ModelError::Compute(format!("supervised loss is {value} at step {step}")));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(schedule.lr_at(step, steps), model, grads);
        recent.push(value);
        if recent.len() > 10 {
            recent.remove(0);
        }
        progress.set_message(format!("loss {value:.3}"));
        progress.inc(1);
        if progress.is_hidden() && (step + 1) % (steps / 10).max(1) == 0 {
            eprintln!("warm-up step {}/{steps}: loss {value:.3} ({:.1?} elapsed)", step + 1, progress.elapsed());
        }
    }
    Ok((model.freeze(), recent.iter().sum::<f64>() / recent.len().max(1) as f64))
}
