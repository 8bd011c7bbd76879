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
