//! The tokenizer a GGUF file describes (`tokenizer.ggml.model = gpt2`: byte-level BPE), rebuilt
//! as a Hugging Face `tokenizers` tokenizer that gives llama.cpp's ids: vocabulary, merges,
//! control and user-defined tokens, and the pre-tokenizer `tokenizer.ggml.pre` names, mapped
//! exactly as llama.cpp's `llama_vocab::load` maps it (llama.cpp as vendored in
//! llama-cpp-python 0.3.36):
//!
//! | llama.cpp type | `tokenizer.ggml.pre` | pre-tokenizer |
//! |---|---|---|
//! | LLAMA3 | llama3, llama-v3, llama-bpe, falcon3, falcon-h1, pixtral, midm-2.0, lfm2, jina-v5-nano | [`LLAMA3`] split, byte-level; BPE ignores merges for pieces in the vocabulary |
//! | QWEN2 | qwen2, deepseek-r1-qwen, kormo, f2llmv2, megrez, stablelm2, hunyuan, solar-open | [`QWEN2`] split, byte-level |
//! | GPT2 | gpt-2, phi-2, jina-es, jina-de, gigachat, jina-v2-es, jina-v2-de, a.x-4.0, mellum, modern-bert, jina-v1-en, jina-v2-code, roberta-bpe, exaone4, mpt, olmo, jais, trillion, granite-docling | GPT-2's byte-level regex |
//! | SMOLLM | smollm, codeshell, exaone, minerva-7b, mellum2 | single digits, then GPT-2's |
//! | DEFAULT | `default`, or the key missing (llama.cpp warns and does the same) | llama.cpp's four default regexes in turn |
//!
//! Every other value is an error, as in llama.cpp. The types sharing a row share llama.cpp's
//! regexes and BPE settings (they differ there only in decoding or BOS handling, which awpo takes
//! from the chat template). Tested against llama.cpp's own vectors for qwen2, llama-bpe and
//! gpt-2 (`tests/e2e/gguf_vocab.rs`) and SmolLM2's GGUF; DEFAULT has no vectors.
//! fancy-regex (inside `tokenizers`) gives up on a run of about a million whitespace characters
//! (`\s+(?!\S)` backtracks); 100,000 are fine.

use std::collections::HashMap;
use std::path::Path;

use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

use super::{TextTokenizer, bad};
use crate::model::ModelError;
use crate::model::gguf::{Gguf, Meta};

/// llama.cpp's LLAMA3 regex (its case-insensitive contractions spelled out, as llama.cpp does).
pub const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's QWEN2 regex: LLAMA3's with single digits.
pub const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's GPT2 regex (as in its DEFAULT list).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// llama.cpp's DEFAULT regexes, applied one after the other.
const DEFAULT: [&str; 4] = [r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"];

/// llama.cpp's pre-tokenizer types that awpo builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreType {
    /// Llama 3 and its aliases.
    Llama3,
    /// Qwen2 and its aliases.
    Qwen2,
    /// GPT-2's regex.
    Gpt2,
    /// Single digits, then GPT-2's regex.
    Smollm,
    /// llama.cpp's default (no or `default` pre-tokenizer).
    Default,
}

/// `tokenizer.ggml.pre` values per type, as llama.cpp maps them.
const NAMES: [(PreType, &[&str]); 5] = [
    (
        PreType::Llama3,
        &["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"],
    ),
    (
        PreType::Qwen2,
        &["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open"],
    ),
    (
        PreType::Gpt2,
        &[
            "gpt-2",
            "phi-2",
            "jina-es",
            "jina-de",
            "gigachat",
            "jina-v2-es",
            "jina-v2-de",
            "a.x-4.0",
            "mellum",
            "modern-bert",
            "jina-v1-en",
            "jina-v2-code",
            "roberta-bpe",
            "exaone4",
            "mpt",
            "olmo",
            "jais",
            "trillion",
            "granite-docling",
        ],
    ),
    (PreType::Smollm, &["smollm", "codeshell", "exaone", "minerva-7b", "mellum2"]),
    (PreType::Default, &["default"]),
];

/// The type of a `tokenizer.ggml.pre` value (`None`: the key is missing), or `Err` with the
/// list of supported values.
pub fn pre_type(pre: Option<&str>) -> Result<PreType, String> {
    let Some(pre) = pre else { return Ok(PreType::Default) };
    NAMES.iter().find(|(_, names)| names.contains(&pre)).map(|(t, _)| *t).ok_or_else(|| {
        let all: Vec<&str> = NAMES.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        format!("pre-tokenizer {pre:?} (supported: {})", all.join(", "))
    })
}

fn split(pattern: &str) -> Result<PreTokenizerWrapper, String> {
    Split::new(SplitPattern::Regex(pattern.into()), SplitDelimiterBehavior::Isolated, false)
        .map(Into::into)
        .map_err(|e| format!("regex {pattern:?}: {e}"))
}

/// The pre-tokenizer of a type, and whether its BPE ignores merges for whole vocabulary pieces.
pub fn pre_tokenizer(t: PreType) -> Result<(PreTokenizerWrapper, bool), String> {
    // After a regex split, the byte-level step only maps bytes (no second regex).
    let bytes_only = || ByteLevel::new(false, false, false).into();
    Ok(match t {
        PreType::Llama3 => (Sequence::new(vec![split(LLAMA3)?, bytes_only()]).into(), true),
        PreType::Qwen2 => (Sequence::new(vec![split(QWEN2)?, bytes_only()]).into(), false),
        PreType::Gpt2 => (ByteLevel::new(false, true, true).into(), false),
        PreType::Smollm => {
            (Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]).into(), false)
        }
        PreType::Default => {
            let mut steps = DEFAULT.iter().map(|p| split(p)).collect::<Result<Vec<_>, _>>()?;
            steps.push(bytes_only());
            (Sequence::new(steps).into(), false)
        }
    })
}

impl TextTokenizer {
    /// Rebuilds the tokenizer of a GGUF model (see [`TextTokenizer::from_gguf_metadata`]).
    ///
    /// # Errors
    /// As [`TextTokenizer::from_gguf_metadata`].
    pub fn from_gguf(gguf: &Gguf, path: &Path) -> Result<Self, ModelError> {
        Self::from_gguf_metadata(&gguf.metadata, path)
    }

    /// Rebuilds the tokenizer that GGUF metadata describes.
    ///
    /// # Errors
    /// A tokenizer model other than byte-level BPE, an unknown `tokenizer.ggml.pre`, missing or
    /// malformed vocabulary, token types or merges (each named).
    pub fn from_gguf_metadata(metadata: &HashMap<String, Meta>, path: &Path) -> Result<Self, ModelError> {
        let meta = |k: &str| metadata.get(k);
        let model = meta("tokenizer.ggml.model").and_then(Meta::as_str).unwrap_or("");
        if model != "gpt2" {
            return Err(ModelError::Unsupported {
                path: path.into(),
                what: format!("GGUF tokenizer model {model:?} (gpt2 BPE is)"),
            });
        }
        let pre = match meta("tokenizer.ggml.pre") {
            None => None,
            Some(m) => Some(m.as_str().ok_or_else(|| bad(path, "tokenizer.ggml.pre", "not a string"))?),
        };
        let kind = pre_type(pre).map_err(|what| ModelError::Unsupported { path: path.into(), what })?;
        if pre.is_none() {
            tracing::warn!("{}: no tokenizer.ggml.pre; using llama.cpp's default pre-tokenizer", path.display());
        }
        let (pre_tokenizer, ignore_merges) = pre_tokenizer(kind).map_err(|e| bad(path, "tokenizer.ggml.pre", e))?;
        let strings = |k: &str| -> Result<Vec<String>, ModelError> {
            let Some(Meta::Array(items)) = meta(k) else { return Err(bad(path, k, "missing or not an array")) };
            let text = |(i, m): (usize, &Meta)| {
                m.as_str().map(str::to_string).ok_or_else(|| bad(path, &format!("{k}[{i}]"), "not a string"))
            };
            items.iter().enumerate().map(text).collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let mut merges = Vec::new();
        for (i, m) in strings("tokenizer.ggml.merges")?.into_iter().enumerate() {
            // llama.cpp splits at the first space after the first byte.
            let at = m.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1);
            let Some(at) = at else {
                return Err(bad(path, &format!("tokenizer.ggml.merges[{i}]"), format!("{m:?} has no space")));
            };
            merges.push((m[..at].to_string(), m[at + 1..].to_string()));
        }
        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(ignore_merges)
            .build()
            .map_err(|e| bad(path, "tokenizer.ggml.merges", e.to_string()))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        inner.with_decoder(Some(ByteLevel::default()));
        let types: Vec<u64> = match meta("tokenizer.ggml.token_type") {
            Some(Meta::Array(t)) => t.iter().map(|m| m.as_u64().unwrap_or(1)).collect(),
            _ => Vec::new(),
        };
        // Control tokens (3) are special; user-defined ones (4, e.g. Qwen2.5's `<tool_call>`) are
        // matched whole too but are text, kept when decoding skips special tokens (as in HF).
        let added = |kind: u64| -> Vec<AddedToken> {
            tokens
                .iter()
                .zip(&types)
                .filter(|(_, t)| **t == kind)
                .map(|(tok, _)| AddedToken::from(tok.clone(), kind == 3))
                .collect()
        };
        inner.add_special_tokens(added(3)).map_err(|e| bad(path, "tokenizer.ggml.token_type", e.to_string()))?;
        inner.add_tokens(added(4)).map_err(|e| bad(path, "tokenizer.ggml.token_type", e.to_string()))?;
        let named = |k: &str| meta(k).and_then(Meta::as_u64).and_then(|id| tokens.get(id as usize).cloned());
        let (bos, eos) = (named("tokenizer.ggml.bos_token_id"), named("tokenizer.ggml.eos_token_id"));
        let chat_template = meta("tokenizer.chat_template").and_then(Meta::as_str).map(str::to_string);
        let mut out = Self::with_stops(inner, chat_template, bos, eos);
        out.template_origin = format!("{} (tokenizer.chat_template)", path.display());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pre_names_map_like_llama_cpp() {
        let cases = [
            (Some("llama-bpe"), PreType::Llama3),
            (Some("falcon3"), PreType::Llama3),
            (Some("qwen2"), PreType::Qwen2),
            (Some("deepseek-r1-qwen"), PreType::Qwen2),
            (Some("gpt-2"), PreType::Gpt2),
            (Some("roberta-bpe"), PreType::Gpt2),
            (Some("smollm"), PreType::Smollm),
            (Some("default"), PreType::Default),
            (None, PreType::Default),
        ];
        for (pre, want) in cases {
            assert_eq!(pre_type(pre), Ok(want), "{pre:?}");
        }
        for unknown in ["gpt2", "qwen35", "deepseek-coder", "LLAMA3", ""] {
            let err = pre_type(Some(unknown)).err().unwrap_or_default();
            assert!(err.contains(&format!("{unknown:?}")) && err.contains("llama-bpe, falcon3"), "{err}");
        }
        for (t, names) in NAMES {
            assert!(pre_tokenizer(t).is_ok(), "{t:?} builds");
            assert!(names.iter().all(|n| pre_type(Some(n)) == Ok(t)), "{t:?}: every alias maps back");
        }
    }

    #[test]
    fn regexes_split_as_llama_cpp_documents() {
        use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};
        let pieces = |t: PreType, text: &str| -> Vec<String> {
            let mut s = PreTokenizedString::from(text);
            let (pre, _) = pre_tokenizer(t).unwrap_or_else(|e| panic!("{e}"));
            pre.pre_tokenize(&mut s).unwrap_or_else(|e| panic!("{e}"));
            s.get_splits(OffsetReferential::Original, OffsetType::Byte)
                .into_iter()
                .map(|(p, _, _)| p.to_string())
                .collect()
        };
        // Llama 3 groups digits by three, Qwen2 splits every digit; both keep "'VE" as a contraction.
        assert_eq!(pieces(PreType::Llama3, "I'VE 12345"), ["I", "'VE", "Ġ", "123", "45"]);
        assert_eq!(pieces(PreType::Qwen2, "I'VE 12345"), ["I", "'VE", "Ġ", "1", "2", "3", "4", "5"]);
        assert_eq!(pieces(PreType::Gpt2, "I'VE 12345"), ["I", "'", "VE", "Ġ12345"]);
        assert_eq!(pieces(PreType::Smollm, "ab 12"), ["ab", "Ġ", "1", "2"]);
    }
}
