//! Broken data and configuration: task files (malformed JSON, invalid UTF-8, nesting 100,000
//! deep), TOML files with wrong types or syntax errors, NaN / negative / zero hyper-parameters
//! through `--set` and through a file, and garbage BFCL directories.

use std::path::Path;

use super::cases::{Battery, absent, arg, args, deep_json, garbage, temp};

const TASK: &str = r#"{"id": "a", "messages": [{"role": "user", "content": "hi"}], "tools": [], "answers": [[]]}"#;

/// `--set train.run_dir=DIR` (quoted as TOML).
fn run_dir(dir: &Path) -> String {
    format!("train.run_dir={:?}", arg(dir))
}

#[test]
fn broken_task_files_are_refused_naming_file_and_line() {
    let root = temp("tasks");
    let mut battery = Battery::default();
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    let cases: Vec<(&str, Vec<u8>, Option<usize>)> = vec![
        ("a malformed JSON line", format!("{TASK}\n{{not json\n").into_bytes(), Some(2)),
        ("a line of invalid UTF-8", [format!("{TASK}\n").as_bytes(), b"{\"id\": \"b\xff\xfe\"}\n"].concat(), Some(2)),
        (
            "a line nested 100,000 arrays deep",
            format!("{TASK}\n{{\"id\": {}}}\n", deep_json(100_000)).into_bytes(),
            Some(2),
        ),
        ("a line nested 100,000 objects deep", format!("{deep_object}\n{TASK}\n").into_bytes(), Some(1)),
        ("a file of garbage", garbage(3000, 5), Some(1)),
        (
            "a follow-up without its answer turn",
            format!(
                "{TASK}\n{}, \"followups\": [\"and?\"]}}\n",
                TASK.replace(r#""id": "a""#, r#""id": "b""#).trim_end_matches('}')
            )
            .into_bytes(),
            Some(2),
        ),
        ("an empty file", Vec::new(), None),
    ];
    for (i, (name, bytes, line)) in cases.into_iter().enumerate() {
        let file = root.join(format!("case-{i}.jsonl"));
        std::fs::write(&file, bytes).expect("write");
        let named = match line {
            Some(n) => format!("{}:{n}", file.display()),
            None => arg(&file),
        };
        battery.refused(
            &format!("data check: {name}"),
            &args(&["data", "check", &arg(&file)]),
            std::slice::from_ref(&named),
            || Ok(()),
        );
        let run = root.join(format!("run-{i}"));
        let train = args(&["train", "--set", &format!("data.train={:?}", arg(&file)), "--set", &run_dir(&run)]);
        battery.refused(&format!("train: {name}"), &train, std::slice::from_ref(&named), || absent(&run));
        let out = root.join(format!("results-{i}.jsonl"));
        let eval =
            args(&["eval", "--model", "oracle", "--suite", "tasks", "--tasks", &arg(&file), "--out", &arg(&out)]);
        battery.refused(&format!("eval --suite tasks: {name}"), &eval, &[named], || absent(&out));
    }
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}

#[test]
fn broken_toml_configs_are_one_line_naming_file_line_and_key() {
    let root = temp("toml");
    let mut battery = Battery::default();
    let deep = format!("seed = {}\n", deep_json(100_000));
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("a string for a number", "seed = 1\n[optim]\nlr = \"fast\"\n", vec![":3", "lr"]),
        ("a string for the seed", "seed = \"x\"\n", vec![":1", "seed"]),
        ("a negative count", "[rollout]\ngroup_size = -2\n", vec![":2", "group_size"]),
        ("a number for a section", "optim = 5\n", vec![":1", "optim"]),
        ("an unclosed table header", "[optim\nlr = 1\n", vec![":1"]),
        ("a key without a value", "[optim]\nlr =\n", vec![":2"]),
        ("an unterminated string", "[train]\nrun_dir = \"runs/x\n", vec![":2"]),
        ("a duplicate key", "[optim]\nlr = 1.0\nlr = 2.0\n", vec![":3", "lr"]),
        ("NaN", "[optim]\nlr = nan\n", vec!["optim.lr"]),
        ("a negative rate", "[optim]\nlr = -1.0\n", vec!["optim.lr"]),
        ("a zero group", "[rollout]\ngroup_size = 0\n", vec!["rollout.group_size"]),
        ("infinity", "[algo]\nkappa = inf\n", vec!["algo.kappa"]),
        ("an array nested 100,000 deep", &deep, vec![":1"]),
    ];
    for (i, (name, text, needles)) in cases.into_iter().enumerate() {
        let file = root.join(format!("case-{i}.toml"));
        std::fs::write(&file, text).expect("write");
        let mut want = vec![arg(&file)];
        want.extend(
            needles.iter().map(|n| if n.starts_with(':') { format!("{}{n}", file.display()) } else { n.to_string() }),
        );
        let run = root.join(format!("run-{i}"));
        let train = args(&["train", "--config", &arg(&file), "--set", &run_dir(&run)]);
        battery.refused(name, &train, &want, || absent(&run));
    }
    let file = root.join("not-utf8.toml");
    std::fs::write(&file, b"seed = 1\n[optim]\nlr = \"\xff\"\n").expect("write");
    battery.refused(
        "a file of invalid UTF-8",
        &args(&["config", "print", "--config", &arg(&file)]),
        &[arg(&file)],
        || Ok(()),
    );
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}

#[test]
fn nan_negative_and_zero_hyper_parameters_are_refused_naming_the_key() {
    let root = temp("hyper");
    let mut battery = Battery::default();
    let sets = [
        ("optim.lr", "nan"),
        ("optim.lr", "-1e-4"),
        ("optim.lr", "0"),
        ("optim.eps", "0"),
        ("optim.beta2", "nan"),
        ("optim.weight_decay", "nan"),
        ("optim.weight_decay", "inf"),
        ("optim.max_grad_norm", "nan"),
        ("optim.max_grad_norm", "-1"),
        ("optim.micro_batch", "0"),
        ("optim.min_lr_ratio", "nan"),
        ("rollout.group_size", "0"),
        ("rollout.group_size", "-3"),
        ("rollout.temperature", "-1"),
        ("rollout.temperature", "nan"),
        ("rollout.top_p", "0"),
        ("rollout.max_new_tokens", "0"),
        ("algo.clip_high", "nan"),
        ("algo.kappa", "-1"),
        ("algo.eps", "0"),
        ("lora.rank", "0"),
        ("lora.alpha", "nan"),
        ("lora.dropout", "1"),
        ("reward.format", "nan"),
        ("judge.timeout_s", "1e300"),
        ("judge.timeout_s", "0"),
        ("judge.scale", "-10"),
        ("train.sft_lr", "inf"),
        ("train.sft_mistake_rate", "nan"),
        ("train.save_every", "0"),
        ("seed", "-1"),
    ];
    for (i, (key, value)) in sets.into_iter().enumerate() {
        let run = root.join(format!("run-{i}"));
        let train = args(&["train", "--set", &format!("{key}={value}"), "--set", &run_dir(&run)]);
        battery.refused(&format!("--set {key}={value}"), &train, &[key.to_string()], || absent(&run));
    }
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}

/// One BFCL question line.
const QUESTION: &str = r#"{"id": "simple_python_0", "question": [[{"role": "user", "content": "Area of a circle of radius 2?"}]], "function": [{"name": "area", "description": "circle area", "parameters": {"type": "dict", "properties": {"radius": {"type": "integer"}}, "required": ["radius"]}}]}"#;

#[test]
fn garbage_bfcl_directories_are_refused_and_leave_no_output() {
    let root = temp("bfcl");
    let mut battery = Battery::default();
    let questions = "BFCL_v4_simple_python.json";
    let answers = "possible_answer/BFCL_v4_simple_python.json";
    // (name, files written into the directory, the file the error names, its line).
    type Case<'a> = (&'a str, Vec<(&'a str, Vec<u8>)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        ("an empty directory", vec![], questions, ""),
        ("a questions file of garbage", vec![(questions, garbage(5000, 6))], questions, ":1"),
        ("a question that is no BFCL record", vec![(questions, br#"{"id": 5}"#.to_vec())], questions, ":1"),
        ("a question nested 100,000 deep", vec![(questions, deep_json(100_000).into_bytes())], questions, ":1"),
        ("an answers file of garbage", vec![(questions, QUESTION.into()), (answers, garbage(800, 7))], answers, ":1"),
        (
            "an answer for no question",
            vec![(questions, QUESTION.into()), (answers, br#"{"id": "nope", "ground_truth": []}"#.to_vec())],
            answers,
            ":1",
        ),
        (
            "a malformed ground truth",
            vec![
                (questions, QUESTION.into()),
                (answers, br#"{"id": "simple_python_0", "ground_truth": [{"a": 1, "b": 2}]}"#.to_vec()),
            ],
            answers,
            ":1",
        ),
    ];
    for (i, (name, files, bad, line)) in cases.into_iter().enumerate() {
        let dir = root.join(format!("case-{i}"));
        std::fs::create_dir_all(dir.join("possible_answer")).expect("dir");
        for (file, bytes) in files {
            std::fs::write(dir.join(file), bytes).expect("write");
        }
        let named = format!("{}{line}", dir.join(bad).display());
        let out = root.join(format!("results-{i}.jsonl"));
        let eval = args(&["eval", "--model", "oracle", "--bfcl-dir", &arg(&dir), "--categories", "simple_python"]);
        let eval = [eval, args(&["--out", &arg(&out)])].concat();
        battery.refused(&format!("eval: {name}"), &eval, std::slice::from_ref(&named), || absent(&out));
        let tasks = root.join(format!("tasks-{i}.jsonl"));
        let convert = args(&[
            "data",
            "from-bfcl",
            "--bfcl-dir",
            &arg(&dir),
            "--category",
            "simple_python",
            "--out",
            &arg(&tasks),
        ]);
        battery.refused(&format!("data from-bfcl: {name}"), &convert, &[named], || absent(&tasks));
    }
    let dir = root.join("multi");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("BFCL_v4_multi_turn_base.json"), garbage(700, 8)).expect("write");
    let eval = args(&["eval", "--model", "oracle", "--bfcl-dir", &arg(&dir), "--categories", "multi_turn_base"]);
    battery.refused(
        "eval: a multi-turn file of garbage",
        &eval,
        &[arg(&dir.join("BFCL_v4_multi_turn_base.json"))],
        || Ok(()),
    );
    let file = root.join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    let eval = args(&["eval", "--model", "oracle", "--bfcl-dir", &arg(&file), "--categories", "simple_python"]);
    battery.refused("eval: --bfcl-dir naming a file", &eval, &[arg(&file)], || Ok(()));
    let _ = std::fs::remove_dir_all(root);
    battery.finish();
}
