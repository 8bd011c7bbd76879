//! The built-in policy that ships with awpo, so `awpo train` runs on a fresh machine with no
//! download: a character-level tokenizer built in code (printable ASCII, newline, ChatML
//! control tokens), a ChatML template, and a tiny Qwen3-architecture decoder, randomly
//! initialised and warm-started by supervised training on demonstrations of the generated
//! tasks (`data::synth`), so RL starts with signal.

use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::bpe::BPE;
use tokenizers::{AddedToken, Tokenizer};

use crate::model::config::{Architecture, ModelConfig};
use crate::model::ModelError;
use crate::tokenizer::TextTokenizer;

/// ChatML, without a tools branch: the built-in model learns its tools from demonstrations.
pub const CHAT_TEMPLATE: &str = "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + \
'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const SPECIAL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// The character-level tokenizer: ids 0–2 the control tokens, 3 `<unk>`, then `\n` and printable ASCII.
///
/// # Errors
/// None in practice (the vocabulary is fixed).
pub fn tokenizer() -> Result<TextTokenizer, ModelError> {
    let mut vocab: Vec<String> = SPECIAL.iter().map(|s| s.to_string()).collect();
    vocab.push("<unk>".into());
    vocab.push("\n".into());
    vocab.extend((32u8..127).map(|b| (b as char).to_string()));
    let map: tokenizers::models::bpe::Vocab = vocab.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let bad = |e: &dyn std::fmt::Display| ModelError::Input(format!("built-in tokenizer: {e}"));
    let bpe = BPE::builder().vocab_and_merges(map, Vec::new()).unk_token("<unk>".into()).build().map_err(|e| bad(&e))?;
    let mut inner = Tokenizer::new(bpe);
    inner.with_decoder(Some(Fuse::new()));
    let special: Vec<AddedToken> = SPECIAL.iter().map(|s| AddedToken::from(s.to_string(), true)).collect();
    inner.add_special_tokens(special).map_err(|e| bad(&e))?;
    Ok(TextTokenizer::from_parts(inner, vec![0, 2], Some(CHAT_TEMPLATE.into()), String::new(), "<|im_end|>".into()))
}

/// The tiny decoder: Qwen3 layout (q/k norms, GQA), 3 layers of width 96.
pub fn model_config(vocab_size: usize) -> ModelConfig {
    ModelConfig {
        architecture: Architecture::Qwen3,
        vocab_size,
        hidden_size: 96,
        intermediate_size: 256,
        num_hidden_layers: 3,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 24,
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

pub use crate::data::synth::demonstration;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::{Split, tasks};

    #[test]
    fn tokenizer_round_trips_and_covers_demonstrations() {
        let tok = tokenizer().expect("tokenizer");
        let text = "<|im_start|>user\nConvert 5 km to m.<|im_end|>\n<|im_start|>assistant\n";
        let ids = tok.encode(text).expect("encode");
        assert_eq!(ids.len(), 1 + 5 + 18 + 1 + 1 + 1 + 10, "one id per character, one per control token");
        assert_eq!((ids[0], tok.stop_ids.clone()), (1, vec![0, 2]));
        assert_eq!(tok.decode(&ids, false).expect("decode"), text);
        for t in tasks(3, Split::Train, 200) {
            let demo = demonstration(&t);
            assert!(tok.encode(&demo).expect("encode").iter().all(|&i| i != 3), "no <unk> in {demo}");
        }
    }
}
