//! The `awpo` binary: parse, log, dispatch, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // wgpu probes OpenGL/EGL too and logs an error where there is no GL driver: not ours to show.
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("AWPO_LOG").unwrap_or_else(|_| "warn,wgpu_hal::gles=off".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = awpo::cli::Cli::parse();
    match awpo::cli::run(cli).map_err(anyhow::Error::from) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, leaving out a cause its parent's message already
/// quotes (`cannot read X: not found` is not followed by `: not found` again).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}
