//! Environments: the external protocol with a real child process (normal, crash, hang, garbage,
//! refusal, wrong version), and BFCL's own multi-turn simulators through the bundled bridge
//! (`scripts/bfcl_env.py`): ground-truth call sequences reach BFCL's verdict "valid", truncated
//! ones do not.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use awpo::data::task::{Message, Role, Task};
use awpo::env::process::{ProcessConfig, ProcessEnv};
use awpo::env::{EnvError, Environment};
use awpo::tools::ToolCall;
use serde_json::{Value, json};

fn echo(mode: &str, timeout: Duration) -> ProcessConfig {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/env/echo_env.py");
    ProcessConfig { program: PathBuf::from("python3"), args: vec![script.into(), mode.into()], timeout }
}

fn task(id: &str) -> Task {
    Task { id: id.into(), messages: vec![Message { role: Role::User, content: "hi".into() }], ..Task::default() }
}

fn call(name: &str, args: Value) -> ToolCall {
    ToolCall { name: name.into(), arguments: args.as_object().cloned().unwrap_or_default() }
}

#[test]
fn a_child_process_serves_episodes_and_its_failures_are_clear() {
    let mut env = ProcessEnv::spawn(&echo("normal", Duration::from_secs(20))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(env.name, "echo-normal");
    assert_eq!(env.reset(&task("t1")).expect("reset")[0].content, "hi");
    let step = env.step(&[call("add", json!({"b": 2, "a": 1})), call("kv_get", json!({}))]).expect("step");
    let texts: Vec<&str> = step.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, [r#"add({"a": 1, "b": 2})"#, "kv_get({})"]);
    assert!(step.messages.iter().all(|m| m.role == Role::Tool) && !step.done && step.reward.is_none());
    let end = env.step(&[]).expect("end");
    assert!(end.done && end.reward == Some(1.0));

    let failing = |mode: &str, timeout: Duration| -> (EnvError, Duration) {
        let mut env = ProcessEnv::spawn(&echo(mode, timeout)).unwrap_or_else(|e| panic!("{mode}: {e}"));
        env.reset(&task("t")).unwrap_or_else(|e| panic!("{mode}: {e}"));
        let start = Instant::now();
        let err = env.step(&[call("f", json!({}))]).expect_err(mode);
        let elapsed = start.elapsed();
        assert!(matches!(env.step(&[]), Err(EnvError::State(_)) | Err(EnvError::Refused { .. })), "{mode}: dead after");
        (err, elapsed)
    };
    let (err, _) = failing("crash", Duration::from_secs(20));
    let msg = err.to_string();
    assert!(matches!(err, EnvError::Exited { .. }), "{msg}");
    assert!(msg.contains("exit status: 3") && msg.contains("simulated failure in the tool server"), "{msg}");
    let (err, elapsed) = failing("hang", Duration::from_millis(800));
    let msg = err.to_string();
    assert!(
        matches!(err, EnvError::Timeout { .. }) && msg.contains("0.8 s") && msg.contains("step with 1 calls"),
        "{msg}"
    );
    assert!(elapsed < Duration::from_secs(5), "the timeout bounds the wait: {elapsed:?}");
    let (err, _) = failing("garbage", Duration::from_secs(20));
    let msg = err.to_string();
    assert!(matches!(err, EnvError::Garbage { .. }) && msg.contains("<html>this is not JSON</html>"), "{msg}");
    let mut env = ProcessEnv::spawn(&echo("refuse", Duration::from_secs(20))).expect("spawns");
    env.reset(&task("t")).expect("reset");
    let err = env.step(&[call("f", json!({}))]).expect_err("refused").to_string();
    assert!(err.contains("refused `step`: no such tool"), "{err}");
    let err = ProcessEnv::spawn(&echo("version", Duration::from_secs(20))).err().expect("version").to_string();
    assert!(err.contains("speaks protocol 99"), "{err}");
    let missing =
        ProcessConfig { program: "/nonexistent/env-server".into(), args: vec![], timeout: Duration::from_secs(1) };
    let err = ProcessEnv::spawn(&missing).err().expect("missing").to_string();
    assert!(err.contains("/nonexistent/env-server"), "{err}");
}

/// The bundled BFCL bridge, with its ground truth as structured calls.
fn bfcl_env() -> ProcessEnv {
    let dir = crate::common::asset("bfcl", "bfcl-eval-2026.3.23");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bfcl_env.py");
    let cfg = ProcessConfig {
        program: PathBuf::from("python3"),
        args: vec![script.into(), "--bfcl-dir".into(), dir.display().to_string()],
        timeout: Duration::from_secs(60),
    };
    ProcessEnv::spawn(&cfg).unwrap_or_else(|e| panic!("{e}"))
}

fn ground_truth(env: &mut ProcessEnv) -> Vec<Vec<ToolCall>> {
    let gt = env.request("ground_truth", json!({})).unwrap_or_else(|e| panic!("{e}"));
    let turns: Vec<Vec<Value>> = serde_json::from_value(gt["turns"].clone()).expect("turns");
    turns
        .into_iter()
        .map(|t| t.into_iter().map(|c| call(c["name"].as_str().expect("name"), c["arguments"].clone())).collect())
        .collect()
}

/// Replays `turns` (each turn's calls as one step, then a step without calls to end the turn);
/// returns the reward at the end and the number of user turns seen.
fn replay(env: &mut ProcessEnv, id: &str, turns: &[Vec<ToolCall>]) -> (Option<f64>, usize) {
    let first = env.reset(&Task { id: id.into(), ..Task::default() }).unwrap_or_else(|e| panic!("{id}: {e}"));
    assert!(first.iter().all(|m| m.role == Role::User) && !first.is_empty(), "{id}: opens with the user's turn");
    let mut user_turns = 1;
    for (i, calls) in turns.iter().enumerate() {
        if !calls.is_empty() {
            let step = env.step(calls).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(step.messages.len(), calls.len(), "{id} turn {i}: one result per call");
            assert!(step.messages.iter().all(|m| m.role == Role::Tool));
        }
        let next = env.step(&[]).unwrap_or_else(|e| panic!("{id}: {e}"));
        if next.done {
            return (next.reward, user_turns);
        }
        user_turns += 1;
    }
    (None, user_turns)
}

#[test]
fn bfcl_multi_turn_ground_truth_reaches_the_ground_truth_state() {
    let mut env = bfcl_env();
    for id in
        ["multi_turn_base_0", "multi_turn_base_4", "multi_turn_base_10", "multi_turn_base_25", "multi_turn_base_60"]
    {
        env.reset(&Task { id: id.into(), ..Task::default() }).unwrap_or_else(|e| panic!("{id}: {e}"));
        let gt = ground_truth(&mut env);
        let (reward, turns) = replay(&mut env, id, &gt);
        assert_eq!((reward, turns), (Some(1.0), gt.len()), "{id}: ground truth replayed");
        // Drop the last call of the last turn that has one: BFCL must now say no.
        let mut cut = gt.clone();
        let last = cut.iter().rposition(|t| !t.is_empty()).expect("some call");
        cut[last].pop();
        let (reward, _) = replay(&mut env, id, &cut);
        assert_eq!(reward, Some(0.0), "{id}: truncated sequence");
        let verdict = env.request("check", json!({})).expect("check");
        assert_eq!(verdict["valid"], false);
        eprintln!("{id}: {} turns; truncated → {}", gt.len(), verdict["error_type"]);
    }
    let err = env.reset(&Task { id: "multi_turn_base_99999".into(), ..Task::default() }).expect_err("unknown id");
    assert!(err.to_string().contains("no BFCL entry"), "{err}");
}
