//! Batched generation with a KV cache. Each of the `P` prompts is prefilled once (all together,
//! right-padded, positions per row) and its cache rows are repeated for the `G` samples of its
//! group; then every unfinished row decodes one token per step. Rows stop on a stop token, a
//! stop string, or `max_new_tokens`; finished rows leave the batch. Row `r = p·G + g` draws from
//! its own stream `row_rng(seed, r)`, so the same seed gives the same tokens whatever else is in
//! the batch.

use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::sampler::{Sampling, row_rng, sample};
use crate::model::{CausalLm, KvCache, ModelError};
use crate::tokenizer::TextTokenizer;

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

/// Logits `[N, V]` of hidden states `[N, D]`, on the host, checked finite.
fn host_logits(model: &CausalLm, hidden: Tensor<2>, adapter: bool) -> Result<Vec<f32>, ModelError> {
    let values = crate::device::to_host(model.logits_of(hidden, adapter.into()), "logits")?;
    if let Some(i) = values.iter().position(|x| !x.is_finite()) {
        let v = model.config().vocab_size;
        return Err(ModelError::Compute(format!("logit {} of row {} is {}", i % v, i / v, values[i])));
    }
    Ok(values)
}

struct Row<'t> {
    sample: Sample,
    rng: ChaCha8Rng,
    opts: &'t GenerateOptions,
    tokenizer: Option<&'t TextTokenizer>,
}

impl Row<'_> {
    /// Draws one token from `logits` `[V]`; `true` while the row goes on.
    fn step(&mut self, logits: &[f32]) -> Result<bool, ModelError> {
        let draw = sample(logits, &self.opts.sampling, &mut self.rng);
        let s = &mut self.sample;
        s.tokens.push(draw.token);
        s.logps.push(draw.logp);
        s.sample_logps.push(draw.sample_logp);
        if self.opts.stop_tokens.contains(&draw.token) {
            s.finish = Finish::StopToken;
            return Ok(false);
        }
        if let Some(tok) = self.tokenizer.filter(|_| !self.opts.stop_strings.is_empty()) {
            let text = tok.decode(&s.tokens, false)?;
            if self.opts.stop_strings.iter().any(|stop| text.contains(stop.as_str())) {
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
    let mut cache = KvCache::new(model, p);
    let hidden = model.extend(&tokens, &real, t, &mut cache, opts.adapter)?;
    stats.prefill_rows = p;
    stats.prefill_tokens = prompts.iter().map(Vec::len).sum();
    let last: Vec<i64> = prompts.iter().enumerate().map(|(i, pr)| (i * t + pr.len() - 1) as i64).collect();
    let last = Tensor::<1, Int>::from_data(TensorData::new(last, [p]), &device);
    let mut logits = host_logits(model, hidden.reshape([p * t, d]).select(0, last), opts.adapter)?;
    // Row r reads logits row `source[k]` of the last pass, `k` its place among the active rows.
    let mut active: Vec<usize> = (0..rows.len()).collect();
    let mut source: Vec<usize> = active.iter().map(|r| r / group).collect();
    let mut cache_rows: Vec<usize> = source.clone();
    loop {
        let mut keep = Vec::with_capacity(active.len());
        for (k, &r) in active.iter().enumerate() {
            let from = source[k] * v;
            let going = rows[r].step(&logits[from..from + v])?;
            on_token(r, *rows[r].sample.tokens.last().unwrap_or(&0));
            if going {
                keep.push(k);
            }
        }
        if keep.is_empty() {
            break;
        }
        let next: Vec<u32> = keep.iter().map(|&k| *rows[active[k]].sample.tokens.last().unwrap_or(&0)).collect();
        cache_rows = keep.iter().map(|&k| cache_rows[k]).collect();
        if cache_rows.len() != cache.rows() || cache_rows.iter().enumerate().any(|(i, &c)| i != c) {
            cache.select_rows(&cache_rows)?;
        }
        cache_rows = (0..keep.len()).collect();
        active = keep.iter().map(|&k| active[k]).collect();
        let n = active.len();
        let hidden = model.extend(&next, &vec![true; n], 1, &mut cache, opts.adapter)?;
        stats.decode_steps += 1;
        stats.decode_tokens += n;
        logits = host_logits(model, hidden.reshape([n, d]), opts.adapter)?;
        source = (0..n).collect();
    }
    Ok(Generation { samples: rows.into_iter().map(|r| r.sample).collect(), stats })
}
