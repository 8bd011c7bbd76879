//! BFCL ground truth as a check of the checker: every item of the Python-typed non-live
//! single-turn categories, answered with its first acceptable values, scores full marks; each
//! perturbation (wrong function, extra call, missing required argument, wrong value) does not.

use std::path::PathBuf;
use std::process::Command;

use awpo::data::bfcl::{Item, load};
use awpo::reward::bfcl::{CallRule, check, first_acceptable};
use awpo::tools::ToolCall;
use awpo::tools::parse::parse;
use serde_json::Value;

const CATEGORIES: [&str; 5] = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"];

/// `bfcl_eval/data` of the pinned wheel, fetched (sha256-checked) by the project script.
fn data_dir() -> PathBuf {
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/fetch-assets.sh"))
        .arg("bfcl")
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "fetch-assets failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let assets = stdout.lines().last().expect("the script prints the assets folder");
    PathBuf::from(assets).join("bfcl-eval-2026.3.23/bfcl_eval/data")
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

fn perturbations(item: &Item, oracle: &[ToolCall]) -> Vec<(&'static str, Vec<ToolCall>)> {
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
    let changed = first.arguments.iter().map(|(p, v)| (p, wrong_value(v))).find(|(p, w)| !acceptable(p).contains(w));
    if let Some((param, value)) = changed {
        let mut calls = oracle.to_vec();
        calls[0].arguments.insert(param.clone(), value);
        out.push(("wrong value", calls));
    }
    out
}

#[test]
fn bfcl_ground_truth_scores_full_marks_and_perturbations_do_not() {
    let dir = data_dir();
    for category in CATEGORIES {
        let items = load(&dir, category).unwrap_or_else(|e| panic!("{e}"));
        let rule = CallRule::of_category(category);
        let (mut full, mut tried, mut lower) = (0, 0, 0);
        for item in &items {
            let oracle = first_acceptable(&item.functions, &item.expected);
            let text =
                format!("<think>pick the tool</think>\n{}", oracle.iter().map(ToolCall::render).collect::<String>());
            let parsed = parse(&text);
            assert_eq!(parsed.calls, oracle, "{}: render/parse", item.id);
            let verdict = check(rule, &item.functions, &parsed.calls, &item.expected);
            assert!(verdict.is_correct(), "{}: ground truth scored {verdict:?}", item.id);
            full += 1;
            for (kind, calls) in perturbations(item, &oracle) {
                tried += 1;
                let verdict = check(rule, &item.functions, &calls, &item.expected);
                assert!(!verdict.is_correct(), "{}: {kind} still scored full marks", item.id);
                lower += 1;
            }
        }
        eprintln!("{category}: {} items, {full} full marks, {lower}/{tried} perturbations scored lower", items.len());
        assert!(full > 0 && full == items.len());
    }
}
