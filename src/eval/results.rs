//! The results file (`--out`): JSON lines, a [`Header`] first, then one [`ItemResult`] per line,
//! appended and flushed as each item is scored. Opening an existing file with the same header
//! continues it (the items in it are not run again; a line torn by a kill is dropped); another
//! header is an error naming the field that differs. Also the per-category table and the
//! side-by-side comparison of two files.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{EvalError, ItemResult};
use crate::stats::{paired_bootstrap, wilson};

/// Format version of results files.
pub const FORMAT: u32 = 1;

/// What produced a results file; a run continues a file only when every field is equal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub awpo_eval: u32,
    /// Model path, or `oracle`.
    pub model: String,
    /// Adapter directory, if any.
    pub adapter: Option<String>,
    /// Suite and where its data came from.
    pub suite: String,
    /// Replies per item.
    pub samples: usize,
    /// Sampling temperature (0 = greedy).
    pub temperature: f64,
    /// Reply length limit.
    pub max_new_tokens: usize,
}

fn results_error(path: &Path, line: usize, reason: impl Into<String>) -> EvalError {
    EvalError::Results { path: path.to_path_buf(), line, reason: reason.into() }
}

/// Reads a results file: its header and results; a torn last line (no newline) is ignored.
///
/// # Errors
/// Unreadable file, a missing or foreign header, a malformed complete line.
pub fn read(path: &Path) -> Result<(Header, Vec<ItemResult>), EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| results_error(path, 0, format!("cannot read: {e}")))?;
    let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
    let mut lines = complete.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        return Err(results_error(path, 1, "empty: not an awpo eval results file"));
    };
    let header: Header = serde_json::from_str(first)
        .map_err(|e| results_error(path, 1, format!("not an awpo eval results header: {e}")))?;
    if header.awpo_eval != FORMAT {
        return Err(results_error(path, 1, format!("format {} (this awpo reads {FORMAT})", header.awpo_eval)));
    }
    let mut results = Vec::new();
    for (i, line) in lines {
        results.push(serde_json::from_str(line).map_err(|e| results_error(path, i + 1, e.to_string()))?);
    }
    Ok((header, results))
}

/// Whether `path` holds a results file to continue (it exists and is not empty).
pub fn exists(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > 0)
}

/// `Ok` when a file written with header `found` may be continued by a run with `header`.
///
/// # Errors
/// The first field that differs, named.
pub fn same_run(path: &Path, found: &Header, header: &Header) -> Result<(), EvalError> {
    let was = serde_json::to_value(found).unwrap_or_default();
    let now = serde_json::to_value(header).unwrap_or_default();
    if let Some((field, old)) = was.as_object().into_iter().flatten().find(|(k, v)| now.get(*k) != Some(v)) {
        let reason = format!(
            "written with {field} = {old}, this run has {field} = {}: choose another --out to start afresh",
            now.get(field).cloned().unwrap_or_default()
        );
        return Err(results_error(path, 1, reason));
    }
    Ok(())
}

/// A results file open for appending.
pub struct ResultsFile {
    path: PathBuf,
    file: std::fs::File,
}

impl ResultsFile {
    /// Creates `path` with `header`, or continues it when it holds the same header: returns the
    /// results already there.
    ///
    /// # Errors
    /// Unwritable file; an existing file written by another model, adapter or settings.
    pub fn open(path: &Path, header: &Header) -> Result<(Self, Vec<ItemResult>), EvalError> {
        let write_err = |e: std::io::Error| results_error(path, 0, format!("cannot write: {e}"));
        if !exists(path) {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(write_err)?;
            }
            let mut file = std::fs::File::create(path).map_err(write_err)?;
            let line = serde_json::to_string(header).map_err(|e| results_error(path, 1, e.to_string()))?;
            writeln!(file, "{line}").and_then(|()| file.flush()).map_err(write_err)?;
            return Ok((ResultsFile { path: path.to_path_buf(), file }, Vec::new()));
        }
        let (found, results) = read(path)?;
        same_run(path, &found, header)?;
        // Drop a line torn by a kill before appending.
        let text = std::fs::read(path).map_err(write_err)?;
        let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let file = std::fs::OpenOptions::new().write(true).open(path).map_err(write_err)?;
        file.set_len(keep as u64).map_err(write_err)?;
        let file = std::fs::OpenOptions::new().append(true).open(path).map_err(write_err)?;
        Ok((ResultsFile { path: path.to_path_buf(), file }, results))
    }

    /// Appends one result (flushed: a kill loses at most the item in flight).
    ///
    /// # Errors
    /// The write failed.
    pub fn append(&mut self, result: &ItemResult) -> Result<(), EvalError> {
        let line = serde_json::to_string(result).map_err(|e| results_error(&self.path, 0, e.to_string()))?;
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .map_err(|e| results_error(&self.path, 0, format!("cannot write: {e}")))
    }
}

/// One row of the score table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Category (or `all items`, `mean of categories`).
    pub category: String,
    /// Items.
    pub n: usize,
    /// Items right.
    pub correct: usize,
    /// Accuracy in [0, 1].
    pub accuracy: f64,
    /// Wilson 95% interval.
    pub interval: (f64, f64),
}

/// Per-category accuracies (sorted by name), then all items, then the mean of categories.
pub fn table(results: &[ItemResult]) -> Vec<Row> {
    let mut by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in results {
        let e = by.entry(&r.category).or_default();
        e.0 += 1;
        e.1 += usize::from(r.correct);
    }
    let row = |category: String, n: usize, correct: usize| Row {
        category,
        n,
        correct,
        accuracy: correct as f64 / n.max(1) as f64,
        interval: wilson(correct, n),
    };
    let mut rows: Vec<Row> = by.iter().map(|(c, &(n, k))| row((*c).to_string(), n, k)).collect();
    if rows.len() > 1 {
        let (n, k) = by.values().fold((0, 0), |(n, k), &(a, b)| (n + a, k + b));
        let mean = rows.iter().map(|r| r.accuracy).sum::<f64>() / rows.len() as f64;
        rows.push(row("all items".into(), n, k));
        rows.push(Row { category: "mean of categories".into(), n, correct: k, accuracy: mean, interval: (mean, mean) });
    }
    rows
}

/// The table as text.
pub fn format_table(rows: &[Row]) -> String {
    let mut out =
        format!("{:<26} {:>6} {:>7} {:>9}   {:<17}\n", "category", "items", "right", "accuracy", "95% CI (Wilson)");
    for r in rows {
        let ci = if r.category == "mean of categories" {
            String::new()
        } else {
            format!("{:5.1}% – {:5.1}%", 100.0 * r.interval.0, 100.0 * r.interval.1)
        };
        out += &format!("{:<26} {:>6} {:>7} {:>8.1}%   {ci}\n", r.category, r.n, r.correct, 100.0 * r.accuracy);
    }
    out
}

/// One row of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// Category or `all items`.
    pub category: String,
    /// Items scored in both files.
    pub n: usize,
    /// Accuracy of A on them.
    pub a: f64,
    /// Accuracy of B on them.
    pub b: f64,
    /// Paired-bootstrap 95% interval of `b - a`.
    pub interval: (f64, f64),
}

/// A against B on the items both scored (matched by id), per category and overall.
pub fn compare(a: &[ItemResult], b: &[ItemResult]) -> Vec<Comparison> {
    let b_by: HashMap<&str, &ItemResult> = b.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut by: BTreeMap<&str, Vec<(bool, bool)>> = BTreeMap::new();
    let mut all = Vec::new();
    for r in a {
        if let Some(other) = b_by.get(r.id.as_str()) {
            by.entry(&r.category).or_default().push((r.correct, other.correct));
            all.push((r.correct, other.correct));
        }
    }
    let row = |category: String, pairs: &[(bool, bool)]| {
        let n = pairs.len();
        let share = |f: fn(&(bool, bool)) -> bool| pairs.iter().filter(|p| f(p)).count() as f64 / n.max(1) as f64;
        Comparison { category, n, a: share(|p| p.0), b: share(|p| p.1), interval: paired_bootstrap(pairs, 2000, 0) }
    };
    let mut rows: Vec<Comparison> = by.iter().map(|(c, p)| row((*c).to_string(), p)).collect();
    if rows.len() > 1 {
        rows.push(row("all items".into(), &all));
    }
    rows
}

/// The comparison as text.
pub fn format_compare(rows: &[Comparison], a: &str, b: &str) -> String {
    let mut out = format!("A = {a}\nB = {b}\n");
    out += &format!(
        "{:<26} {:>6} {:>8} {:>8} {:>8}   {}\n",
        "category", "items", "A", "B", "B - A", "95% CI of B - A (paired bootstrap)"
    );
    for r in rows {
        out += &format!(
            "{:<26} {:>6} {:>7.1}% {:>7.1}% {:>+7.1}%   {:+.1}% – {:+.1}%\n",
            r.category,
            r.n,
            100.0 * r.a,
            100.0 * r.b,
            100.0 * (r.b - r.a),
            100.0 * r.interval.0,
            100.0 * r.interval.1
        );
    }
    out
}
