//! The task format: BFCL converted to it and read back, every outcome component on the
//! oracle's answers, and malformed lines named by file, line and field (library and CLI).

use std::path::PathBuf;
use std::process::Command;

use awpo::data::DataError;
use awpo::data::bfcl::load as load_bfcl;
use awpo::data::task::load;
use awpo::reward::bfcl::{Language, first_acceptable};
use awpo::reward::{Expectation, score};
use awpo::tools::ToolCall;
use awpo::tools::parse::parse;

use crate::bfcl::data_dir;

fn temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("awpo-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("temp file");
    path
}

#[test]
fn bfcl_as_tasks_round_trips_and_oracle_scores_one() {
    let dir = data_dir();
    let mut lines = String::new();
    let mut originals = Vec::new();
    for category in ["simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "irrelevance"] {
        for item in load_bfcl(&dir, category).unwrap_or_else(|e| panic!("{e}")) {
            let task = item.to_task(category);
            lines.push_str(&format!("{}\n", task.to_json()));
            originals.push(task);
        }
    }
    let path = temp("bfcl.jsonl", &lines);
    let loaded = load(&path, false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.tasks, originals, "task → JSON line → task");
    let (mut python, mut bfcl_full) = (0, 0);
    for t in &loaded.tasks {
        for tool in &t.tools {
            let props = tool["parameters"]["properties"].as_object().into_iter().flatten();
            for (name, p) in props {
                let ty = p["type"].as_str().unwrap_or("");
                let allowed = ["string", "integer", "number", "boolean", "array", "object"];
                assert!(allowed.contains(&ty), "{}: {name} has JSON Schema type {ty:?}", t.id);
            }
        }
        let expected = &t.answers[0];
        let oracle = first_acceptable(t.language, t.checker_functions(), expected);
        let text = format!("<think>t</think>{}", oracle.iter().map(ToolCall::render).collect::<String>());
        let text = if oracle.is_empty() { "<think>t</think>None of the tools fit.".to_string() } else { text };
        let s = score(&parse(&text), Expectation { functions: t.checker_functions(), expected, language: t.language });
        assert_eq!(s.format, 1.0, "{}", t.id);
        bfcl_full += usize::from(s.bfcl == 1.0);
        if t.language == Language::Python {
            assert_eq!((s.exact, s.partial.total), (1.0, 1.0), "{}: {s:?}", t.id);
            python += 1;
        }
    }
    eprintln!(
        "{} tasks read back equal; bfcl full marks {bfcl_full}; exact = partial = 1 on {python} Python tasks",
        originals.len()
    );
    assert_eq!(bfcl_full, loaded.tasks.len() - 2, "only simple_java_36 and _65 are unreachable");
}

const BAD: &str = r#"{"id":"a","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"type":"number"}}}}}],"answers":[[{"name":"f","arguments":{"x":[1]}}]]}
{"id":"b","messages":[{"role":"robot","content":"hi"}],"tools":[],"answers":[]}
not json
{"id":"a","messages":[{"role":"user","content":"x"}],"tools":[],"answers":[]}
{"id":"c","messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","parameters":{}}],"answers":[[{"name":"g","arguments":{}}]]}
{"id":"d","messages":[],"tools":[],"answers":[],"extra":1}
"#;

#[test]
fn bad_lines_are_named_and_skippable() {
    let path = temp("bad.jsonl", BAD);
    let err = load(&path, false).expect_err("line 2 is bad");
    let text = err.to_string();
    assert!(matches!(err, DataError::Line { line: 2, .. }), "{text}");
    assert!(text.contains(&format!("{}:2: messages[0].role", path.display())), "{text}");
    let loaded = load(&path, true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.tasks.len(), 1);
    let fields: Vec<String> = loaded
        .skipped
        .iter()
        .map(|e| match e {
            DataError::Line { line, field, .. } => format!("{line}:{field}"),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(fields, ["2:messages[0].role", "3:(line)", "4:id", "5:answers[0][0].name", "6:extra"]);
    let empty = temp("empty.jsonl", "not json\n");
    assert!(matches!(load(&empty, true), Err(DataError::Empty { skipped: 1, .. })));

    let awpo = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_awpo")).args(args).output().expect("binary runs");
    let file = path.to_string_lossy().to_string();
    let out = awpo(&["data", "check", &file]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(":2: messages[0].role") && !stderr.contains("panicked"), "{stderr}");
    let out = awpo(&["data", "check", &file, "--skip-bad-lines"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 tasks") && stdout.contains("5 bad lines skipped"), "{stdout}");
}

/// `awpo data synth` writes tasks that `awpo data check` accepts (each task's first acceptable
/// answer scores full marks); a wrong value, a missing call, or a call where none is right
/// scores below 1; thousands of distinct functions; none named like a BFCL function; the same
/// seed writes the same file.
#[test]
fn the_synth_corpus_checks_out_is_varied_and_apart_from_bfcl() {
    use awpo::corpus::{Category, Split, tasks};
    let awpo = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_awpo")).args(args).output().expect("the binary runs");
    let path = std::env::temp_dir().join(format!("awpo-{}-synth.jsonl", std::process::id()));
    let file = path.to_str().expect("utf-8 path");
    let out = awpo(&["data", "synth", "--count", "600", "--seed", "5", "--out", file]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let first = std::fs::read_to_string(&path).expect("written");
    let out = awpo(&["data", "check", file]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("full marks: 600/600"), "{said}");
    assert!(awpo(&["data", "synth", "--count", "600", "--seed", "5", "--out", file]).status.success());
    assert_eq!(std::fs::read_to_string(&path).expect("written"), first, "same seed, same file");
    let bad = awpo(&["data", "synth", "--category", "simple,nonsense"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("nonsense"));
    let _ = std::fs::remove_file(&path);

    // BFCL is never read by the generator; names can still coincide (a generic
    // `verb_thing_info`). Coincidences stay under 1% of the names, and no function has a BFCL
    // function's name and parameters.
    let corpus = tasks(1, Split::Train, 5000, &[]);
    let params = |f: &serde_json::Value| {
        let mut p: Vec<String> =
            f["parameters"]["properties"].as_object().map_or_else(Vec::new, |o| o.keys().cloned().collect());
        p.sort();
        p
    };
    let mut ours: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for f in corpus.iter().flat_map(|t| &t.tools) {
        ours.insert(f["name"].as_str().unwrap_or_default().to_string(), params(f));
    }
    assert!(ours.len() >= 2000, "{} distinct functions in 5000 tasks", ours.len());
    let dir = data_dir();
    let mut shared = std::collections::BTreeSet::new();
    for category in ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"] {
        for item in load_bfcl(&dir, category).unwrap_or_else(|e| panic!("{e}")) {
            for f in &item.to_task(category).tools {
                let name = f["name"].as_str().unwrap_or_default();
                if let Some(p) = ours.get(name) {
                    assert_ne!(p, &params(f), "{name} is a BFCL function ({category}) with the same parameters");
                    shared.insert(name.to_string());
                }
            }
        }
    }
    eprintln!("{} of {} names also name a BFCL function: {shared:?}", shared.len(), ours.len());
    assert!(shared.len() * 100 < ours.len(), "{shared:?}");
    // The checker tells right from wrong on these tasks.
    for c in Category::ALL {
        for t in tasks(2, Split::HeldOut, 40, &[c]) {
            let expected = &t.answers[0];
            let want = Expectation { functions: t.checker_functions(), expected, language: t.language };
            let oracle = first_acceptable(t.language, t.checker_functions(), expected);
            let right: String = if oracle.is_empty() {
                "No tool fits this request.".into()
            } else {
                oracle.iter().map(ToolCall::render).collect()
            };
            assert!(score(&parse(&right), want).bfcl >= 1.0, "{}: {right}", t.id);
            let demo = awpo::synth::demonstration(&t);
            let s = score(&parse(&demo), want);
            assert!(s.bfcl >= 1.0 && s.format >= 1.0, "{}: the warm-up's demonstration {demo:?} scores {s:?}", t.id);
            let wrong: String = match oracle.split_last() {
                None => ToolCall { name: "get_forecast".into(), arguments: serde_json::Map::new() }.render(),
                Some((last, [])) => {
                    let mut w = last.clone();
                    let key = w.arguments.keys().next().cloned().expect("an argument");
                    w.arguments.insert(key, serde_json::json!("not the value"));
                    w.render()
                }
                Some((_, rest)) => rest.iter().map(ToolCall::render).collect(),
            };
            assert!(score(&parse(&wrong), want).bfcl < 1.0, "{}: {wrong} scored full marks", t.id);
        }
    }
}
