//! Batched generation with a KV cache. Each of the `P` prompts is prefilled once (all together,
//! right-padded, positions per row) and its cache rows are repeated for the `G` samples of its
//! group; then every unfinished row decodes one token per step. Rows stop on a stop token, a
//! stop string, or `max_new_tokens`; finished rows leave the batch. Row `r = p·G + g` draws from
//! its own stream `row_rng(seed, r)`, so the same seed gives the same tokens whatever else is in
//! the batch.

use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use rand::Rng;

use super::device_draw::{CHUNK, MAX_PARTS, draw};
use super::sampler::{Draw, Sampling, is_greedy, row_rng};
use crate::model::{CausalLm, KvCache, ModelError};
use crate::tokenizer::{TextStream, TextTokenizer};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// How each token is drawn.
    pub sampling: Sampling,
    /// Most tokens per sample.
    pub max_new_tokens: usize,
    /// Ids that end a sample (kept as its last token).
    pub stop_tokens: Vec<u32>,
    /// Texts that end a sample once its decoded text contains one (the token completing it is kept).
    pub stop_strings: Vec<String>,
    /// Seed of the rows' random streams.
    pub seed: u64,
    /// Whether the LoRA adapters are on.
    pub adapter: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            sampling: Sampling::default(),
            max_new_tokens: 256,
            stop_tokens: Vec::new(),
            stop_strings: Vec::new(),
            seed: 0,
            adapter: true,
        }
    }
}

/// Why a sample ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// It drew a stop token.
    StopToken,
    /// Its text reached a stop string.
    StopString,
    /// It reached `max_new_tokens`.
    Length,
}

/// One generated sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Index of its prompt.
    pub prompt: usize,
    /// The new tokens.
    pub tokens: Vec<u32>,
    /// `log p(token)` under the model (temperature 1, no truncation), per token.
    pub logps: Vec<f64>,
    /// `log q(token)` under the distribution sampled from (0 for greedy), per token.
    pub sample_logps: Vec<f64>,
    /// Why it ended.
    pub finish: Finish,
}

/// Work counters of one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Prompt rows prefilled (one per prompt, whatever `G`).
    pub prefill_rows: usize,
    /// Prompt tokens prefilled.
    pub prefill_tokens: usize,
    /// Decode forward passes.
    pub decode_steps: usize,
    /// Tokens run through decode passes (rows × steps).
    pub decode_tokens: usize,
}

/// Samples and counters.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// `P·G` samples, prompt-major.
    pub samples: Vec<Sample>,
    /// What it cost.
    pub stats: Stats,
}

/// Draws one token for each row of `hidden` `[N, D]` on the device, a few rows at a time where
/// `[rows, V]` logits would pass the device's storage binding.
fn draws_of(
    model: &CausalLm,
    hidden: Tensor<2>,
    opts: &GenerateOptions,
    uniforms: &[f64],
) -> Result<Vec<Draw>, ModelError> {
    let [n, _] = hidden.dims();
    let v = model.config().vocab_size as u64;
    let limit = crate::device::binding_limit(&model.device()).unwrap_or(u64::MAX);
    let vp = v.next_multiple_of(CHUNK as u64);
    let per = usize::try_from(limit / (8 * vp)).unwrap_or(n).min(MAX_PARTS / (vp as usize / CHUNK)).clamp(1, n.max(1));
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(per) {
        let len = per.min(n - start);
        let logits = model.logits_of(hidden.clone().narrow(0, start, len), opts.adapter.into());
        let u = uniforms.get(start..start + len).unwrap_or(&[]);
        out.extend(draw(logits, &opts.sampling, u)?);
    }
    Ok(out)
}

struct Row<'t> {
    sample: Sample,
    rng: ChaCha8Rng,
    opts: &'t GenerateOptions,
    tokenizer: Option<&'t TextTokenizer>,
    text: TextStream,
}

impl Row<'_> {
    /// Takes one drawn token; `true` while the row goes on.
    fn step(&mut self, draw: Draw) -> Result<bool, ModelError> {
        let s = &mut self.sample;
        s.tokens.push(draw.token);
        s.logps.push(draw.logp);
        s.sample_logps.push(draw.sample_logp);
        if self.opts.stop_tokens.contains(&draw.token) {
            s.finish = Finish::StopToken;
            return Ok(false);
        }
        if let Some(tok) = self.tokenizer.filter(|_| !self.opts.stop_strings.is_empty()) {
            let added = self.text.push(tok, draw.token)?.len();
            if self.text.ends_a_stop(added, &self.opts.stop_strings) {
                s.finish = Finish::StopString;
                return Ok(false);
            }
        }
        Ok(s.tokens.len() < self.opts.max_new_tokens)
    }
}

/// Generates `group` samples for each of `prompts` (token ids, non-empty). `tokenizer` is needed
/// only for stop strings; `on_token(row, token)` sees every token as it is drawn (streaming).
///
/// # Errors
/// An empty prompt, stop strings without a tokenizer, a forward pass that fails or gives
/// non-finite logits.
pub fn generate(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    group: usize,
    opts: &GenerateOptions,
    tokenizer: Option<&TextTokenizer>,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Generation, ModelError> {
    generate_part(model, prompts, group, opts, tokenizer, 0, on_token)
}

/// [`generate`] for a part of a larger batch whose row `first_row` is this call's row 0: row
/// `r` draws from the stream `row_rng(seed, first_row + r)`, so a batch split into parts (run
/// on separate threads) keeps every row's draws.
///
/// # Errors
/// As [`generate`].
pub fn generate_part(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    group: usize,
    opts: &GenerateOptions,
    tokenizer: Option<&TextTokenizer>,
    first_row: usize,
    on_token: &mut dyn FnMut(usize, u32),
) -> Result<Generation, ModelError> {
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(ModelError::Input(format!("prompt {i} is empty")));
    }
    if tokenizer.is_none() && !opts.stop_strings.is_empty() {
        return Err(ModelError::Input("stop strings need a tokenizer".into()));
    }
    let mut rows: Vec<Row> = (0..prompts.len() * group)
        .map(|r| Row {
            sample: Sample {
                prompt: r / group.max(1),
                tokens: Vec::new(),
                logps: Vec::new(),
                sample_logps: Vec::new(),
                finish: Finish::Length,
            },
            rng: row_rng(opts.seed, (first_row + r) as u64),
            opts,
            tokenizer,
            text: TextStream::default(),
        })
        .collect();
    let mut stats = Stats::default();
    if rows.is_empty() || opts.max_new_tokens == 0 {
        return Ok(Generation { samples: rows.into_iter().map(|r| r.sample).collect(), stats });
    }
    let (p, d, v) = (prompts.len(), model.config().hidden_size, model.config().vocab_size);
    let device = model.device();

    // Prefill: one row per prompt.
    let t = prompts.iter().map(Vec::len).max().unwrap_or(1);
    let mut tokens = vec![0u32; p * t];
    let mut real = vec![false; p * t];
    for (i, prompt) in prompts.iter().enumerate() {
        tokens[i * t..i * t + prompt.len()].copy_from_slice(prompt);
        real[i * t..i * t + prompt.len()].fill(true);
    }
    let mut cache = KvCache::with_capacity(model, p, t + opts.max_new_tokens);
    let hidden = model.extend(&tokens, &real, t, &mut cache, opts.adapter)?;
    stats.prefill_rows = p;
    stats.prefill_tokens = prompts.iter().map(Vec::len).sum();
    let last: Vec<i64> = prompts.iter().enumerate().map(|(i, pr)| (i * t + pr.len() - 1) as i64).collect();
    let last = Tensor::<1, Int>::from_data(TensorData::new(last, [p]), &device);
    let mut hidden = hidden.reshape([p * t, d]).select(0, last);
    let greedy = is_greedy(&opts.sampling, v);
    // Active row `k` (sample `active[k]`) is cache row `slot[k]`. A finished row keeps its cache
    // row, fed a filler token, until a quarter of the cache's rows are finished: then the cache
    // drops them (one copy of the cache instead of one per finished row).
    let mut active: Vec<usize> = (0..rows.len()).collect();
    let mut slot: Vec<usize> = active.iter().map(|r| r / group).collect();
    loop {
        if slot.len() != hidden.dims()[0] || slot.iter().enumerate().any(|(k, &c)| c != k) {
            let ids: Vec<i64> = slot.iter().map(|&c| c as i64).collect();
            hidden = hidden.select(0, Tensor::<1, Int>::from_data(TensorData::new(ids, [slot.len()]), &device));
        }
        let uniforms: Vec<f64> =
            if greedy { Vec::new() } else { active.iter().map(|&r| rows[r].rng.random::<f64>()).collect() };
        let draws = draws_of(model, hidden, opts, &uniforms)?;
        let mut keep = Vec::with_capacity(active.len());
        for (k, (&r, draw)) in active.iter().zip(draws).enumerate() {
            let going = rows[r].step(draw)?;
            on_token(r, draw.token);
            if going {
                keep.push(k);
            }
        }
        if keep.is_empty() {
            break;
        }
        active = keep.iter().map(|&k| active[k]).collect();
        slot = keep.iter().map(|&k| slot[k]).collect();
        let shared = slot.windows(2).any(|w| w[0] >= w[1]);
        if shared || 4 * (cache.rows() - slot.len()) >= cache.rows() {
            cache.select_rows(&slot)?;
            slot = (0..active.len()).collect();
        }
        let mut next = vec![0u32; cache.rows()];
        for (&c, &r) in slot.iter().zip(&active) {
            next[c] = *rows[r].sample.tokens.last().unwrap_or(&0);
        }
        let n = cache.rows();
        hidden = model.extend(&next, &vec![true; n], 1, &mut cache, opts.adapter)?.reshape([n, d]);
        stats.decode_steps += 1;
        stats.decode_tokens += n;
    }
    Ok(Generation { samples: rows.into_iter().map(|r| r.sample).collect(), stats })
}
