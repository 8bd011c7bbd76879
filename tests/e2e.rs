//! Cross-module tests on the CPU backend (flex): one binary, submodules in `tests/e2e/`.

mod common;

#[path = "e2e/ablate.rs"]
mod ablate;
#[path = "e2e/bad_input.rs"]
mod bad_input;
#[path = "e2e/bfcl.rs"]
mod bfcl;
#[path = "e2e/chat.rs"]
mod chat;
#[path = "e2e/cli.rs"]
mod cli;
#[path = "e2e/env.rs"]
mod env;
#[path = "e2e/eval.rs"]
mod eval;
#[path = "e2e/generate.rs"]
mod generate;
#[path = "e2e/gguf.rs"]
mod gguf;
#[path = "e2e/gguf_vocab.rs"]
mod gguf_vocab;
#[path = "e2e/judge.rs"]
mod judge;
#[path = "e2e/lora.rs"]
mod lora;
#[path = "e2e/model.rs"]
mod model;
#[path = "e2e/objective.rs"]
mod objective;
#[path = "e2e/precision.rs"]
mod precision;
#[path = "e2e/tasks.rs"]
mod tasks;
#[path = "e2e/train.rs"]
mod train;
#[path = "e2e/update.rs"]
mod update;
