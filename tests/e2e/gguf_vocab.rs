//! The GGUF tokenizer against llama.cpp's own tokenizer test vectors
//! (`models/ggml-vocab-{qwen2,llama-bpe,gpt-2}.gguf` with `.inp` / `.out`, from the
//! llama-cpp-python 0.3.36 sdist; `scripts/fetch-assets.sh llama-cpp-vocab`). The `.out` ids are
//! Hugging Face's `encode(text, add_special_tokens=False)`, which llama.cpp's test-tokenizer-0
//! must reproduce; awpo must too, for every test of every file.

use std::collections::HashMap;
use std::path::Path;

use awpo::model::gguf::{GgufFile, Meta};
use awpo::tokenizer::TextTokenizer;

use crate::common::asset;

/// The `.inp` tests (separated by "\n__ggml_vocab_test__\n", which also ends the file) and the
/// `.out` ids (one line per test, space-separated), paired.
fn vectors(gguf: &Path) -> Vec<(String, Vec<u32>)> {
    let read = |ext: &str| {
        let path = gguf.with_extension(format!("gguf.{ext}"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let inp = read("inp");
    let mut tests: Vec<String> = inp.split("\n__ggml_vocab_test__\n").map(str::to_string).collect();
    assert_eq!(tests.pop().as_deref(), Some(""), "the .inp ends with a separator");
    let out: Vec<Vec<u32>> = read("out")
        .lines()
        .map(|l| l.split_whitespace().map(|t| t.parse().unwrap_or_else(|e| panic!("{t:?}: {e}"))).collect())
        .collect();
    assert_eq!(tests.len(), out.len(), "{}: one .out line per test", gguf.display());
    tests.into_iter().zip(out).collect()
}

fn check(vocab: &str, pre: &str, tokens: usize) {
    let path = asset("llama-cpp-vocab", &format!("llama-cpp-vocab-0.3.36/ggml-vocab-{vocab}.gguf"));
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.metadata.get("tokenizer.ggml.pre").and_then(Meta::as_str), Some(pre));
    let tok = TextTokenizer::from_gguf_metadata(&file.metadata, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tok.vocab_size(), tokens);
    let tests = vectors(&path);
    assert!(tests.len() >= 40, "{} tests", tests.len());
    let mut failed = Vec::new();
    for (i, (text, want)) in tests.iter().enumerate() {
        let got = tok.encode(text).unwrap_or_else(|e| panic!("test {i}: {e}"));
        if &got != want {
            failed.push(format!(
                "test {i} {:?}:\n  want {want:?}\n  got  {got:?}",
                text.chars().take(60).collect::<String>()
            ));
        }
    }
    eprintln!("{vocab}: {}/{} llama.cpp vectors equal", tests.len() - failed.len(), tests.len());
    assert!(failed.is_empty(), "{vocab} ({pre}):\n{}", failed.join("\n"));
}

#[test]
fn gguf_qwen2_tokenizer_matches_llama_cpp_vectors() {
    check("qwen2", "qwen2", 151_936);
}

#[test]
fn gguf_llama_bpe_tokenizer_matches_llama_cpp_vectors() {
    check("llama-bpe", "llama-bpe", 128_256);
}

#[test]
fn gguf_gpt2_tokenizer_matches_llama_cpp_vectors() {
    check("gpt-2", "gpt-2", 50_257);
}

#[test]
fn gguf_unknown_pre_tokenizer_is_named() {
    let path = asset("llama-cpp-vocab", "llama-cpp-vocab-0.3.36/ggml-vocab-gpt-2.gguf");
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut metadata: HashMap<String, Meta> = file.metadata.clone();
    metadata.insert("tokenizer.ggml.pre".into(), Meta::Str("no-such-pre".into()));
    let err = TextTokenizer::from_gguf_metadata(&metadata, &path).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("\"no-such-pre\"") && err.contains("qwen2") && err.contains("not supported"), "{err}");
    // Without the key llama.cpp (and awpo) fall back to its default pre-tokenizer.
    metadata.remove("tokenizer.ggml.pre");
    let tok = TextTokenizer::from_gguf_metadata(&metadata, &path).unwrap_or_else(|e| panic!("{e}"));
    let ids = tok.encode("Hello world").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tok.decode(&ids, false).unwrap_or_default(), "Hello world");
}
