//! `awpo generate`: talk to a model (base or base + adapter) with its own chat template, the
//! reply streamed as it is sampled.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::data::task::{Message, Role};
use crate::device::{self, Backend, DeviceConfig};
use crate::error::{Error, Result};
use crate::model::ModelError;
use crate::prompt::{PromptConfig, Prompter, ToolsIn};
use crate::rollout::{GenerateOptions, Sampling, generate};

/// `awpo generate` options.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A Hugging Face model directory (config.json, model.safetensors, tokenizer.json,
    /// tokenizer_config.json) or a llama.cpp `.gguf` file.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// A PEFT LoRA adapter directory to apply.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// The user message.
    #[arg(long)]
    pub prompt: String,
    /// A system message.
    #[arg(long)]
    pub system: Option<String>,
    /// A JSON file with a list of tools (JSON Schema, `{"type": "function", "function": {…}}`)
    /// offered to the model.
    #[arg(long, value_name = "PATH")]
    pub tools: Option<PathBuf>,
    /// Where tool schemas go: the template's tools branch, the system message, or auto (the
    /// template when it reads `tools`, else the system message).
    #[arg(long, value_enum, default_value = "auto")]
    pub tools_in: ToolsIn,
    /// Feed `--prompt` to the model as is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// Print the rendered prompt to stderr first.
    #[arg(long)]
    pub show_prompt: bool,
    /// Most new tokens per sample.
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 is greedy decoding.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    /// Keep the k most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches p (1 = all).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Seed of the sampler (same seed, same reply).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of replies to sample for the prompt (they share one prefill).
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Stop when the reply contains this text (repeatable); the model's end-of-turn tokens always stop.
    #[arg(long = "stop", value_name = "TEXT")]
    pub stops: Vec<String>,
    /// Backend: auto (hardware GPU, else CPU), wgpu, cpu or cuda.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: Backend,
    /// Precision of the base weights: auto (bf16/f16 where the device computes it, f32 on the
    /// CPU backend), f32, f16 or bf16.
    #[arg(long, value_enum, default_value = "auto")]
    pub dtype: crate::model::BaseDtype,
}

fn prompt_text(args: &GenerateArgs, tokenizer: &crate::tokenizer::TextTokenizer) -> Result<String> {
    if args.raw {
        return Ok(args.prompt.clone());
    }
    let tools: Vec<serde_json::Value> = match &args.tools {
        None => Vec::new(),
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| ModelError::Read { path: path.clone(), source })?;
            let bad = |reason: String| ModelError::Json { path: path.clone(), field: "(file)".into(), reason };
            match serde_json::from_str(&text).map_err(|e| bad(e.to_string()))? {
                serde_json::Value::Array(items) => items,
                _ => return Err(Error::Model(bad("expected a JSON list of tools".into()))),
            }
        }
    };
    let cfg = PromptConfig { tools_in: args.tools_in, ..PromptConfig::default() };
    let prompter = Prompter::new(tokenizer, &cfg)?;
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message { role: Role::System, content: system.clone() });
    }
    messages.push(Message { role: Role::User, content: args.prompt.clone() });
    Ok(prompter.render(&messages, &tools, true)?)
}

/// Runs `awpo generate`: replies on stdout (streamed when there is one), timings on stderr.
///
/// # Errors
/// Unreadable model, adapter, tokenizer or tools file; a template that fails; bad sampling flags.
pub fn run(args: &GenerateArgs) -> Result<bool> {
    let sampling = Sampling { temperature: args.temperature, top_k: args.top_k, top_p: args.top_p };
    if let Some((key, why)) = sampling.problems().into_iter().next() {
        let flag = key.replace("rollout.", "--").replace('_', "-");
        return Err(Error::Model(ModelError::Input(format!("{flag}: {why}"))));
    }
    let selected = device::select(&DeviceConfig { backend: args.device, ..DeviceConfig::default() })?;
    eprintln!("device: {}", selected.description);
    let tokenizer = crate::tokenizer::TextTokenizer::for_model(&args.model)?;
    let text = prompt_text(args, &tokenizer)?;
    if args.show_prompt {
        eprintln!("--- prompt ---\n{text}\n--- end of prompt ---");
    }
    let ids = tokenizer.encode(&text)?;
    let model = crate::cli::model::load(&args.model, args.adapter.as_deref(), args.dtype, &selected.device)?;
    let opts = GenerateOptions {
        sampling,
        max_new_tokens: args.max_new_tokens,
        stop_tokens: tokenizer.stop_ids.clone(),
        stop_strings: args.stops.clone(),
        seed: args.seed,
        adapter: args.adapter.is_some(),
        ..GenerateOptions::default()
    };
    let start = Instant::now();
    let stream = args.samples == 1;
    let mut streamed: Vec<u32> = Vec::new();
    let mut shown = Streamed::default();
    let mut stdout = std::io::stdout();
    let mut on_token = |_row: usize, token: u32| {
        if !stream {
            return;
        }
        streamed.push(token);
        if let Ok(text) = tokenizer.decode(&streamed, true)
            && let Some(new) = shown.update(&text)
        {
            let _ = write!(stdout, "{new}");
            let _ = stdout.flush();
        }
    };
    let out = generate(&model, &[ids], args.samples.max(1), &opts, Some(&tokenizer), &mut on_token)?;
    let elapsed = start.elapsed().as_secs_f64();
    for (i, s) in out.samples.iter().enumerate() {
        if stream {
            let text = tokenizer.decode(&s.tokens, true)?;
            match shown.finish(&text) {
                Ok(rest) => println!("{rest}"),
                Err(whole) => {
                    eprintln!("(the tokenizer revised text already streamed; the whole reply follows)");
                    println!("\n{whole}");
                }
            }
        } else {
            println!("--- sample {} ({:?}) ---\n{}", i + 1, s.finish, tokenizer.decode(&s.tokens, true)?);
        }
    }
    let new: usize = out.samples.iter().map(|s| s.tokens.len()).sum();
    eprintln!(
        "{new} new tokens in {elapsed:.2} s ({:.1} tokens/s); prompt {} tokens prefilled once",
        new as f64 / elapsed.max(1e-9),
        out.stats.prefill_tokens
    );
    Ok(true)
}

/// What of a reply decoded so far can be printed: only whole characters (text that ends in
/// U+FFFD may be a multi-byte character split across tokens, so it waits for the next token),
/// only the part past what is already printed, and only while the decoded text extends it.
#[derive(Debug, Default)]
pub struct Streamed {
    printed: String,
    diverged: bool,
}

impl Streamed {
    /// The new text to print, given the whole reply decoded so far.
    pub fn update(&mut self, decoded: &str) -> Option<String> {
        if self.diverged || decoded.ends_with('\u{FFFD}') {
            return None;
        }
        let Some(new) = decoded.strip_prefix(self.printed.as_str()) else {
            // A decoder that revised text already printed: stop streaming (see `finish`).
            self.diverged = true;
            return None;
        };
        if new.is_empty() {
            return None;
        }
        let new = new.to_string();
        self.printed.push_str(&new);
        Some(new)
    }

    /// At the end, given the final reply: `Ok(the rest to print)`, or `Err(the whole reply)` when
    /// what was printed is not its beginning (a decoder that revised earlier text).
    ///
    /// # Errors
    /// The printed text is not a prefix of `decoded`: the caller prints `decoded` whole.
    pub fn finish(&mut self, decoded: &str) -> std::result::Result<String, String> {
        let rest = decoded.strip_prefix(self.printed.as_str()).map(str::to_string);
        self.printed = decoded.to_string();
        self.diverged = false;
        rest.ok_or_else(|| decoded.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams `tokens` (byte strings) through a byte-level decode of the prefix so far, as
    /// the tokenizer's `decode` does (lossy UTF-8); returns what was printed.
    fn stream(tokens: &[&[u8]]) -> (Vec<String>, std::result::Result<String, String>) {
        let mut s = Streamed::default();
        let mut bytes = Vec::new();
        let mut pieces = Vec::new();
        for t in tokens {
            bytes.extend_from_slice(t);
            pieces.extend(s.update(&String::from_utf8_lossy(&bytes)));
        }
        (pieces, s.finish(&String::from_utf8_lossy(&bytes)))
    }

    #[test]
    fn every_split_of_multi_byte_characters_prints_whole_characters_once() {
        let text = "aé€😀 b€\u{10FFFF}ü";
        let bytes = text.as_bytes();
        // Every way to cut the text into 1 to 3 tokens at any byte, and one token per byte.
        let mut splits: Vec<Vec<usize>> = vec![(1..bytes.len()).collect()];
        for i in 1..bytes.len() {
            splits.push(vec![i]);
            for j in i + 1..bytes.len() {
                splits.push(vec![i, j]);
            }
        }
        for cuts in splits {
            let bounds: Vec<usize> = std::iter::once(0).chain(cuts.iter().copied()).chain([bytes.len()]).collect();
            let tokens: Vec<&[u8]> = bounds.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
            let (pieces, rest) = stream(&tokens);
            for p in &pieces {
                assert!(!p.contains('\u{FFFD}'), "{cuts:?}: a partial character was printed: {pieces:?}");
            }
            let rest = rest.expect("the printed text is a prefix");
            assert_eq!(pieces.concat() + &rest, text, "{cuts:?}");
        }
    }

    #[test]
    fn a_decoder_that_revises_printed_text_stops_the_stream_without_panicking() {
        let mut s = Streamed::default();
        assert_eq!(s.update("abc"), Some("abc".into()));
        // The earlier text changes under a later token: byte 3, where the printed text ended,
        // is inside the second `é` of the new text.
        assert_eq!(s.update("ééx"), None);
        assert_eq!(s.update("ééxy"), None, "no more streaming once revised");
        assert_eq!(s.finish("ééxyz"), Err("ééxyz".into()));
        // A genuine replacement character is printed once text follows it.
        let mut s = Streamed::default();
        assert_eq!(s.update("x\u{FFFD}"), None);
        assert_eq!(s.update("x\u{FFFD}y"), Some("x\u{FFFD}y".into()));
        assert_eq!(s.finish("x\u{FFFD}yz"), Ok("z".into()));
    }
}
