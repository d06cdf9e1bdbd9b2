use std::time::Instant;

use clap::Parser;

use openclaw_lock_sweeper::cli::{Args, Report};
use openclaw_lock_sweeper::config::Config;
use openclaw_lock_sweeper::exit_code::ExitCode;
use openclaw_lock_sweeper::{report, sweep};

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let code = match report::init_logging(args.log_format, &args.log_level) {
        Ok(()) => run(args),
        Err(e) => {
            eprintln!("openclaw-lock-sweeper: {e}");
            e.exit_code()
        }
    };
    std::process::ExitCode::from(i32::from(code) as u8)
}

fn run(args: Args) -> ExitCode {
    let started = Instant::now();
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "bad configuration; nothing swept");
            return e.exit_code();
        }
    };
    let patterns: Vec<&str> = config.patterns.iter().map(|p| p.source.as_str()).collect();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        state_dir = %config.state_dir.display(),
        from = config.state_dir_source,
        patterns = %patterns.join(" "),
        holders = %config.holders,
        min_age_s = config.min_age.map(|d| d.as_secs()),
        dry_run = config.dry_run,
        "sweeping"
    );
    let summary = match sweep::sweep(&config) {
        Ok(summary) => summary,
        Err(e) => {
            tracing::error!(error = %e, "cannot sweep");
            return e.exit_code();
        }
    };
    let mut code = if summary.errors > 0 {
        ExitCode::Failure
    } else {
        ExitCode::Success
    };
    if config.best_effort && code == ExitCode::Failure {
        tracing::warn!(errors = summary.errors, "errors ignored: --best-effort");
        code = code.best_effort();
    }
    let elapsed = started.elapsed();
    summary.log(elapsed, config.dry_run, code.into());
    if config.report == Report::Json {
        println!(
            "{}",
            summary.to_json(&config.state_dir, elapsed, config.dry_run, code.into())
        );
    }
    code
}
