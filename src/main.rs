use std::ffi::OsString;
use std::time::Instant;

use openclaw_lock_sweeper::cli::{self, Args, Command, Report};
use openclaw_lock_sweeper::config::Config;
use openclaw_lock_sweeper::exit_code::ExitCode;
use openclaw_lock_sweeper::{exec, install, report, sweep, watch};

fn main() -> std::process::ExitCode {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let env = |name: &str| std::env::var_os(name);
    let mut args = match cli::parse(argv.clone(), env) {
        Ok(Command::Sweep(args)) => *args,
        Ok(Command::Install(dir)) => {
            return match install::install(&dir) {
                Ok(path) => {
                    eprintln!("openclaw-lock-sweeper: installed {}", path.display());
                    std::process::ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("openclaw-lock-sweeper: {e}");
                    exit(e.exit_code())
                }
            };
        }
        Ok(Command::Help) => {
            print!("{}", cli::HELP);
            return std::process::ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("openclaw-lock-sweeper {}", env!("CARGO_PKG_VERSION"));
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("openclaw-lock-sweeper: {e}\n\nFor more information, try '--help'.");
            // A report was asked for: it carries the error (unless the error
            // is in `--report` itself, which then asked for nothing).
            if cli::wants_json_report(&argv, env) {
                println!("{}", report::error_json(&e, e.exit_code().into(), None));
            }
            return exit(e.exit_code());
        }
    };
    let wrapped = std::mem::take(&mut args.exec);
    report::init_logging(args.log_format, &args.log_level);
    let code = run(args, !wrapped.is_empty());
    // Wrapper mode runs the command only after a sweep that succeeded (or
    // whose errors --best-effort forgave): never after a usage error.
    if code == ExitCode::Success && !wrapped.is_empty() {
        return exit(exec::exec(wrapped));
    }
    exit(code)
}

fn exit(code: ExitCode) -> std::process::ExitCode {
    report::flush_logs();
    std::process::ExitCode::from(i32::from(code) as u8)
}

fn run(args: Args, wrapping: bool) -> ExitCode {
    let started = Instant::now();
    let json = args.report == Report::Json;
    let config = match Config::from_args(args, wrapping) {
        Ok(config) => config,
        Err(e) => {
            tracing::error!(error = %e, "bad configuration; nothing swept");
            if json {
                println!("{}", report::error_json(&e, e.exit_code().into(), None));
            }
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
        watch_s = config.watch.map(|d| d.as_secs_f64()),
        dry_run = config.dry_run,
        require_state = config.require_state,
        wrapping,
        "sweeping"
    );
    if let Some(interval) = config.watch {
        let (summary, passes) = watch::watch(&config, interval);
        tracing::info!(passes, "watch finished");
        summary.log(started.elapsed(), config.dry_run, 0);
        return ExitCode::Success;
    }
    let summary = match sweep::sweep(&config, false) {
        Ok(summary) => summary,
        Err(e) => {
            tracing::error!(error = %e, "cannot sweep");
            if json {
                let dir = (config.state_dir.as_path(), config.state_dir_source);
                println!(
                    "{}",
                    report::error_json(&e, e.exit_code().into(), Some(dir))
                );
            }
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
    if json {
        let dir = (config.state_dir.as_path(), config.state_dir_source);
        println!(
            "{}",
            summary.to_json(dir, config.dry_run, elapsed, code.into())
        );
    }
    code
}
