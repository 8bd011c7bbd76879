//! Running the binary with a time limit, and what every refusal must look like.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most commands fail in well under a second; this bounds a hang (debug build, loaded CI).
pub const LIMIT: Duration = Duration::from_secs(120);

/// A finished run of the binary.
#[derive(Debug)]
pub struct Ran {
    /// The exit code (`None`: killed by a signal, e.g. an abort or a stack overflow).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs `awpo args…`; `Err` when it is still running after `limit` (it is killed).
pub fn run(args: &[String], limit: Duration) -> Result<Ran, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_awpo"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start awpo: {e}"))?;
    let (out, err) = match (child.stdout.take(), child.stderr.take()) {
        (Some(o), Some(e)) => (drain(o), drain(e)),
        _ => return Err("no pipes".into()),
    };
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("still running after {limit:?}: killed (a hang)"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait: {e}")),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(Ran { code: status.code(), stdout, stderr })
}

/// Strings from `&str`s, for argument lists.
pub fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// A path as an argument.
pub fn arg(path: &Path) -> String {
    path.display().to_string()
}

/// Runs `args` and checks a refusal: a non-zero exit (not a signal), no panic or backtrace, at
/// most 3 lines on stderr, its error line containing every `needle` (the file, the field or
/// line). `Err` says what is wrong.
pub fn refused(args: &[String], needles: &[String]) -> Result<Ran, String> {
    let ran = run(args, LIMIT)?;
    let err = ran.stderr.trim();
    let mut problems = Vec::new();
    match ran.code {
        Some(0) => problems.push("exit status 0".to_string()),
        None => problems.push("killed by a signal (abort, stack overflow, out of memory)".to_string()),
        Some(_) => {}
    }
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace", "overflowed its stack"] {
        if err.contains(bad) {
            problems.push(format!("stderr has {bad:?}"));
        }
    }
    if err.lines().count() > 3 {
        problems.push(format!("{} lines on stderr (at most 3)", err.lines().count()));
    }
    let error_line = err.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
    if error_line.is_empty() {
        problems.push("no `error: …` line".into());
    }
    for needle in needles {
        if !error_line.contains(needle.as_str()) {
            problems.push(format!("the error does not name {needle:?}"));
        }
    }
    if problems.is_empty() {
        Ok(ran)
    } else {
        let tail: String = err.chars().rev().take(1500).collect::<Vec<_>>().into_iter().rev().collect();
        Err(format!("{}\n    stderr: {tail}", problems.join("; ")))
    }
}

/// Collects the outcome of every case and fails once, listing each case that failed.
#[derive(Default)]
pub struct Battery {
    failures: Vec<String>,
    passed: usize,
}

impl Battery {
    /// Records one case.
    pub fn case<T>(&mut self, name: &str, outcome: Result<T, String>) {
        match outcome {
            Ok(_) => {
                eprintln!("ok   {name}");
                self.passed += 1;
            }
            Err(e) => {
                eprintln!("FAIL {name}: {e}");
                self.failures.push(format!("{name}: {e}"));
            }
        }
    }

    /// Checks a refusal of `args` naming `needles`, then `after` (no partial output).
    pub fn refused(
        &mut self,
        name: &str,
        args: &[String],
        needles: &[String],
        after: impl FnOnce() -> Result<(), String>,
    ) {
        let outcome = refused(args, needles).and_then(|ran| after().map(|()| ran));
        let shown = outcome.as_ref().ok().and_then(|ran| ran.stderr.lines().find(|l| l.starts_with("error: ")));
        let shown = shown.map(str::to_string);
        self.case(name, outcome);
        if let Some(line) = shown {
            eprintln!("     {line}");
        }
    }

    /// Fails the test when any case failed.
    pub fn finish(self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} cases failed:\n{}",
            self.failures.len(),
            self.failures.len() + self.passed,
            self.failures.join("\n")
        );
    }
}

/// Nothing to check after the refusal.
pub fn nothing() -> Result<(), String> {
    Ok(())
}

/// `Err` when `path` exists.
pub fn absent(path: &Path) -> Result<(), String> {
    if path.exists() { Err(format!("{} was left behind", path.display())) } else { Ok(()) }
}

/// A fresh, empty temporary directory for one test.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("awpo-bad-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Deterministic bytes that are no file format.
pub fn garbage(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// JSON nested `depth` arrays deep.
pub fn deep_json(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}
