//! The built-in policy that ships with awpo, so `awpo train` runs on a fresh machine with no
//! download: a word-level tokenizer built in code (words, numbers, single punctuation and
//! whitespace characters, ChatML control tokens; its vocabulary is every piece of the generated
//! task set and its demonstrations), a ChatML template, and a tiny Qwen3-architecture decoder,
//! randomly initialised and warm-started by supervised training on demonstrations of the
//! generated tasks (`synth`), so RL starts with signal. Word-level pieces keep sequences
//! short and make copying a value from the request one attention lookup.

use std::collections::BTreeSet;

use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::data::task::Role;
use crate::model::ModelError;
use crate::model::config::{Architecture, ModelConfig};
use crate::synth::{Split as DataSplit, tasks};
use crate::tokenizer::TextTokenizer;

/// ChatML. It reads `tools` (so `tools_in = auto` keeps schemas out of the system message) but
/// shows nothing of them: the built-in model learns its tools from demonstrations.
pub const CHAT_TEMPLATE: &str = "{%- if tools %}{% endif %}{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + \
'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const SPECIAL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Words, runs of digits, and single other characters.
const PIECES: &str = r"[A-Za-z_]+|[0-9]+|[^A-Za-z_0-9]";

/// The pieces of `text`.
fn pieces(text: &str, out: &mut BTreeSet<String>) {
    let mut word = String::new();
    let mut kind = 0u8;
    for c in text.chars() {
        let k = if c.is_ascii_alphabetic() || c == '_' {
            1
        } else if c.is_ascii_digit() {
            2
        } else {
            3
        };
        if k != kind || k == 3 {
            if !word.is_empty() {
                out.insert(std::mem::take(&mut word));
            }
            kind = k;
        }
        word.push(c);
    }
    if !word.is_empty() {
        out.insert(word);
    }
}

/// The word-level tokenizer: ids 0–2 the control tokens, 3 `<unk>`, then every piece of a fixed
/// corpus (generated tasks, the teachers' first messages on them, the template's words), numbers
/// 0–999 and printable ASCII characters, in sorted order; then, appended in sorted order, the
/// pieces only the rest of the teachers' episodes use (the built-in tools' results, the closing
/// messages). Appending keeps the ids of the first part as they were before episodes had more
/// than one message, and so the random embedding row each of those pieces starts from.
///
/// # Errors
/// None in practice (the vocabulary is fixed).
pub fn tokenizer() -> Result<TextTokenizer, ModelError> {
    let (mut set, mut later) = (BTreeSet::new(), BTreeSet::new());
    for split in [DataSplit::Train, DataSplit::HeldOut] {
        for t in tasks(0, split, 2000) {
            pieces(&t.messages[0].content, &mut set);
            for careless in [false, true] {
                let episode = crate::synth::teacher_episode(&t, careless);
                for (i, m) in episode.iter().enumerate() {
                    if i == 0 {
                        pieces(&m.content, &mut set);
                    } else if m.role == Role::Tool {
                        // Tool results are only read, never written: numbers past 999 in them
                        // may stay `<unk>` rather than grow the vocabulary (and the LM head).
                        let mut words = BTreeSet::new();
                        pieces(&m.content, &mut words);
                        later.extend(words.into_iter().filter(|w| !w.bytes().all(|b| b.is_ascii_digit())));
                    } else {
                        pieces(&m.content, &mut later);
                    }
                }
            }
        }
    }
    for w in ["user", "assistant", "system", "tool", "\n"] {
        pieces(w, &mut set);
    }
    set.extend((0..1000).map(|n| n.to_string()));
    set.extend((32u8..127).map(|b| (b as char).to_string()));
    let mut vocab: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
    vocab.push("<unk>".into());
    let appended: Vec<String> = later.difference(&set).cloned().collect();
    vocab.extend(set);
    vocab.extend(appended);
    let map = vocab.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let bad = |e: &dyn std::fmt::Display| ModelError::Input(format!("built-in tokenizer: {e}"));
    let model = WordLevel::builder().vocab(map).unk_token("<unk>".into()).build().map_err(|e| bad(&e))?;
    let mut inner = Tokenizer::new(model);
    let split =
        Split::new(SplitPattern::Regex(PIECES.into()), SplitDelimiterBehavior::Isolated, false).map_err(|e| bad(&e))?;
    inner.with_pre_tokenizer(Some(split));
    inner.with_decoder(Some(Fuse::new()));
    let special: Vec<AddedToken> = SPECIAL.iter().map(|s| AddedToken::from(s.to_string(), true)).collect();
    inner.add_special_tokens(special).map_err(|e| bad(&e))?;
    Ok(TextTokenizer::from_parts(inner, vec![0, 2], Some(CHAT_TEMPLATE.into()), String::new(), "<|im_end|>".into()))
}

/// The tiny decoder: Qwen3 layout (q/k norms, GQA), 3 layers of width 128.
pub fn model_config(vocab_size: usize) -> ModelConfig {
    ModelConfig {
        architecture: Architecture::Qwen3,
        vocab_size,
        hidden_size: 128,
        intermediate_size: 352,
        num_hidden_layers: 3,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 32,
        rms_norm_eps: 1e-6,
        rope_theta: 10_000.0,
        rope_scaling: None,
        tie_word_embeddings: true,
        qkv_bias: false,
        o_bias: false,
        qk_norm: true,
        max_position_embeddings: 512,
    }
}

/// Makes `dir` (which holds the built-in model's `model.safetensors`) a Hugging Face model
/// directory: `config.json`, `tokenizer.json`, `tokenizer_config.json` (the ChatML template), so
/// `awpo eval`, `generate` and `merge` load it like any checkpoint.
///
/// # Errors
/// A file cannot be written.
pub fn write_model_files(dir: &std::path::Path, tokenizer: &TextTokenizer) -> Result<(), ModelError> {
    let c = model_config(tokenizer.vocab_size());
    let config = serde_json::json!({
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "vocab_size": c.vocab_size,
        "hidden_size": c.hidden_size,
        "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads,
        "head_dim": c.head_dim,
        "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta,
        "tie_word_embeddings": c.tie_word_embeddings,
        "max_position_embeddings": c.max_position_embeddings,
        "hidden_act": "silu",
        "torch_dtype": "float32",
        "bos_token_id": null,
        "eos_token_id": 2,
    });
    let tokenizer_config = serde_json::json!({
        "chat_template": CHAT_TEMPLATE,
        "eos_token": "<|im_end|>",
        "bos_token": null,
        "pad_token": "<|endoftext|>",
    });
    for (name, value) in [("config.json", config), ("tokenizer_config.json", tokenizer_config)] {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        std::fs::write(&path, text).map_err(|e| ModelError::Write { path, reason: e.to_string() })?;
    }
    tokenizer.save_json(&dir.join("tokenizer.json"))
}

pub use crate::synth::demonstration;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Split, tasks};

    #[test]
    fn tokenizer_round_trips_and_covers_demonstrations() {
        let tok = tokenizer().expect("tokenizer");
        let text = "<|im_start|>user\nConvert 5 km to m.<|im_end|>\n<|im_start|>assistant\n";
        let ids = tok.encode(text).expect("encode");
        // <|im_start|> user \n Convert ␠ 5 ␠ km ␠ to ␠ m . <|im_end|> \n <|im_start|> assistant \n
        assert_eq!(ids.len(), 1 + 2 + 10 + 1 + 1 + 1 + 2, "one id per piece and control token");
        assert_eq!((ids[0], tok.stop_ids.clone()), (1, vec![0, 2]));
        assert_eq!(tok.decode(&ids, false).expect("decode"), text);
        // Pieces only the later messages of an episode use come after all the others.
        let done = tok.encode("Done").expect("encode")[0];
        assert!(done as usize >= tok.vocab_size() - 16, "appended: {done} of {}", tok.vocab_size());
        for t in tasks(3, Split::Train, 200) {
            let demo = demonstration(&t);
            let ids = tok.encode(&demo).expect("encode");
            assert!(ids.iter().all(|&i| i != 3 && i < done), "no <unk> nor appended piece in {demo}");
            assert_eq!(tok.decode(&ids, false).expect("decode"), demo, "exact round trip");
            // Everything the teachers write, in every message of their episodes, has its pieces.
            for m in [false, true].into_iter().flat_map(|c| crate::synth::teacher_episode(&t, c)) {
                let unknown = m.role == Role::Assistant && tok.encode(&m.content).expect("encode").contains(&3);
                assert!(!unknown, "no <unk> in {}", m.content);
            }
        }
    }
}
