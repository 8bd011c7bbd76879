//! GGUF files written here by hand (a one-block Llama of width 8 and its byte-level BPE
//! vocabulary, every tensor F32), then truncated, corrupted or given impossible metadata; and the
//! real SmolLM2 GGUF the other tests fetch, cut short.

use std::path::Path;

use super::cases::{Battery, arg, args, garbage, run, temp};

/// A metadata value.
#[derive(Clone)]
enum M {
    U32(u32),
    Str(&'static str),
    Strs(Vec<&'static str>),
    /// An array header claiming `count` items of GGUF type `item`, with no items after it.
    Claimed {
        item: u32,
        count: u64,
    },
}

/// Tensors: `(name, GGUF dims (fastest first), offset override)`.
type Tensors = Vec<(&'static str, Vec<u64>, Option<u64>)>;

/// A GGUF file under construction.
#[derive(Clone)]
struct Gguf {
    version: u32,
    meta: Vec<(&'static str, M)>,
    tensors: Tensors,
    /// The tensor count written in the header, if not the real one.
    claimed_tensors: Option<u64>,
    /// The dimension count written for the first tensor, if not the real one.
    claimed_dims: Option<u32>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

impl Gguf {
    /// A valid model: `general.architecture = llama`, width 8, 2 heads of 4 (1 key/value head),
    /// MLP 16, one block, vocabulary `h i Ġ <|endoftext|>`.
    fn valid() -> Self {
        let meta = vec![
            ("general.architecture", M::Str("llama")),
            ("llama.embedding_length", M::U32(8)),
            ("llama.feed_forward_length", M::U32(16)),
            ("llama.block_count", M::U32(1)),
            ("llama.attention.head_count", M::U32(2)),
            ("llama.attention.head_count_kv", M::U32(1)),
            ("llama.context_length", M::U32(64)),
            ("tokenizer.ggml.model", M::Str("gpt2")),
            ("tokenizer.ggml.tokens", M::Strs(vec!["h", "i", "Ġ", "<|endoftext|>"])),
            ("tokenizer.ggml.merges", M::Strs(vec![])),
            ("tokenizer.ggml.eos_token_id", M::U32(3)),
        ];
        let tensors = vec![
            ("token_embd.weight", vec![8, 4], None),
            ("output_norm.weight", vec![8], None),
            ("blk.0.attn_norm.weight", vec![8], None),
            ("blk.0.attn_q.weight", vec![8, 8], None),
            ("blk.0.attn_k.weight", vec![8, 4], None),
            ("blk.0.attn_v.weight", vec![8, 4], None),
            ("blk.0.attn_output.weight", vec![8, 8], None),
            ("blk.0.ffn_norm.weight", vec![8], None),
            ("blk.0.ffn_gate.weight", vec![8, 16], None),
            ("blk.0.ffn_up.weight", vec![8, 16], None),
            ("blk.0.ffn_down.weight", vec![16, 8], None),
        ];
        Gguf { version: 3, meta, tensors, claimed_tensors: None, claimed_dims: None }
    }

    fn set(mut self, key: &'static str, value: M) -> Self {
        self.meta.retain(|(k, _)| *k != key);
        self.meta.push((key, value));
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(self.version.to_le_bytes());
        out.extend(self.claimed_tensors.unwrap_or(self.tensors.len() as u64).to_le_bytes());
        out.extend((self.meta.len() as u64).to_le_bytes());
        for (key, value) in &self.meta {
            put_str(&mut out, key);
            match value {
                M::U32(v) => {
                    out.extend(4u32.to_le_bytes());
                    out.extend(v.to_le_bytes());
                }
                M::Str(s) => {
                    out.extend(8u32.to_le_bytes());
                    put_str(&mut out, s);
                }
                M::Strs(items) => {
                    out.extend(9u32.to_le_bytes());
                    out.extend(8u32.to_le_bytes());
                    out.extend((items.len() as u64).to_le_bytes());
                    for s in items {
                        put_str(&mut out, s);
                    }
                }
                M::Claimed { item, count } => {
                    out.extend(9u32.to_le_bytes());
                    out.extend(item.to_le_bytes());
                    out.extend(count.to_le_bytes());
                }
            }
        }
        let mut data: Vec<u8> = Vec::new();
        for (i, (name, dims, offset)) in self.tensors.iter().enumerate() {
            put_str(&mut out, name);
            let n_dims = if i == 0 { self.claimed_dims.unwrap_or(dims.len() as u32) } else { dims.len() as u32 };
            out.extend(n_dims.to_le_bytes());
            for d in dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(0u32.to_le_bytes());
            let at = data.len().div_ceil(32) * 32;
            data.resize(at, 0);
            let count: u64 = dims.iter().product::<u64>().min(1 << 16);
            data.extend((0..count).flat_map(|k| (((k * 7 + i as u64) % 13) as f32 * 0.01 - 0.06).to_le_bytes()));
            out.extend(offset.unwrap_or(at as u64).to_le_bytes());
        }
        out.resize(out.len().div_ceil(32) * 32, 0);
        out.extend(data);
        out
    }
}

fn perplexity(model: &Path, text: &Path) -> Vec<String> {
    args(&["perplexity", "--model", &arg(model), "--file", &arg(text), "--device", "cpu"])
}

#[test]
fn hand_made_gguf_files_load_and_their_corruptions_are_refused() {
    let root = temp("gguf");
    let text = root.join("text.txt");
    std::fs::write(&text, "hi hi ih hi hhii").expect("text");
    let mut battery = Battery::default();
    let good = root.join("good.gguf");
    let valid = Gguf::valid();
    let bytes = valid.bytes();
    std::fs::write(&good, &bytes).expect("write");
    battery.case(
        "the hand-made GGUF loads",
        run(&perplexity(&good, &text), super::cases::LIMIT).and_then(|r| {
            if r.code == Some(0) && r.stdout.contains("perplexity:") {
                Ok(())
            } else {
                Err(format!("it fails: {}", r.stderr))
            }
        }),
    );
    let with_tensor = |f: &dyn Fn(&mut Tensors)| {
        let mut g = valid.clone();
        f(&mut g.tensors);
        g.bytes()
    };
    let header_end = bytes.len() - 32 * 11 * 2; // well inside the tensor data
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        ("a 0-byte file", Vec::new(), vec![]),
        ("garbage bytes", garbage(1000, 10), vec![]),
        ("GGUF version 99", Gguf { version: 99, ..valid.clone() }.bytes(), vec!["99"]),
        ("the header cut short", bytes[..60].to_vec(), vec![]),
        ("the tensor data cut short", bytes[..header_end].to_vec(), vec![]),
        ("a tensor offset past the end", with_tensor(&|t| t[0].2 = Some(1 << 40)), vec![]),
        ("a tensor offset near 2^64", with_tensor(&|t| t[0].2 = Some(u64::MAX - 8)), vec![]),
        ("2^64 - 1 tensors claimed", Gguf { claimed_tensors: Some(u64::MAX), ..valid.clone() }.bytes(), vec![]),
        (
            "an array of 2^28 items claimed",
            valid.clone().set("general.tags", M::Claimed { item: 10, count: 1 << 28 }).bytes(),
            vec![],
        ),
        (
            "an array of 2^40 items claimed",
            valid.clone().set("general.tags", M::Claimed { item: 10, count: 1 << 40 }).bytes(),
            vec![],
        ),
        ("a tensor of 1000 dimensions", Gguf { claimed_dims: Some(1000), ..valid.clone() }.bytes(), vec![]),
        ("absurd tensor dimensions", with_tensor(&|t| t[0].1 = vec![1 << 31, 1 << 31]), vec!["token_embd"]),
        (
            "an embedding width of 2^32 - 1 claimed by the metadata and the tensor",
            {
                let mut g = valid.clone().set("llama.embedding_length", M::U32(u32::MAX));
                g.tensors[0].1 = vec![u64::from(u32::MAX), 4];
                g.bytes()
            },
            vec![],
        ),
        (
            "key/value heads that do not divide the heads",
            valid.clone().set("llama.attention.head_count_kv", M::U32(3)).bytes(),
            vec!["head_count_kv"],
        ),
        ("0 blocks", valid.clone().set("llama.block_count", M::U32(0)).bytes(), vec!["block_count"]),
        (
            "an embedding width of 0",
            valid.clone().set("llama.embedding_length", M::U32(0)).bytes(),
            vec!["embedding_length"],
        ),
        ("0 heads", valid.clone().set("llama.attention.head_count", M::U32(0)).bytes(), vec!["head_count"]),
    ];
    for (i, (name, bytes, needles)) in cases.into_iter().enumerate() {
        let file = root.join(format!("case-{i}.gguf"));
        std::fs::write(&file, bytes).expect("write");
        let mut want = vec![arg(&file)];
        want.extend(needles.iter().map(|s| s.to_string()));
        battery.refused(name, &perplexity(&file, &text), &want, || Ok(()));
    }
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}

#[test]
fn the_real_smollm2_gguf_cut_short_is_refused() {
    use std::io::Read;
    let root = temp("smollm2");
    let text = root.join("text.txt");
    std::fs::write(&text, "The capital of France is Paris.").expect("text");
    let mut head = Vec::new();
    let real = crate::common::generation::smollm2();
    let file = std::fs::File::open(&real).expect("the SmolLM2 GGUF");
    file.take(8 << 20).read_to_end(&mut head).expect("read");
    let mut battery = Battery::default();
    // 1 MB: inside the tokenizer metadata; 8 MB: inside the tensor data.
    for (name, len) in [("cut at 1 MB", 1 << 20), ("cut at 8 MB", 8 << 20)] {
        let file = root.join(format!("smollm2-{len}.gguf"));
        std::fs::write(&file, &head[..len]).expect("write");
        battery.refused(name, &perplexity(&file, &text), &[arg(&file)], || Ok(()));
        let generate = args(&["generate", "--model", &arg(&file), "--prompt", "hi", "--device", "cpu"]);
        battery.refused(&format!("generate: {name}"), &generate, &[arg(&file)], || Ok(()));
    }
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}
