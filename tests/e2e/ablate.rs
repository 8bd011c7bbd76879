//! `awpo ablate` on the built-in model (CPU backend): every variant of a seed starts from the
//! same warm-up, data order and rollout seeds (so their first steps' rollouts are identical), runs
//! its own objective, and the command run again skips finished runs and refuses a changed
//! configuration.

use std::path::Path;

use super::train::{SMALL, awpo, replayable, temp};

fn ablate(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["ablate", "--device", "cpu", "--seeds", "3", "--variants", "awpo,grpo,no-clip"];
    let out = out.display().to_string();
    args.extend(["--out", &out]);
    for s in SMALL.iter().chain(&["train.steps=2", "train.save_every=1"]).chain(extra) {
        args.extend(["--set", s]);
    }
    awpo(&args)
}

fn first_step(run: &Path) -> serde_json::Value {
    let first = replayable(run).into_iter().next().expect("a step");
    serde_json::from_str(&first).expect("json")
}

#[test]
fn variants_share_the_warm_up_and_the_command_resumes() {
    let out = temp("ablate");
    let run = ablate(&out, &[]);
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{log}");
    assert_eq!(log.matches("supervised warm-up:").count(), 1, "one warm-up for the seed: {log}");
    let dir = |v: &str| out.join("seed-3").join(v);
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let base = read(&dir("awpo").join("base/model.safetensors"));
    let config = |v: &str| String::from_utf8(read(&dir(v).join("config.toml"))).expect("utf-8");
    for (v, want) in [
        ("awpo", ["mode = \"awpo\"", "clip = \"tailored\""]),
        ("grpo", ["mode = \"grpo\"", "clip = \"tailored\""]),
        ("no-clip", ["mode = \"awpo\"", "clip = \"off\""]),
    ] {
        assert_eq!(read(&dir(v).join("base/model.safetensors")), base, "{v}: the seed's warm-up");
        let c = config(v);
        assert!(want.iter().all(|w| c.contains(w)) && c.contains("seed = 3"), "{v}: {c}");
        assert!(dir(v).join("checkpoints/step-2/adapter").is_dir(), "{v}: finished");
    }
    // Same warm-up, tasks and rollout seeds: the first step's rollouts and rewards are identical;
    // the objectives differ (GRPO has no reasoning term to clip).
    let steps: Vec<serde_json::Value> = ["awpo", "grpo", "no-clip"].iter().map(|v| first_step(&dir(v))).collect();
    for s in &steps[1..] {
        for k in ["outcome_mean", "reasoning_mean", "response_len", "accuracy"] {
            assert_eq!(s[k], steps[0][k], "{k}: {s} vs {}", steps[0]);
        }
    }
    assert_eq!(steps[1]["adv_clip_frac"], 0.0);
    assert_eq!(steps[2]["adv_clip_frac"], 0.0);
    let table = String::from_utf8(read(&out.join("ablation.md"))).expect("utf-8");
    for row in ["| awpo |", "| grpo |", "| no-clip |", "| seed 3 |"] {
        assert!(table.contains(row), "{row}: {table}");
    }
    let cells: serde_json::Value = serde_json::from_slice(&read(&out.join("ablation.json"))).expect("json");
    let before: Vec<&serde_json::Value> = cells.as_array().expect("cells").iter().map(|c| &c["before"]).collect();
    assert!(before.len() == 3 && before[0].is_f64() && before.iter().all(|b| *b == before[0]), "{cells}");
    let right = |c: &serde_json::Value| c["right"].as_array().map_or(0, Vec::len);
    assert!(cells.as_array().expect("cells").iter().all(|c| right(c) == 4), "a verdict per held-out task: {cells}");

    // `awpo report OUT`: the table and, per seed, a line per variant in each chart.
    let report = awpo(&["report", &out.display().to_string()]);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let html = String::from_utf8(read(&out.join("report.html"))).expect("utf-8");
    assert!(
        html.contains("<table>") && html.contains("<td>no-clip</td>") && html.contains("<h2>seed 3</h2>"),
        "{html}"
    );
    assert_eq!(html.matches("<polyline").count(), 6 * 3, "six charts of three variants");

    // Again: nothing is trained (the finished runs are read back), the same table. A killed cell
    // (its record removed, a checkpoint left) resumes to the same metrics.
    let metrics = replayable(&dir("grpo"));
    std::fs::remove_file(dir("grpo").join("ablation-cell.json")).expect("rm");
    std::fs::remove_dir_all(dir("grpo").join("checkpoints/step-2")).expect("rm");
    std::fs::write(dir("grpo").join("checkpoints/latest"), "step-1").expect("pointer");
    let again = ablate(&out, &[]);
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{log}");
    assert!(!log.contains("supervised warm-up:") && log.matches("resuming").count() == 1, "{log}");
    assert_eq!(replayable(&dir("grpo")), metrics, "the resumed cell follows the same trajectory");
    assert_eq!(String::from_utf8(read(&out.join("ablation.md"))).expect("utf-8"), table);

    // A changed configuration is refused, naming the run directory, before anything is trained.
    let changed = ablate(&out, &["rollout.temperature=0.5"]);
    let err = String::from_utf8_lossy(&changed.stderr);
    assert!(!changed.status.success() && err.contains("seed-3/awpo") && err.contains("another configuration"), "{err}");
    let _ = std::fs::remove_dir_all(out);
}
