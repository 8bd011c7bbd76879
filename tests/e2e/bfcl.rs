//! BFCL ground truth as a check of the checker: every item of the non-live single-turn
//! categories, answered with its first acceptable values (JSON for Python, Java / JavaScript
//! source for those categories), scores full marks unless BFCL itself cannot score it; each
//! perturbation (wrong function, extra call, missing required argument, wrong value) does not;
//! and every verdict, perturbations and literal mutations included, equals the verdict of BFCL's
//! own Python checker recorded in `tests/fixtures/bfcl/reference_verdicts.jsonl`
//! (`scripts/bfcl-reference-verdicts.py` says how it was made).

use std::collections::HashMap;
use std::path::PathBuf;

use awpo::data::bfcl::{Item, load};
use awpo::reward::bfcl::{CallRule, Language, Verdict, check, first_acceptable};
use awpo::tools::ToolCall;
use awpo::tools::parse::parse;
use serde_json::{Value, json};

const CATEGORIES: [&str; 7] =
    ["simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple", "irrelevance"];

/// `bfcl_eval/data` of the pinned wheel, fetched (sha256-checked) by the project script.
pub fn data_dir() -> PathBuf {
    crate::common::asset("bfcl", "bfcl-eval-2026.3.23/bfcl_eval/data")
}

fn wrong_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(format!("{s} zz")),
        Value::Bool(b) => Value::Bool(!b),
        Value::Number(n) if n.is_f64() => Value::from(n.as_f64().unwrap_or(0.0) + 7919.5),
        Value::Number(n) => Value::from(n.as_i64().unwrap_or(0) + 7919),
        Value::Array(items) => Value::Array(items.iter().cloned().chain([Value::from(7919)]).collect()),
        Value::Object(map) => {
            let mut map = map.clone();
            map.insert("zz_extra".into(), Value::from(1));
            Value::Object(map)
        }
        Value::Null => Value::from(7919),
    }
}

/// A Java / JavaScript literal with its last letter or digit changed: text appended after a
/// collection literal would still parse to the same value (BFCL searches, it does not anchor).
fn wrong_literal(v: &Value) -> Value {
    let Some(s) = v.as_str() else { return wrong_value(v) };
    let Some((i, c)) = s.char_indices().rev().find(|(_, c)| c.is_ascii_alphanumeric()) else {
        return Value::String(format!("{s}zz"));
    };
    let changed = match c {
        '0'..='9' => char::from(b'0' + (c as u8 - b'0' + 1) % 10),
        'q' => 'z',
        _ => 'q',
    };
    Value::String(format!("{}{changed}{}", &s[..i], &s[i + c.len_utf8()..]))
}

fn perturbations(item: &Item, oracle: &[ToolCall], language: Language) -> Vec<(&'static str, Vec<ToolCall>)> {
    let Some(first) = oracle.first() else {
        let name = item.functions[0]["name"].as_str().unwrap_or("f").to_string();
        return vec![("a call", vec![ToolCall { name, ..ToolCall::default() }])];
    };
    let mut out = Vec::new();
    let mut renamed = oracle.to_vec();
    renamed[0].name = format!("{}_x", first.name);
    out.push(("wrong function", renamed));
    out.push(("extra call", oracle.iter().cloned().chain([first.clone()]).collect()));
    let doc = item.functions.iter().find(|f| f["name"] == first.name.as_str()).unwrap_or(&item.functions[0]);
    let required: Vec<&str> =
        doc["parameters"]["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if let Some(param) = required.iter().find(|p| first.arguments.contains_key(**p)) {
        let mut missing = oracle.to_vec();
        missing[0].arguments.remove(*param);
        out.push(("missing required", missing));
    }
    // The first argument whose changed value is outside its acceptable list (a flipped boolean
    // can be acceptable too, e.g. simple_python_297 accepts both for its flags).
    let acceptable = |p: &str| item.expected[0].1.get(p).and_then(Value::as_array).cloned().unwrap_or_default();
    let wrong = |v: &Value| if language == Language::Python { wrong_value(v) } else { wrong_literal(v) };
    // Arguments in name order, as the reference fixture was made.
    let mut names: Vec<&String> = first.arguments.keys().collect();
    names.sort();
    let changed = names.into_iter().map(|p| (p, wrong(&first.arguments[p]))).find(|(p, w)| !acceptable(p).contains(w));
    if let Some((param, value)) = changed {
        let mut calls = oracle.to_vec();
        calls[0].arguments.insert(param.clone(), value);
        out.push(("wrong value", calls));
    }
    out
}

/// Literal mutations of the first argument that stress the value semantics (Python) or the
/// literal converters (Java / JavaScript); their verdicts come only from BFCL's reference.
fn mutations(language: Language, oracle: &[ToolCall]) -> Vec<(String, Vec<ToolCall>)> {
    let Some(first) = oracle.first() else { return Vec::new() };
    let mut params: Vec<&String> = first.arguments.keys().collect();
    params.sort();
    if language == Language::Python {
        params.truncate(1);
    }
    let mut out = Vec::new();
    for param in params {
        let v = &first.arguments[param];
        let variants: Vec<(&str, Value)> = match (language, v) {
            (Language::Python, Value::Number(n)) if n.is_f64() => {
                vec![("int", json!(n.as_f64().unwrap_or(0.0) as i64))]
            }
            (Language::Python, Value::Number(n)) => vec![("float", json!(n.as_f64().unwrap_or(0.0)))],
            (Language::Python, Value::String(s)) => {
                vec![("upper", json!(s.to_uppercase())), ("punct", json!(format!("{s}.,")))]
            }
            (Language::Python, Value::Array(items)) => {
                vec![("reversed", Value::Array(items.iter().rev().cloned().collect()))]
            }
            (Language::Python, Value::Bool(b)) => vec![("int", json!(u8::from(*b)))],
            (_, Value::String(s)) => vec![
                ("dquoted", json!(format!("\"{s}\""))),
                ("squoted", json!(format!("'{s}'"))),
                ("unquoted", json!(s.trim_matches(['"', '\'']))),
                ("nospace", json!(s.replace(' ', ""))),
                ("suffix_l", json!(format!("{s}L"))),
                ("suffix_f", json!(format!("{s}f"))),
                ("suffix_n", json!(format!("{s}n"))),
                ("newline", json!(format!("{s}\n"))),
                ("upper", json!(s.to_uppercase())),
            ],
            _ => Vec::new(),
        };
        for (how, value) in variants {
            let mut calls = oracle.to_vec();
            calls[0].arguments.insert(param.clone(), value);
            out.push((format!("mutate:{param}:{how}"), calls));
        }
    }
    out
}

/// One scored case, keyed `id/kind`.
struct Case {
    key: String,
    category: &'static str,
    id: String,
    calls: Vec<ToolCall>,
    verdict: Verdict,
}

impl Case {
    fn calls_json(&self) -> Value {
        Value::Array(self.calls.iter().map(|c| json!({ c.name.clone(): Value::Object(c.arguments.clone()) })).collect())
    }
    /// FNV-1a of the calls' JSON with keys sorted (argument order is not part of a call): a
    /// stale reference (cases changed, fixture not) is caught.
    fn hash(&self) -> String {
        let text = sorted(&self.calls_json()).to_string();
        let h = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        format!("{h:016x}")
    }
}

/// `v` with every object's keys in sorted order.
fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// BFCL's verdicts by case key: (calls hash, valid — `None` where BFCL raises, error type).
fn reference() -> HashMap<String, (String, Option<bool>, Option<String>)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bfcl/reference_verdicts.jsonl");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: {e}"));
            let s = |i: usize| v[i].as_str().map(str::to_string);
            (s(0).unwrap_or_default(), (s(1).unwrap_or_default(), v[2].as_bool(), s(3)))
        })
        .collect()
}

#[test]
fn bfcl_ground_truth_scores_full_marks_and_every_verdict_matches_bfcl() {
    let dir = data_dir();
    let mut cases = Vec::new();
    let mut summary = Vec::new();
    for category in CATEGORIES {
        let items = load(&dir, category).unwrap_or_else(|e| panic!("{e}"));
        let (rule, language) = (CallRule::of_category(category), Language::of_category(category));
        let (mut full, mut tried, mut lower) = (0, 0, 0);
        for item in &items {
            let oracle = first_acceptable(language, &item.functions, &item.expected);
            let text =
                format!("<think>pick the tool</think>\n{}", oracle.iter().map(ToolCall::render).collect::<String>());
            let parsed = parse(&text);
            assert_eq!(parsed.calls, oracle, "{}: render/parse", item.id);
            let verdict = check(rule, language, &item.functions, &parsed.calls, &item.expected);
            full += usize::from(verdict.is_correct());
            let mut add = |kind: &str, calls: Vec<ToolCall>, verdict: Verdict| {
                let key = format!("{}/{kind}", item.id);
                cases.push(Case { key, category, id: item.id.clone(), calls, verdict });
            };
            add("oracle", oracle.clone(), verdict);
            for (kind, calls) in perturbations(item, &oracle, language) {
                tried += 1;
                let verdict = check(rule, language, &item.functions, &calls, &item.expected);
                assert!(!verdict.is_correct(), "{}: {kind} still scored full marks", item.id);
                lower += 1;
                add(kind, calls, verdict);
            }
            for (kind, calls) in mutations(language, &oracle) {
                let verdict = check(rule, language, &item.functions, &calls, &item.expected);
                add(&kind, calls, verdict);
            }
        }
        summary.push(format!(
            "{category}: {} items, {full} full marks, {lower}/{tried} perturbations scored lower",
            items.len()
        ));
        assert!(full > 0);
    }
    // Irrelevance has no possible answers; BFCL scores it without the AST checker.
    cases.retain(|c| c.category != "irrelevance");
    if let Ok(out) = std::env::var("AWPO_BFCL_CASES_OUT") {
        let lines: Vec<String> = cases
            .iter()
            .map(|c| {
                json!({"key": c.key, "hash": c.hash(), "category": c.category, "id": c.id, "calls": c.calls_json()})
                    .to_string()
            })
            .collect();
        std::fs::write(&out, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{out}: {e}"));
        eprintln!("wrote {} cases to {out}; now run scripts/bfcl-reference-verdicts.py {out}", cases.len());
    }
    let reference = reference();
    let (mut agree, mut unreachable) = (0, Vec::new());
    for case in &cases {
        let regenerate = "regenerate: see scripts/bfcl-reference-verdicts.py";
        let (hash, valid, error_type) =
            reference.get(&case.key).unwrap_or_else(|| panic!("{}: not in BFCL's reference ({regenerate})", case.key));
        assert_eq!(hash, &case.hash(), "{}: calls changed since BFCL's reference ({regenerate})", case.key);
        let ours = match &case.verdict {
            Verdict::Unsupported { .. } => None,
            v => Some(v.is_correct()),
        };
        assert_eq!(
            ours,
            *valid,
            "{}: ours {:?}, BFCL valid={valid:?} {error_type:?}; calls {}",
            case.key,
            case.verdict,
            case.calls_json()
        );
        if ours == Some(false) {
            assert_eq!(
                case.verdict.error_type(),
                error_type.as_deref(),
                "{}: error type; {:?}",
                case.key,
                case.verdict
            );
        }
        if case.key.ends_with("/oracle") && ours != Some(true) {
            unreachable.push(format!("{} ({:?})", case.id, case.verdict));
        }
        agree += 1;
    }
    for line in &summary {
        eprintln!("{line}");
    }
    eprintln!("{agree}/{} verdicts equal BFCL's own checker (valid and error type)", cases.len());
    eprintln!("ground truth BFCL itself cannot score as written ({}): {}", unreachable.len(), unreachable.join("; "));
    assert!(unreachable.len() <= 5, "too many unreachable ground-truth items: {unreachable:?}");
}
