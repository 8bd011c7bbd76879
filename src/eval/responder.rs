//! Who answers: a [`Responder`] turns conversations (messages + tools) into reply texts, in
//! batches. [`Policy`] is a real model (base or base + adapter) through its own chat template,
//! generating with a KV cache, greedy or sampled; [`Oracle`] writes each request's reference
//! answer (the first acceptable ground-truth calls) as tool-call text, so the whole harness
//! (parsing, checking, multi-turn execution) can be checked on any category.

use serde_json::Value;

use crate::data::task::Message;
use crate::model::{CausalLm, ModelError};
use crate::prompt::Prompter;
use crate::rollout::parallel::in_parallel;
use crate::rollout::{GenerateOptions, generate_part};
use crate::tokenizer::TextTokenizer;
use crate::tools::ToolCall;

/// One conversation to answer.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The conversation so far.
    pub messages: &'a [Message],
    /// Tools offered (JSON Schema functions).
    pub tools: &'a [Value],
    /// The reference answer of this step: the first acceptable ground-truth calls; empty when
    /// no call is right (or the turn's calls were all made). Only [`Oracle`] reads it.
    pub reference: &'a [ToolCall],
}

/// The replies to one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reply {
    /// The prompt text as the model saw it (empty for pseudo-models).
    pub prompt: String,
    /// `samples` reply texts.
    pub texts: Vec<String>,
}

/// Answers requests in batches.
pub trait Responder {
    /// `samples` replies to each request, in order.
    ///
    /// # Errors
    /// Prompt rendering or generation failed.
    fn respond(&mut self, requests: &[Request<'_>], samples: usize) -> Result<Vec<Reply>, ModelError>;
}

/// The reference answer as a model would write it: one `<tool_call>` block per call, or a plain
/// text answer when no call is right.
pub fn render_calls(calls: &[ToolCall]) -> String {
    if calls.is_empty() {
        return "I cannot help with that using the available tools.".into();
    }
    calls.iter().map(ToolCall::render).collect::<Vec<_>>().join("\n")
}

/// The pseudo-model that answers with the reference: it must score 100% wherever BFCL has
/// possible answers (a miss is a harness bug).
#[derive(Clone, Copy, Debug, Default)]
pub struct Oracle;

impl Responder for Oracle {
    fn respond(&mut self, requests: &[Request<'_>], samples: usize) -> Result<Vec<Reply>, ModelError> {
        Ok(requests
            .iter()
            .map(|r| Reply { prompt: String::new(), texts: vec![render_calls(r.reference); samples] })
            .collect())
    }
}

/// A language model (with its adapter, if one is attached) answering through its chat template.
/// On the CPU backend a batch is split into `threads` parts generated at once (one core each);
/// row `r` of the batch samples from its own stream (`generate_part`), so the replies do not
/// depend on the split.
pub struct Policy {
    model: CausalLm,
    tokenizer: TextTokenizer,
    prompter: Prompter,
    options: GenerateOptions,
    threads: usize,
}

impl Policy {
    /// `options.stop_tokens` are taken from the tokenizer when empty.
    pub fn new(model: CausalLm, tokenizer: TextTokenizer, prompter: Prompter, mut options: GenerateOptions) -> Self {
        if options.stop_tokens.is_empty() {
            options.stop_tokens = tokenizer.stop_ids.clone();
        }
        Policy { model, tokenizer, prompter, options, threads: 1 }
    }

    /// Generates each batch in up to `threads` parts at once (1 = the whole batch on one
    /// thread; see `rollout::parallel::threads` for the device's count).
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The prompt text of a request.
    ///
    /// # Errors
    /// The chat template fails.
    pub fn prompt(&self, request: &Request<'_>) -> Result<String, ModelError> {
        self.prompter.render(request.messages, request.tools, true).map_err(|e| ModelError::Input(e.to_string()))
    }
}

impl Responder for Policy {
    fn respond(&mut self, requests: &[Request<'_>], samples: usize) -> Result<Vec<Reply>, ModelError> {
        let prompts: Vec<String> = requests.iter().map(|r| self.prompt(r)).collect::<Result<_, _>>()?;
        let ids: Vec<Vec<u32>> = prompts.iter().map(|p| self.tokenizer.encode(p)).collect::<Result<_, _>>()?;
        // Contiguous parts: part k's first prompt is `k * per_part`, its first row that times
        // `samples` (`in_parallel` returns the parts' outputs in order).
        let per_part = ids.len().div_ceil(self.threads).max(1);
        let parts: Vec<(usize, &[Vec<u32>])> =
            ids.chunks(per_part).enumerate().map(|(k, c)| (k * per_part, c)).collect();
        let (model, options, tokenizer) = (&self.model, &self.options, &self.tokenizer);
        let outs = in_parallel(
            parts,
            self.threads,
            || (),
            |(), (start, part)| {
                generate_part(model, part, samples, options, Some(tokenizer), start * samples, &mut |_, _| {})
            },
        )?;
        let mut replies: Vec<Reply> =
            prompts.into_iter().map(|prompt| Reply { prompt, texts: Vec::with_capacity(samples) }).collect();
        for (k, out) in outs.into_iter().enumerate() {
            let start = k * per_part;
            for s in out?.samples {
                let text = self.tokenizer.decode(&s.tokens, true)?;
                replies[start + s.prompt].texts.push(text);
            }
        }
        Ok(replies)
    }
}
