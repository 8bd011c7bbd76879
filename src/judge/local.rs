//! A judge run on a model loaded through awpo's own stack: the same prompt as the HTTP judge,
//! rendered with the judge model's chat template, answered greedily in one batch (KV cache),
//! and parsed the same way.

use std::path::Path;

use burn::tensor::Device;

use super::prompt::{fill, parse_score};
use super::{Judge, JudgeConfig, JudgeError, JudgeRequest};
use crate::data::task::{Message, Role};
use crate::model::CausalLm;
use crate::prompt::{PromptConfig, Prompter};
use crate::rollout::{GenerateOptions, Sampling, generate};
use crate::tokenizer::TextTokenizer;

/// The local judge.
pub struct LocalJudge {
    model: CausalLm,
    tokenizer: TextTokenizer,
    prompter: Prompter,
    cfg: JudgeConfig,
}

impl LocalJudge {
    /// Loads `cfg.local_model` (a Hugging Face directory or `.gguf` file) on `device`.
    ///
    /// # Errors
    /// The model, tokenizer or chat template cannot be loaded.
    pub fn load(cfg: &JudgeConfig, device: &Device) -> Result<Self, JudgeError> {
        let path = Path::new(&cfg.local_model);
        let model = CausalLm::load(path, device).map_err(|e| JudgeError::Model(e.to_string()))?;
        let tokenizer = if path.extension().is_some_and(|e| e == "gguf") {
            crate::model::gguf::Gguf::open(path).and_then(|g| TextTokenizer::from_gguf(&g, path))
        } else {
            TextTokenizer::from_dir(path)
        }
        .map_err(|e| JudgeError::Model(e.to_string()))?;
        Self::new(model, tokenizer, cfg)
    }

    /// A judge over an already loaded model.
    ///
    /// # Errors
    /// The tokenizer has no usable chat template.
    pub fn new(model: CausalLm, tokenizer: TextTokenizer, cfg: &JudgeConfig) -> Result<Self, JudgeError> {
        let prompter =
            Prompter::new(&tokenizer, &PromptConfig::default()).map_err(|e| JudgeError::Model(e.to_string()))?;
        Ok(LocalJudge { model, tokenizer, prompter, cfg: cfg.clone() })
    }

    fn texts(&self, requests: &[JudgeRequest]) -> Result<Vec<String>, JudgeError> {
        let model_err = |e: &dyn std::fmt::Display| JudgeError::Model(e.to_string());
        let mut prompts = Vec::with_capacity(requests.len());
        for r in requests {
            let messages = [Message { role: Role::User, content: fill(&self.cfg.prompt, r) }];
            let text = self.prompter.render(&messages, &[], true).map_err(|e| model_err(&e))?;
            prompts.push(self.tokenizer.encode(&text).map_err(|e| model_err(&e))?);
        }
        let opts = GenerateOptions {
            sampling: Sampling { temperature: 0.0, ..Sampling::default() },
            max_new_tokens: self.cfg.max_tokens,
            stop_tokens: self.tokenizer.stop_ids.clone(),
            adapter: false,
            ..GenerateOptions::default()
        };
        let out = generate(&self.model, &prompts, 1, &opts, None, &mut |_, _| {}).map_err(|e| model_err(&e))?;
        out.samples.iter().map(|s| self.tokenizer.decode(&s.tokens, true).map_err(|e| model_err(&e))).collect()
    }
}

impl Judge for LocalJudge {
    fn score(&self, requests: &[JudgeRequest]) -> Vec<Result<f64, JudgeError>> {
        let fallback = |e: JudgeError| match self.cfg.fallback {
            Some(f) => Ok(f),
            None => Err(e),
        };
        match self.texts(requests) {
            Ok(texts) => texts
                .into_iter()
                .map(|t| {
                    parse_score(&t, self.cfg.scale)
                        .map_err(|reason| JudgeError::Unparsable {
                            url: "local".into(),
                            reason,
                            text: t.chars().take(200).collect(),
                        })
                        .or_else(fallback)
                })
                .collect(),
            Err(e) => {
                let msg = e.to_string();
                requests.iter().map(|_| fallback(JudgeError::Model(msg.clone()))).collect()
            }
        }
    }
}
