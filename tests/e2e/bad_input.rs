//! Bad input through the real binary: truncated and corrupted model files (GGUF, safetensors),
//! broken `config.json` and `tokenizer.json`, malformed task and BFCL files, TOML with wrong
//! types or syntax, NaN / negative / zero hyper-parameters, corrupted checkpoints resumed with
//! `--resume`. Each must give a non-zero exit, no panic, a short error naming the file (and the
//! field or line where there is one), finish within a time limit, and leave no partial output.
//! Every case of a test is run before it reports, so one failure lists all the cases that fail.

#[path = "bad_input/cases.rs"]
mod cases;
#[path = "bad_input/checkpoint.rs"]
mod checkpoint;
#[path = "bad_input/data.rs"]
mod data;
#[path = "bad_input/gguf.rs"]
mod gguf;
#[path = "bad_input/model.rs"]
mod model;
