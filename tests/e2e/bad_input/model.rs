//! Hugging Face model directories that are broken: `model.safetensors` truncated or corrupted,
//! `config.json` with impossible sizes, `tokenizer.json` that is garbage; and commands that must
//! leave no output behind when the model fails to load (`eval --out`, `merge --out`, `train`).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::cases::{Battery, absent, arg, args, deep_json, garbage, nothing, temp};
use crate::common::fixtures::fixture;

/// A copy of the tiny Qwen3 fixture (vocabulary 96) with a word-level tokenizer (`w0`…`w95`)
/// and a chat template, which every command loads; plus `text.txt` to score.
pub fn model_dir(root: &Path, name: &str) -> PathBuf {
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture("qwen3_tied").join(f), dir.join(f)).expect("copy");
    }
    let vocab = (0..96u32).map(|i| (format!("w{i}"), i)).collect();
    let model = WordLevel::builder().vocab(vocab).unk_token("w0".into()).build().expect("word level");
    let mut tokenizer = tokenizers::Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(Whitespace {}));
    tokenizer.save(dir.join("tokenizer.json"), false).expect("save tokenizer");
    let config = json!({"chat_template": "{% for m in messages %}{{ m.content }} {% endfor %}", "eos_token": "w1"});
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).expect("tokenizer config");
    let text: String = (0..30).map(|i| format!("w{} ", (i * 7 + 3) % 96)).collect();
    std::fs::write(root.join("text.txt"), text).expect("text");
    dir
}

/// `awpo perplexity` of `dir` on the text [`model_dir`] wrote beside it.
pub fn perplexity(dir: &Path) -> Vec<String> {
    let text = dir.parent().unwrap_or(dir).join("text.txt");
    args(&["perplexity", "--model", &arg(dir), "--file", &arg(&text), "--device", "cpu"])
}

/// `bytes` of a safetensors file with its JSON header changed by `edit`.
fn with_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Vec<u8> {
    let len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let mut header: Value = serde_json::from_slice(&bytes[8..8 + len]).expect("header");
    edit(header.as_object_mut().expect("object"));
    let text = header.to_string().into_bytes();
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend(&bytes[8 + len..]);
    out
}

/// A header (length and text) followed by `rest`.
fn raw_header(len: u64, text: &str, rest: usize) -> Vec<u8> {
    let mut out = len.to_le_bytes().to_vec();
    out.extend(text.as_bytes());
    out.extend(vec![0u8; rest]);
    out
}

const EMBED: &str = "model.embed_tokens.weight";

#[test]
fn broken_safetensors_files_are_refused() {
    let root = temp("safetensors");
    let good = model_dir(&root, "good");
    let mut battery = Battery::default();
    battery.case(
        "the intact copy loads",
        super::cases::run(&perplexity(&good), super::cases::LIMIT).and_then(|r| {
            if r.code == Some(0) { Ok(()) } else { Err(format!("the intact model fails: {}", r.stderr)) }
        }),
    );
    let real = std::fs::read(good.join("model.safetensors")).expect("read");
    let set = |name: &str, key: &str, value: Value| {
        let (name, key) = (name.to_string(), key.to_string());
        with_header(&real, move |h| {
            if let Some(entry) = h.get_mut(&name).and_then(Value::as_object_mut) {
                entry.insert(key, value);
            }
        })
    };
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("a 0-byte file", Vec::new(), vec![]),
        ("a header length past the end", raw_header(1_000_000, "{}", 10), vec!["1000000"]),
        ("a header length of 2^64 - 1", raw_header(u64::MAX, "{}", 10), vec![]),
        ("garbage bytes", garbage(4096, 1), vec![]),
        ("the file cut in half", real[..real.len() / 2].to_vec(), vec![]),
        ("tensor offsets past the end", set(EMBED, "data_offsets", json!([0, 1_000_000_000_000u64])), vec![EMBED]),
        ("tensor offsets near 2^64", set(EMBED, "data_offsets", json!([u64::MAX - 1, u64::MAX])), vec![EMBED]),
        ("absurd dimensions", set(EMBED, "shape", json!([1u64 << 62, 1u64 << 62, 16])), vec![EMBED]),
        ("a negative dimension", set(EMBED, "shape", json!([-96, 32])), vec![EMBED]),
        ("an integer dtype", set(EMBED, "dtype", json!("I64")), vec![EMBED]),
        ("a header that is no JSON", raw_header(9, "not json!", 10), vec![]),
        ("a header that is no object", raw_header(5, "[1,2]", 10), vec![]),
        ("a header nested 100,000 deep", raw_header(200_000, &deep_json(100_000), 10), vec![]),
    ];
    for (i, (name, bytes, needles)) in cases.into_iter().enumerate() {
        let dir = model_dir(&root, &format!("case-{i}"));
        let file = dir.join("model.safetensors");
        std::fs::write(&file, bytes).expect("write");
        let mut want = vec![arg(&file)];
        want.extend(needles.iter().map(|s| s.to_string()));
        battery.refused(name, &perplexity(&dir), &want, nothing);
    }
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}

#[test]
fn impossible_model_configs_are_refused() {
    let root = temp("config-json");
    let mut battery = Battery::default();
    type Needles = fn(&Path) -> Vec<String>;
    let cases: Vec<(&str, Value, Needles)> = vec![
        ("num_key_value_heads not dividing the heads", json!({"num_key_value_heads": 3}), |d| {
            vec![arg(&d.join("config.json")), "num_key_value_heads".into()]
        }),
        ("0 layers", json!({"num_hidden_layers": 0}), |d| {
            vec![arg(&d.join("config.json")), "num_hidden_layers".into()]
        }),
        ("a vocabulary of 0", json!({"vocab_size": 0}), |d| vec![arg(&d.join("config.json")), "vocab_size".into()]),
        ("an MLP of width 0", json!({"intermediate_size": 0}), |d| {
            vec![arg(&d.join("config.json")), "intermediate_size".into()]
        }),
        ("a head_dim of 0", json!({"head_dim": 0}), |d| vec![arg(&d.join("config.json")), "head_dim".into()]),
        // serde names the line of a value of the wrong sign.
        ("a negative hidden_size", json!({"hidden_size": -32}), |d| vec![arg(&d.join("config.json")), "line".into()]),
        (
            "heads that do not divide hidden_size",
            json!({"num_attention_heads": 5, "num_key_value_heads": 5, "head_dim": null}),
            |d| vec![arg(&d.join("config.json")), "num_attention_heads".into()],
        ),
        ("a vocabulary of 2^62", json!({"vocab_size": 1u64 << 62}), |d| {
            vec![arg(&d.join("config.json")), "vocab_size".into()]
        }),
        ("10^12 layers", json!({"num_hidden_layers": 1_000_000_000_000u64}), |d| {
            vec![arg(&d.join("config.json")), "num_hidden_layers".into()]
        }),
    ];
    for (i, (name, change, needles)) in cases.into_iter().enumerate() {
        let dir = model_dir(&root, &format!("case-{i}"));
        let path = dir.join("config.json");
        let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        for (k, v) in change.as_object().expect("object") {
            match v {
                Value::Null => cfg.as_object_mut().expect("object").remove(k),
                v => cfg.as_object_mut().expect("object").insert(k.clone(), v.clone()),
            };
        }
        std::fs::write(&path, serde_json::to_string_pretty(&cfg).expect("json")).expect("write");
        battery.refused(name, &perplexity(&dir), &needles(&dir), nothing);
    }
    for (name, text) in [
        ("a config.json of garbage", String::from_utf8_lossy(&garbage(300, 2)).into_owned()),
        ("a config.json nested 100,000 deep", deep_json(100_000)),
    ] {
        let dir = model_dir(&root, name.replace(' ', "-").as_str());
        std::fs::write(dir.join("config.json"), text).expect("write");
        battery.refused(name, &perplexity(&dir), &[arg(&dir.join("config.json"))], nothing);
    }
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}

#[test]
fn garbage_tokenizers_are_refused() {
    let root = temp("tokenizer");
    let mut battery = Battery::default();
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("a tokenizer.json of garbage", "tokenizer.json", garbage(2000, 3)),
        ("an empty tokenizer.json", "tokenizer.json", Vec::new()),
        ("a tokenizer.json of the wrong shape", "tokenizer.json", br#"{"model": 5}"#.to_vec()),
        ("a tokenizer.json nested 100,000 deep", "tokenizer.json", deep_json(100_000).into_bytes()),
        ("a tokenizer_config.json of garbage", "tokenizer_config.json", garbage(500, 4)),
    ];
    for (i, (name, file, bytes)) in cases.into_iter().enumerate() {
        let dir = model_dir(&root, &format!("case-{i}"));
        std::fs::write(dir.join(file), bytes).expect("write");
        battery.refused(name, &perplexity(&dir), &[arg(&dir.join(file))], nothing);
    }
    // Chat templates that do not parse, recurse for ever or loop 10^10 times.
    let templates = [
        ("a chat template that does not parse", "{% for m in messages %}{{ m.content ", "syntax error"),
        ("a chat template that recurses for ever", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion"),
        (
            "a chat template that loops 10^10 times",
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
            "fuel",
        ),
    ];
    for (i, (name, template, needle)) in templates.into_iter().enumerate() {
        let dir = model_dir(&root, &format!("template-{i}"));
        let config = json!({"chat_template": template, "eos_token": "w1"});
        std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).expect("write");
        let generate = args(&["generate", "--model", &arg(&dir), "--prompt", "w3", "--device", "cpu"]);
        let needles = [arg(&dir.join("tokenizer_config.json")), needle.to_string()];
        battery.refused(name, &generate, &needles, nothing);
    }
    // A tokenizer that is not the model's: ids past the model's vocabulary of 96.
    let dir = model_dir(&root, "bigger-vocabulary");
    {
        use tokenizers::models::wordlevel::WordLevel;
        let vocab = (0..200u32).map(|i| (format!("w{i}"), i)).collect();
        let model = WordLevel::builder().vocab(vocab).unk_token("w0".into()).build().expect("word level");
        let mut tokenizer = tokenizers::Tokenizer::new(model);
        tokenizer.with_pre_tokenizer(Some(tokenizers::pre_tokenizers::whitespace::Whitespace {}));
        tokenizer.save(dir.join("tokenizer.json"), false).expect("save tokenizer");
    }
    std::fs::write(dir.join("text.txt"), "w3 w150 w4").expect("text");
    let needles = ["token id 150".to_string(), "vocabulary of 96".to_string()];
    let text = arg(&dir.join("text.txt"));
    let ppl = args(&["perplexity", "--model", &arg(&dir), "--file", &text, "--device", "cpu"]);
    battery.refused("perplexity with a tokenizer bigger than the model", &ppl, &needles, nothing);
    let generate = args(&["generate", "--model", &arg(&dir), "--prompt", "w150 w3", "--device", "cpu"]);
    battery.refused("generate with a tokenizer bigger than the model", &generate, &needles, nothing);
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}

#[test]
fn a_model_that_fails_to_load_leaves_no_output() {
    let root = temp("no-output");
    let mut battery = Battery::default();
    let bad = model_dir(&root, "bad");
    let weights = bad.join("model.safetensors");
    let real = std::fs::read(&weights).expect("read");
    std::fs::write(&weights, &real[..real.len() / 3]).expect("truncate");
    let out = root.join("results.jsonl");
    let eval = args(&["eval", "--model", &arg(&bad), "--suite", "builtin", "--builtin-size", "2", "--device", "cpu"]);
    let eval = [eval, args(&["--out", &arg(&out)])].concat();
    battery.refused("eval --out with a truncated model", &eval, &[arg(&weights)], || absent(&out));
    let merged = root.join("merged");
    let adapter = arg(&fixture("qwen3_untied_lora"));
    let merge = args(&["merge", "--model", &arg(&bad), "--adapter", &adapter, "--out", &arg(&merged)]);
    battery.refused("merge --out with a truncated model", &merge, &[arg(&weights)], || absent(&merged));
    let good = model_dir(&root, "good");
    let cut = root.join("cut-adapter");
    std::fs::create_dir_all(&cut).expect("dir");
    let lora = fixture("qwen3_untied_lora");
    std::fs::copy(lora.join("adapter_config.json"), cut.join("adapter_config.json")).expect("copy");
    let bytes = std::fs::read(lora.join("adapter_model.safetensors")).expect("read");
    std::fs::write(cut.join("adapter_model.safetensors"), &bytes[..bytes.len() - 100]).expect("truncate");
    let merge = args(&["merge", "--model", &arg(&good), "--adapter", &arg(&cut), "--out", &arg(&merged)]);
    battery.refused(
        "merge --out with a truncated adapter",
        &merge,
        &[arg(&cut.join("adapter_model.safetensors"))],
        || absent(&merged),
    );
    let run = root.join("run");
    let train = args(&["train", "--device", "cpu", "--set", &format!("model.path={:?}", arg(&bad))]);
    let train = [train, args(&["--set", &format!("train.run_dir={:?}", arg(&run))])].concat();
    battery.refused("train with a truncated model", &train, &[arg(&weights)], || {
        let left: Vec<_> =
            std::fs::read_dir(&run).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        if left.is_empty() { Ok(()) } else { Err(format!("{} holds {left:?}", run.display())) }
    });
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}
