//! The `awpo` binary as a person runs it.

use std::process::Command;

fn awpo(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_awpo")).args(args).output().expect("the binary runs")
}

#[test]
fn config_print_parses_back_with_overrides() {
    let out = awpo(&["config", "print", "--set", "algo.mode=naive-sum", "--set", "algo.lambda=0.25"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let cfg: awpo::RunConfig = toml::from_str(&text).expect("printed config parses");
    assert_eq!(cfg.algo.mode, awpo::algo::Mode::NaiveSum);
    assert_eq!(cfg.algo.lambda, 0.25);
}

#[test]
fn bad_configuration_is_one_line_naming_the_key() {
    let out = awpo(&["config", "print", "--set", "algo.kapa=1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kapa") && !err.contains("panicked"), "{err}");
    let out = awpo(&["config", "print", "--config", "/nonexistent/run.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/run.toml"));
}

#[test]
fn zero_sizes_are_rejected_by_the_parser() {
    let out = awpo(&["check", "--device", "cpu", "--tokens", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tokens") && !err.contains("panicked"), "{err}");
}

#[test]
fn check_on_cpu_passes() {
    let out = awpo(&["check", "--device", "cpu", "--groups", "4", "--group-size", "4", "--tokens", "64"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("check passed") && stdout.contains("burn tensor ops"), "{stdout}");
}

#[test]
fn a_run_that_cannot_fit_is_refused_before_any_work() {
    let dir = std::env::temp_dir().join(format!("awpo-no-fit-{}", std::process::id()));
    let run_dir = format!("train.run_dir={:?}", dir.display().to_string());
    let out = awpo(&["train", "--device", "cpu", "--set", "train.memory_limit_mib=1", "--set", &run_dir]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("memory plan (f32): base weights") && stderr.contains("peak ~"),
        "the plan is printed: {stderr}"
    );
    assert!(
        stderr.contains("available") && stderr.contains("the largest term is") && stderr.contains("reduce `"),
        "one error naming the largest term and its knob: {stderr}"
    );
    assert!(!dir.join("metrics.jsonl").exists() && !dir.join("base").exists(), "no work was done");
    let _ = std::fs::remove_dir_all(&dir);
}
