//! The one real pretrained model reachable here: SmolLM2-135M-Instruct from its llama.cpp GGUF,
//! with the tokenizer rebuilt from the GGUF metadata, answers a ChatML question correctly under
//! greedy KV-cached decoding on the CPU backend, and `awpo generate` does the same from the
//! command line with the model's own chat template.

use awpo::rollout::Finish;
use burn::tensor::Device;

use crate::common::generation::{capital_of_france, smollm2};

#[test]
fn smollm2_gguf_knows_the_capital_of_france() {
    let (text, finish) = capital_of_france(&Device::flex());
    eprintln!("SmolLM2-135M-Instruct (GGUF, CPU, greedy): {text:?} ({finish:?})");
    assert!(text.contains("Paris"), "{text:?}");
    assert_eq!(finish, Finish::StopString, "the stop string ends the reply");
}

#[test]
fn awpo_generate_answers_from_the_command_line() {
    let path = smollm2();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_awpo"))
        .args(["generate", "--model"])
        .arg(&path)
        .args(["--prompt", "What is the capital of France?", "--temperature", "0", "--max-new-tokens", "24"])
        .args(["--device", "cpu", "--show-prompt"])
        .output()
        .expect("the binary runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("stdout: {stdout}\nstderr: {stderr}");
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("<|im_start|>user\nWhat is the capital of France?<|im_end|>"),
        "ChatML from the GGUF template"
    );
    assert!(stdout.contains("Paris"), "{stdout}");
    assert!(stderr.contains("tokens/s"), "{stderr}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_awpo"))
        .args(["generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi", "--device", "cpu"])
        .output()
        .expect("the binary runs");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("/nonexistent/model.gguf") && !err.contains("panicked"), "{err}");
}
