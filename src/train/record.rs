//! What a run leaves for people: `metrics.jsonl` (one line per step), `evals.json` (held-out
//! accuracies by moment), `transcripts/step-N.jsonl` (a few full episodes).

use std::io::Write;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::checkpoint::write_atomic;
use super::episode::{Episode, HeldOutAccuracy};
use super::step::StepMetrics;
use crate::data::task::Task;
use crate::model::ModelError;
use crate::tokenizer::TextTokenizer;

fn werr(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Write { path: path.into(), reason: e.to_string() }
}

/// Appends one step's metrics.
///
/// # Errors
/// The file cannot be written.
pub fn append_metrics(run_dir: &Path, m: &StepMetrics) -> Result<(), ModelError> {
    let path = run_dir.join("metrics.jsonl");
    let line = serde_json::to_string(m).map_err(|e| werr(&path, e))?;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| werr(&path, e))?;
    writeln!(f, "{line}").and_then(|()| f.flush()).map_err(|e| werr(&path, e))
}

/// The metrics lines of a run, parsed.
pub fn read_metrics(run_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(run_dir.join("metrics.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Drops metrics lines after `step` (a resumed run rewrites them on the same trajectory).
///
/// # Errors
/// The file cannot be rewritten.
pub fn truncate_after(run_dir: &Path, step: usize) -> Result<(), ModelError> {
    let path = run_dir.join("metrics.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(()) };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l).ok().and_then(|v| v["step"].as_u64()).is_some_and(|s| s as usize <= step)
        })
        .collect();
    let body = if kept.is_empty() { String::new() } else { kept.join("\n") + "\n" };
    write_atomic(&path, &body)
}

/// Records a held-out accuracy under `key` (`before`, `step-N`, `after`).
///
/// # Errors
/// The file cannot be written.
pub fn write_eval(run_dir: &Path, key: &str, accuracy: &HeldOutAccuracy) -> Result<(), ModelError> {
    let mut all = evals(run_dir);
    all.insert(key.into(), json!(accuracy.overall));
    all.insert(format!("{key}_by_category"), json!(accuracy.by_category));
    all.insert(format!("{key}_right"), json!(accuracy.right));
    write_evals(run_dir, all)
}

/// Everything `evals.json` records (empty when there is no file or it does not parse).
pub fn evals(run_dir: &Path) -> Map<String, Value> {
    std::fs::read_to_string(run_dir.join("evals.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Replaces `evals.json` (atomically).
///
/// # Errors
/// The file cannot be written.
pub fn write_evals(run_dir: &Path, all: Map<String, Value>) -> Result<(), ModelError> {
    write_atomic(&run_dir.join("evals.json"), &Value::Object(all).to_string())
}

/// The recorded verdicts of each held-out task (`{key}_right`), in the tasks' order.
pub fn read_verdicts(run_dir: &Path, key: &str) -> Vec<bool> {
    evals(run_dir).remove(&format!("{key}_right")).and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

/// A recorded held-out accuracy.
pub fn read_eval(run_dir: &Path, key: &str) -> Option<f64> {
    evals(run_dir).get(key)?.as_f64()
}

/// Writes the first few episodes of a step in full.
///
/// # Errors
/// The file cannot be written.
pub fn transcripts(
    run_dir: &Path,
    step: usize,
    tasks: &[&Task],
    episodes: &[Episode],
    tokenizer: &TextTokenizer,
) -> Result<(), ModelError> {
    let dir = run_dir.join("transcripts");
    std::fs::create_dir_all(&dir).map_err(|e| werr(&dir, e))?;
    let mut lines = Vec::new();
    for e in episodes.iter().take(4) {
        lines.push(
            json!({
                "step": step, "task": tasks[e.task].id, "prompt": tokenizer.decode(e.turns.first().map_or(&[][..], |t| &t.prompt), false)?,
                "episode": e.text(), "outcome": e.outcome, "reasoning": e.reasoning, "correct": e.correct,
            })
            .to_string(),
        );
    }
    write_atomic(&dir.join(format!("step-{step}.jsonl")), &(lines.join("\n") + "\n"))
}
