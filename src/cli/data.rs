//! `awpo data check | from-bfcl | synth`: validate a task file (and score its own answers), turn
//! BFCL v4 categories into the task format, or write the generated training corpus.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::corpus::{Category, Split};
use crate::data::{bfcl, task};
use crate::error::{Error, Result};
use crate::reward::bfcl::first_acceptable;
use crate::reward::{Expectation, score};
use crate::tools::ToolCall;
use crate::tools::parse::parse;

/// `data` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Validate a JSONL task file: errors name the file, line and field; prints counts and the
    /// outcome components its own first acceptable answers score (all 1 for a sound file).
    Check(CheckArgs),
    /// Write BFCL v4 single-turn categories in the task format (JSON lines on stdout or --out).
    FromBfcl(FromBfclArgs),
    /// Write generated tool-use tasks (thousands of distinct functions over 25 domains; see
    /// `awpo::corpus`) in the task format: seeded, so the same arguments give the same file. The
    /// held-out split uses functions the training split never does.
    Synth(SynthArgs),
}

/// Which corpus split `awpo data synth` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthSplit {
    /// Training tasks.
    Train,
    /// Held-out tasks (other functions, another random stream).
    HeldOut,
}

/// A corpus category (`awpo::corpus::Category`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SynthCategory {
    /// One function offered, one call.
    Simple,
    /// Two to four functions offered, one call to the right one.
    Multiple,
    /// One function called two or three times.
    Parallel,
    /// Two functions (of up to four offered), each called once or twice.
    #[value(name = "parallel_multiple")]
    ParallelMultiple,
    /// No offered function serves the request: no call.
    Irrelevance,
    /// Two or three user turns on the built-in tools (`followups`), later turns acting on what
    /// earlier ones stored; not in the default mix.
    #[value(name = "multi_turn")]
    MultiTurn,
}

impl From<SynthCategory> for Category {
    fn from(c: SynthCategory) -> Self {
        match c {
            SynthCategory::Simple => Category::Simple,
            SynthCategory::Multiple => Category::Multiple,
            SynthCategory::Parallel => Category::Parallel,
            SynthCategory::ParallelMultiple => Category::ParallelMultiple,
            SynthCategory::Irrelevance => Category::Irrelevance,
            SynthCategory::MultiTurn => Category::MultiTurn,
        }
    }
}

/// `awpo data synth` options.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// How many tasks.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Which split.
    #[arg(long, value_enum, default_value_t = SynthSplit::Train)]
    pub split: SynthSplit,
    /// Categories, taken in turn (default: the five single-turn ones).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub category: Vec<SynthCategory>,
    /// Output file (default: stdout).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// `awpo data check` options.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The JSONL task file.
    pub file: PathBuf,
    /// Skip malformed lines (counted, the first few shown) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_lines: bool,
}

/// `awpo data from-bfcl` options.
#[derive(Debug, Args)]
pub struct FromBfclArgs {
    /// Categories, e.g. `simple_python,multiple` (non-live single-turn).
    #[arg(long, value_delimiter = ',', required = true)]
    pub category: Vec<String>,
    /// An unpacked `bfcl_eval/data` folder (default: the one `scripts/fetch-assets.sh bfcl` fetched).
    #[arg(long, value_name = "DIR")]
    pub bfcl_dir: Option<PathBuf>,
    /// Output file (default: stdout).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// The BFCL data folder `scripts/fetch-assets.sh bfcl` unpacks into the asset cache.
pub fn default_bfcl_dir() -> PathBuf {
    let assets = std::env::var_os("AWPO_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".cache/awpo/assets"));
    assets.join("bfcl-eval-2026.3.23/bfcl_eval/data")
}

/// Runs a `data` subcommand; `Ok(false)` when a checked file's own answers do not score 1.
///
/// # Errors
/// Unreadable or malformed files, unwritable output.
pub fn run(command: DataCommand) -> Result<bool> {
    match command {
        DataCommand::Check(args) => check(&args),
        DataCommand::FromBfcl(args) => from_bfcl(&args),
        DataCommand::Synth(args) => synth(&args),
    }
}

fn check(args: &CheckArgs) -> Result<bool> {
    let loaded = task::load(&args.file, args.skip_bad_lines)?;
    if !loaded.skipped.is_empty() {
        tracing::warn!("{} bad lines skipped in {}", loaded.skipped.len(), args.file.display());
        for e in loaded.skipped.iter().take(5) {
            eprintln!("  skipped: {e}");
        }
    }
    let (mut turns, mut calls, mut full) = (0, 0, 0);
    for t in &loaded.tasks {
        let mut ok = true;
        for expected in &t.answers {
            turns += 1;
            calls += expected.len();
            let oracle = first_acceptable(t.language, t.checker_functions(), expected);
            let text = if oracle.is_empty() {
                "No tool fits this request.".to_string()
            } else {
                oracle.iter().map(ToolCall::render).collect()
            };
            let want = Expectation { functions: t.checker_functions(), expected, language: t.language };
            let s = score(&parse(&text), want);
            if s.bfcl < 1.0 || s.format < 1.0 {
                println!("{}: its first acceptable answer scores bfcl {} format {}", t.id, s.bfcl, s.format);
                ok = false;
            }
        }
        full += usize::from(ok);
    }
    println!(
        "{}: {} tasks, {turns} turns, {calls} expected calls, {} bad lines skipped",
        args.file.display(),
        loaded.tasks.len(),
        loaded.skipped.len()
    );
    println!("first acceptable answers at full marks: {full}/{}", loaded.tasks.len());
    Ok(full == loaded.tasks.len())
}

fn from_bfcl(args: &FromBfclArgs) -> Result<bool> {
    let dir = args.bfcl_dir.clone().unwrap_or_else(default_bfcl_dir);
    // Every category is read before anything is written: a bad file leaves no partial output.
    let mut text = String::new();
    let mut count = 0;
    for category in &args.category {
        for item in bfcl::load(&dir, category)? {
            text.push_str(&item.to_task(category).to_json().to_string());
            text.push('\n');
            count += 1;
        }
    }
    write_tasks(&text, count, args.out.as_ref())
}

fn synth(args: &SynthArgs) -> Result<bool> {
    let categories: Vec<Category> = args.category.iter().map(|&c| c.into()).collect();
    let split = match args.split {
        SynthSplit::Train => Split::Train,
        SynthSplit::HeldOut => Split::HeldOut,
    };
    let tasks = crate::synth::mixed(args.seed, split, args.count, &categories);
    let mut text = String::new();
    for t in &tasks {
        text.push_str(&t.to_json().to_string());
        text.push('\n');
    }
    write_tasks(&text, tasks.len(), args.out.as_ref())
}

/// Writes JSON lines to `out` (atomically: a temporary file renamed) or stdout.
fn write_tasks(text: &str, count: usize, out: Option<&PathBuf>) -> Result<bool> {
    let target = match out {
        Some(path) => {
            let tmp = path.with_extension("jsonl.tmp");
            let write = |source| Error::Write { path: path.clone(), source };
            std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path)).map_err(|source| {
                let _ = std::fs::remove_file(&tmp);
                write(source)
            })?;
            path.clone()
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|source| Error::Write { path: PathBuf::from("<stdout>"), source })?;
            PathBuf::from("<stdout>")
        }
    };
    eprintln!("wrote {count} tasks to {}", target.display());
    Ok(true)
}
