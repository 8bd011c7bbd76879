//! Text ↔ token ids, through the `tokenizers` crate: from a Hugging Face directory
//! (`tokenizer.json`, plus `tokenizer_config.json` for the chat template and end token) or rebuilt
//! from a GGUF file's metadata (byte-level BPE vocabulary, merges, pre-tokenizer, control tokens,
//! chat template).

use std::path::{Path, PathBuf};

use serde_json::Value;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::{AddedToken, PreTokenizerWrapper};

use crate::model::ModelError;
use crate::model::gguf::{Gguf, Meta};

/// A tokenizer with what generation needs besides it.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    /// Ids that end a turn (`eos_token`, `<|im_end|>`, `<|endoftext|>` where present).
    pub stop_ids: Vec<u32>,
    /// The Jinja chat template, when the files carry one.
    pub chat_template: Option<String>,
    /// The text of the begin-of-sequence token (what templates see as `bos_token`), or "".
    pub bos_token: String,
    /// The text of the end-of-sequence token (`eos_token`), or "".
    pub eos_token: String,
    /// Where the chat template came from (`…/tokenizer_config.json`, a GGUF file), for errors.
    pub template_origin: String,
}

fn bad(path: &Path, field: &str, reason: impl Into<String>) -> ModelError {
    ModelError::Json { path: path.to_path_buf(), field: field.into(), reason: reason.into() }
}

impl TextTokenizer {
    /// `dir/tokenizer.json` and, when present, `dir/tokenizer_config.json`.
    ///
    /// # Errors
    /// A missing or malformed `tokenizer.json`, a malformed `tokenizer_config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join("tokenizer.json");
        if !path.exists() {
            let source = std::io::Error::new(std::io::ErrorKind::NotFound, "the model directory has no tokenizer.json");
            return Err(ModelError::Read { path, source });
        }
        let inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| bad(&path, "(file)", e.to_string()))?;
        let config_path: PathBuf = dir.join("tokenizer_config.json");
        let config: Value = if config_path.exists() {
            let text = std::fs::read_to_string(&config_path)
                .map_err(|source| ModelError::Read { path: config_path.clone(), source })?;
            serde_json::from_str(&text).map_err(|e| bad(&config_path, "(file)", e.to_string()))?
        } else {
            Value::Null
        };
        let token = |key: &str| match &config[key] {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        let (bos, eos) = (token("bos_token"), token("eos_token"));
        let chat_template = config["chat_template"].as_str().map(str::to_string);
        let mut out = Self::with_stops(inner, chat_template, bos, eos);
        out.template_origin = config_path.display().to_string();
        Ok(out)
    }

    /// Rebuilds the tokenizer a GGUF file describes (`tokenizer.ggml.model = gpt2`: byte-level BPE).
    ///
    /// # Errors
    /// A tokenizer model other than byte-level BPE, missing or malformed vocabulary or merges.
    pub fn from_gguf(gguf: &Gguf, path: &Path) -> Result<Self, ModelError> {
        let meta = |k: &str| gguf.metadata.get(k);
        let model = meta("tokenizer.ggml.model").and_then(Meta::as_str).unwrap_or("");
        if model != "gpt2" {
            return Err(ModelError::Unsupported {
                path: path.into(),
                what: format!("GGUF tokenizer model {model:?} (gpt2 BPE is)"),
            });
        }
        let strings = |k: &str| -> Result<Vec<String>, ModelError> {
            match meta(k) {
                Some(Meta::Array(items)) => Ok(items.iter().map(|m| m.as_str().unwrap_or("").to_string()).collect()),
                _ => Err(bad(path, k, "missing or not an array of strings")),
            }
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges: Vec<(String, String)> = strings("tokenizer.ggml.merges")?
            .into_iter()
            .filter_map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
            .collect();
        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| bad(path, "tokenizer.ggml.merges", e.to_string()))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        let byte_level = ByteLevel::new(false, true, true);
        let pre = meta("tokenizer.ggml.pre").and_then(Meta::as_str).unwrap_or("default");
        let pre_tokenizer: PreTokenizerWrapper = match pre {
            // SmolLM: single digits, then GPT-2's byte-level split.
            "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into(),
            _ => byte_level.into(),
        };
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        inner.with_decoder(Some(ByteLevel::default()));
        let types: Vec<u64> = match meta("tokenizer.ggml.token_type") {
            Some(Meta::Array(t)) => t.iter().map(|m| m.as_u64().unwrap_or(1)).collect(),
            _ => Vec::new(),
        };
        // Control (3) and user-defined (4) tokens are matched whole, never split by BPE.
        let special: Vec<AddedToken> = tokens
            .iter()
            .zip(&types)
            .filter(|(_, t)| matches!(t, 3 | 4))
            .map(|(tok, _)| AddedToken::from(tok.clone(), true))
            .collect();
        inner.add_special_tokens(special).map_err(|e| bad(path, "tokenizer.ggml.token_type", e.to_string()))?;
        let named = |k: &str| meta(k).and_then(Meta::as_u64).and_then(|id| tokens.get(id as usize).cloned());
        let (bos, eos) = (named("tokenizer.ggml.bos_token_id"), named("tokenizer.ggml.eos_token_id"));
        let chat_template = meta("tokenizer.chat_template").and_then(Meta::as_str).map(str::to_string);
        let mut out = Self::with_stops(inner, chat_template, bos, eos);
        out.template_origin = format!("{} (tokenizer.chat_template)", path.display());
        Ok(out)
    }

    /// A tokenizer whose stop ids are its end token plus `<|im_end|>` / `<|endoftext|>`.
    fn with_stops(
        inner: tokenizers::Tokenizer,
        chat_template: Option<String>,
        bos: Option<String>,
        eos: Option<String>,
    ) -> Self {
        let mut out = TextTokenizer {
            inner,
            stop_ids: Vec::new(),
            chat_template,
            bos_token: bos.unwrap_or_default(),
            eos_token: eos.clone().unwrap_or_default(),
            template_origin: String::new(),
        };
        out.stop_ids = out.stops(eos.into_iter().collect());
        out
    }

    /// A tokenizer assembled in code (the built-in model's).
    pub fn from_parts(
        inner: tokenizers::Tokenizer,
        stop_ids: Vec<u32>,
        chat_template: Option<String>,
        bos_token: String,
        eos_token: String,
    ) -> Self {
        TextTokenizer { inner, stop_ids, chat_template, bos_token, eos_token, template_origin: String::new() }
    }

    /// Writes `tokenizer.json` (Hugging Face format) to `path`.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save_json(&self, path: &Path) -> Result<(), ModelError> {
        self.inner.save(path, false).map_err(|e| ModelError::Input(format!("cannot write {}: {e}", path.display())))
    }

    /// Ids of the given end tokens plus `<|im_end|>` / `<|endoftext|>` where the vocabulary has them.
    fn stops(&self, names: Vec<String>) -> Vec<u32> {
        let defaults = ["<|im_end|>".to_string(), "<|endoftext|>".to_string()];
        let mut ids: Vec<u32> = names.iter().chain(&defaults).filter_map(|n| self.inner.token_to_id(n)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Token ids of `text`; special tokens written in the text (`<|im_start|>`) are matched
    /// whole; nothing is prepended.
    ///
    /// # Errors
    /// The tokenizer cannot encode the text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let enc = self.inner.encode(text, false).map_err(|e| ModelError::Input(format!("cannot encode text: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens kept or skipped.
    ///
    /// # Errors
    /// Ids outside the vocabulary.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, ModelError> {
        self.inner.decode(ids, skip_special).map_err(|e| ModelError::Input(format!("cannot decode ids: {e}")))
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token, when the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}
