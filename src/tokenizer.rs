//! Text ↔ token ids, through the `tokenizers` crate: from a Hugging Face directory
//! (`tokenizer.json`, plus `tokenizer_config.json` for the chat template and end token) or rebuilt
//! from a GGUF file's metadata (byte-level BPE vocabulary, merges, llama.cpp's pre-tokenizers,
//! control tokens, chat template: see `tokenizer/gguf.rs`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::model::ModelError;

mod gguf;
pub mod stream;

pub use stream::TextStream;

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

    /// The tokenizer of a model: a directory's `tokenizer.json` (+ `tokenizer_config.json`) or a
    /// `.gguf` file's metadata.
    ///
    /// # Errors
    /// As [`TextTokenizer::from_dir`] and [`TextTokenizer::from_gguf`].
    pub fn for_model(model: &Path) -> Result<Self, ModelError> {
        if model.extension().is_some_and(|e| e == "gguf") {
            Self::from_gguf(&crate::model::gguf::Gguf::open(model)?, model)
        } else {
            Self::from_dir(model)
        }
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
