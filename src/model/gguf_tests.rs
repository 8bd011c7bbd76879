//! The GGUF reader on hand-made files: a valid one reads back; every truncation, corrupted count,
//! length, shape, type or offset is an error naming the file and the key or tensor at fault, and
//! random corruption never panics.

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ModelError;
use super::gguf::Gguf;
use super::gguf_file::{GgufFile, Meta};

/// A GGUF v3 file under construction; counts may be overridden to lie.
#[derive(Clone, Default)]
struct Builder {
    meta: Vec<u8>,
    n_meta: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    data: Vec<u8>,
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

impl Builder {
    fn kv(mut self, key: &str, kind: u32, value: &[u8]) -> Self {
        put_str(&mut self.meta, key);
        self.meta.extend(kind.to_le_bytes());
        self.meta.extend(value);
        self.n_meta += 1;
        self
    }
    fn kv_str(self, key: &str, value: &str) -> Self {
        let mut v = Vec::new();
        put_str(&mut v, value);
        self.kv(key, 8, &v)
    }
    /// A tensor entry with explicit dims, type and offset; `data` is appended (32-aligned).
    fn tensor_at(mut self, name: &str, dims: &[u64], kind: u32, offset: u64, data: &[u8]) -> Self {
        put_str(&mut self.infos, name);
        self.infos.extend((dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| self.infos.extend(d.to_le_bytes()));
        self.infos.extend(kind.to_le_bytes());
        self.infos.extend(offset.to_le_bytes());
        self.data.extend(data);
        self.n_tensors += 1;
        self
    }
    fn tensor(self, name: &str, dims: &[u64], kind: u32, data: &[u8]) -> Self {
        let padded = self.data.len().next_multiple_of(32);
        let mut s = self;
        s.data.resize(padded, 0);
        let offset = padded as u64;
        s.tensor_at(name, dims, kind, offset, data)
    }
    fn bytes(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend(self.n_meta.to_le_bytes());
        out.extend(&self.meta);
        out.extend(&self.infos);
        out.resize(out.len().next_multiple_of(32), 0);
        out.extend(&self.data);
        out
    }
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("awpo-gguf-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join(format!("{name}.gguf"));
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn q8_block(d: f32, start: i8) -> Vec<u8> {
    let mut b = half::f16::from_f32(d).to_bits().to_le_bytes().to_vec();
    b.extend((0..32).map(|i| start.wrapping_add(i) as u8));
    b
}

fn valid() -> Builder {
    let f32s: Vec<u8> = [1.0f32, -2.0, 3.5, 0.25, 8.0, -0.5].iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut tokens = 8u32.to_le_bytes().to_vec();
    tokens.extend(2u64.to_le_bytes());
    put_str(&mut tokens, "a");
    put_str(&mut tokens, "bc");
    Builder::default()
        .kv_str("general.architecture", "llama")
        .kv("tokenizer.ggml.tokens", 9, &tokens)
        .kv("general.alignment", 4, &32u32.to_le_bytes())
        .tensor("small.weight", &[3, 2], 0, &f32s)
        .tensor("q8.weight", &[32, 2], 8, &[q8_block(0.5, -16), q8_block(-0.25, 3)].concat())
}

fn open_err(name: &str, bytes: &[u8]) -> String {
    let path = write(name, bytes);
    match GgufFile::open(&path) {
        Ok(_) => panic!("{name}: opened"),
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(&path.display().to_string()), "{name}: the error names the file: {text}");
            text
        }
    }
}

#[test]
fn a_valid_file_reads_back() {
    let path = write("valid", &valid().bytes());
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.metadata.get("general.architecture").and_then(Meta::as_str), Some("llama"));
    let tokens = file.metadata.get("tokenizer.ggml.tokens");
    assert_eq!(tokens, Some(&Meta::Array(vec![Meta::Str("a".into()), Meta::Str("bc".into())])));
    assert_eq!(file.tensor_names(), ["q8.weight", "small.weight"]);
    assert_eq!(file.read_f32("small.weight").unwrap_or_default(), [1.0, -2.0, 3.5, 0.25, 8.0, -0.5]);
    let q8 = file.read_f32("q8.weight").unwrap_or_default();
    assert_eq!((q8.len(), q8[0], q8[31], q8[32]), (64, -8.0, 7.5, -0.75));
    assert!(matches!(file.read_f32("nope"), Err(ModelError::MissingTensor { .. })));
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = valid().bytes();
    let data_start = GgufFile::open(&write("whole", &bytes)).map(|f| f.data_start).unwrap_or_else(|e| panic!("{e}"));
    for cut in 0..bytes.len() {
        let text = open_err("truncated", &bytes[..cut]);
        if cut as u64 >= data_start {
            assert!(text.contains("tensor \"") && text.contains("past the end"), "cut at {cut}: {text}");
        }
    }
}

#[test]
fn corrupted_headers_are_named_errors() {
    let v = valid();
    let mut lying_counts = v.clone();
    lying_counts.n_tensors = u64::MAX / 2;
    assert!(open_err("count", &lying_counts.bytes()).contains("cannot fit"));
    let mut lying_meta = v.clone();
    lying_meta.n_meta = 1 << 40;
    assert!(open_err("meta-count", &lying_meta.bytes()).contains("cannot fit"));
    let cases: Vec<(&str, Builder, &str)> = vec![
        ("string", v.clone().kv("huge", 8, &u64::MAX.to_le_bytes()), "\"huge\""),
        ("array", v.clone().kv("arr", 9, &[&4u32.to_le_bytes()[..], &(1u64 << 60).to_le_bytes()].concat()), "\"arr\""),
        ("kind", v.clone().kv("odd", 13, &[0; 8]), "unknown metadata type 13"),
        ("nested", v.clone().kv("deep", 9, &nested(6)), "nested"),
        ("dup-key", v.clone().kv_str("general.architecture", "x"), "duplicate key"),
        ("align", Builder::default().kv("general.alignment", 4, &3u32.to_le_bytes()), "power of two"),
        ("dims", v.clone().tensor("five.weight", &[1, 1, 1, 1, 1], 0, &[0; 4]), "\"five.weight\": 5 dimensions"),
        ("overflow", v.clone().tensor("big.weight", &[1 << 40, 1 << 40], 0, &[]), "\"big.weight\": dimensions"),
        ("block", v.clone().tensor("k.weight", &[100, 2], 12, &[0; 144]), "not a multiple of Q4_K's block of 256"),
        ("type", v.clone().tensor("t.weight", &[32], 4, &[0; 18]), "unknown ggml type id 4"),
        ("offset", v.clone().tensor_at("far.weight", &[4], 0, 1 << 20, &[]), "\"far.weight\": its 16 bytes"),
        ("offset-max", v.clone().tensor_at("max.weight", &[4], 0, u64::MAX, &[]), "\"max.weight\""),
        ("dup-tensor", v.clone().tensor("small.weight", &[1], 0, &[0; 4]), "duplicate tensor"),
    ];
    for (name, builder, want) in cases {
        let text = open_err(name, &builder.bytes());
        assert!(text.contains(want), "{name}: {text}");
    }
    let mut magic = v.bytes();
    magic[0] = b'X';
    assert!(open_err("magic", &magic).contains("no GGUF magic"));
    let mut version = v.bytes();
    version[4] = 9;
    assert!(open_err("version", &version).contains("version 9"));
}

/// The bytes of an array value whose arrays nest `depth` deep (innermost: one u8).
fn nested(depth: usize) -> Vec<u8> {
    let (kind, item) = if depth <= 1 { (0u32, vec![7u8]) } else { (9u32, nested(depth - 1)) };
    [kind.to_le_bytes().to_vec(), 1u64.to_le_bytes().to_vec(), item].concat()
}

#[test]
fn random_corruption_never_panics() {
    let bytes = valid().bytes();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut opened, mut rejected) = (0, 0);
    for i in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..b.len());
            b[at] = if rng.random_bool(0.5) { rng.random() } else { b[at] ^ (1 << rng.random_range(0..8)) };
        }
        let path = write(&format!("fuzz{}", i % 4), &b);
        match GgufFile::open(&path) {
            Ok(file) => {
                opened += 1;
                for name in file.tensor_names() {
                    let _ = file.read_f32(name);
                }
            }
            Err(_) => rejected += 1,
        }
    }
    eprintln!("random corruption: {opened} opened, {rejected} rejected");
    assert!(rejected > 0 && opened > 0, "the corruption reaches both header and data");
}

#[test]
fn unsupported_types_and_architectures_are_named() {
    let path = write("iq2", &valid().tensor("iq2.weight", &[256], 16, &[0; 66]).bytes());
    let opened = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let err = opened.read_f32("iq2.weight").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("\"iq2.weight\"") && err.contains("IQ2_XXS") && err.contains("Q4_K"), "{err}");
    // Gguf refuses an architecture it does not build; GgufFile reads it.
    let path = write("gpt2", &Builder::default().kv_str("general.architecture", "gpt2").bytes());
    assert!(GgufFile::open(&path).is_ok());
    let err = Gguf::open(&path).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("\"gpt2\""), "{err}");
    // A nesting of arrays that is still accepted.
    let path = write("nested2", &Builder::default().kv("two", 9, &nested(2)).bytes());
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.metadata.get("two"), Some(&Meta::Array(vec![Meta::Array(vec![Meta::Uint(7)])])));
}
