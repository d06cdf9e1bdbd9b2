// The C entry point, not std's `fn main`: see `main` below.
#![no_main]

use std::ffi::OsString;
use std::io::Write;
use std::time::Instant;

use openclaw_lock_sweeper::mode::{exec, install, watch};
use openclaw_lock_sweeper::operator::cli::{self, Args, Command, Report};
use openclaw_lock_sweeper::operator::config::Config;
use openclaw_lock_sweeper::operator::exit_code::ExitCode;
use openclaw_lock_sweeper::operator::{log, report};
use openclaw_lock_sweeper::sweep;

/// The process starts here rather than in std's runtime, whose set-up reads
/// `/proc/self/maps` and maps a signal stack to report a main-thread stack
/// overflow by name (which then is a plain SIGSEGV): 0.06 ms of the 1 ms a
/// small state dir takes (bench/README.md). The part of that set-up a sweep
/// relies on is done here.
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: libc::c_int,
    _argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> libc::c_int {
    open_standard_fds();
    // As std does: a closed pipe is an EPIPE error, not a fatal signal.
    // (std's exec resets it for the wrapped command.)
    // SAFETY: sets a disposition, before any other thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: the C runtime passes the environment block as main's third
    // argument, NULL-terminated, untouched before this point.
    let ours = unsafe { variable_names(envp) };
    i32::from(sweeper_main(ours))
}

/// The names of the environment's `LOCK_SWEEPER_*` variables, read from the
/// block itself: `std::env::vars_os` would copy every name and value of a
/// container's environment, 24 k instructions of a small sweep's 500 k.
///
/// # Safety
/// `envp` is NULL or a NULL-terminated array of NUL-terminated strings.
unsafe fn variable_names(mut envp: *const *const libc::c_char) -> Vec<OsString> {
    use std::os::unix::ffi::OsStrExt;
    let mut names = Vec::new();
    // SAFETY: per the contract, each entry up to the NULL is a C string.
    unsafe {
        while !envp.is_null() && !(*envp).is_null() {
            let entry = std::ffi::CStr::from_ptr(*envp).to_bytes();
            if entry.starts_with(b"LOCK_SWEEPER_") {
                let name = entry.split(|&b| b == b'=').next().unwrap_or(entry);
                names.push(std::ffi::OsStr::from_bytes(name).to_owned());
            }
            envp = envp.add(1);
        }
    }
    names
}

/// Standard descriptors closed at start are opened on /dev/null, as std
/// does: otherwise the first file the sweep opens (the gateway coordinator,
/// read-write) could become descriptor 1 or 2 and receive the log.
fn open_standard_fds() {
    for fd in 0..3 {
        // SAFETY: F_GETFD only reads the flags of a descriptor number; the
        // path is a NUL-terminated literal.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
                && libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) != fd
            {
                std::process::abort();
            }
        }
    }
}

fn sweeper_main(variables: Vec<OsString>) -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let env = |name: &str| std::env::var_os(name);
    // A misspelt variable is refused before anything runs (a sweep it was
    // meant to change would otherwise remove locks).
    let parsed = cli::parse(argv.clone(), env).and_then(|command| match command {
        Command::Sweep(_) => cli::check_variables(variables).map(|()| command),
        command => Ok(command),
    });
    let mut args = match parsed {
        Ok(Command::Sweep(args)) => *args,
        Ok(Command::Install(dir)) => {
            return match install::install(&dir) {
                Ok(path) => {
                    say(&format!("installed {}", path.display()));
                    exit(ExitCode::Success)
                }
                Err(e) => {
                    say(&e.to_string());
                    exit(e.exit_code())
                }
            };
        }
        Ok(Command::Help) => {
            return exit(print(cli::HELP));
        }
        Ok(Command::Version) => {
            let version = concat!("openclaw-lock-sweeper ", env!("CARGO_PKG_VERSION"), "\n");
            return exit(print(version));
        }
        Err(e) => {
            say(&format!("{e}\n\nFor more information, try '--help'."));
            // A command to name (`--` alone has none: the error says so).
            if let Some(i) = argv
                .iter()
                .position(|a| a == "--")
                .filter(|&i| i + 1 < argv.len())
            {
                say(&format!(
                    "the command was not started: {}; fix the configuration \
                     (--best-effort does not cover a usage error)",
                    command_line(&argv[i + 1..])
                ));
            }
            // A report was asked for: it carries the error (unless the error
            // is in `--report` itself, which then asked for nothing).
            if cli::wants_json_report(&argv, env) {
                print(&format!(
                    "{}\n",
                    report::error_json(&e, e.exit_code().into(), None)
                ));
            }
            return exit(e.exit_code());
        }
    };
    let wrapped = std::mem::take(&mut args.exec);
    log::init_logging(args.log_format, &args.log_level);
    let code = run(args, !wrapped.is_empty());
    // Wrapper mode runs the command only after a sweep that succeeded (or
    // whose errors --best-effort forgave): never after a usage error.
    if code == ExitCode::Success && !wrapped.is_empty() {
        return exit(exec::exec(wrapped));
    }
    if !wrapped.is_empty() {
        let remedy = if code == ExitCode::Usage {
            "fix the configuration above (--best-effort does not cover a usage error)"
        } else {
            "--best-effort (LOCK_SWEEPER_BEST_EFFORT=true) starts it after a failed sweep"
        };
        tracing::error!(
            command = %command_line(&wrapped),
            exit_code = i32::from(code),
            remedy,
            "the command was not started: the sweep failed"
        );
    }
    exit(code)
}

/// The wrapped command as one line, for the log.
fn command_line(command: &[OsString]) -> String {
    let words: Vec<String> = command
        .iter()
        .map(|w| report::shown(std::path::Path::new(w)))
        .collect();
    words.join(" ")
}

/// Writes `text` to stdout: `Failure` (1) when it cannot be written (a
/// full disk, a closed pipe), logged, where `print!` would panic and abort
/// after the sweep ran.
fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::Success,
        Err(e) if tracing::dispatcher::has_been_set() => {
            tracing::error!(error = %e, "cannot write to stdout");
            ExitCode::Failure
        }
        Err(e) => {
            say(&format!("cannot write to stdout: {e}"));
            ExitCode::Failure
        }
    }
}

/// `code`, unless it says success and the report could not be written.
fn unless_failed(code: ExitCode, printed: ExitCode) -> ExitCode {
    if code == ExitCode::Success {
        printed
    } else {
        code
    }
}

/// A line of this program's own on stderr (before logging is set up, or
/// beside it); nowhere is left to report a stderr that fails.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "openclaw-lock-sweeper: {text}");
}

/// Flushes what std's runtime would have flushed on the way out.
fn exit(code: ExitCode) -> ExitCode {
    log::flush_logs();
    // Nowhere left to report a failing stdout.
    let _ = std::io::stdout().flush();
    code
}

fn run(args: Args, wrapping: bool) -> ExitCode {
    let started = Instant::now();
    let json = args.report == Report::Json;
    // Never dropped: the process ends after the sweep, and freeing the
    // compiled patterns one by one cost 12 k instructions of a small sweep.
    let config = match Config::from_args(args, wrapping) {
        Ok(config) => std::mem::ManuallyDrop::new(config),
        Err(e) => {
            tracing::error!(error = %e, "bad configuration; nothing swept");
            if json {
                print(&format!(
                    "{}\n",
                    report::error_json(&e, e.exit_code().into(), None)
                ));
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
        metrics_listen = config.metrics_listen.map(|(addr, _)| addr.to_string()),
        dry_run = config.dry_run,
        require_state = config.require_state,
        wrapping,
        "sweeping"
    );
    if let Some(interval) = config.watch {
        let (summary, passes) = match watch::watch(&config, interval) {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the watch; nothing swept");
                return e.exit_code();
            }
        };
        tracing::info!(passes, "watch finished");
        summary.log(started.elapsed(), config.dry_run, 0);
        return ExitCode::Success;
    }
    let summary = match sweep::sweep(&config, false) {
        Ok(summary) => summary,
        Err(e) => {
            tracing::error!(error = %e, "cannot sweep");
            let mut code = e.exit_code();
            // Every failure but a usage error is forgiven, so the gateway
            // starts; but --require-state, which asks for this very failure.
            let asked = matches!(e, openclaw_lock_sweeper::error::Error::NoState { .. });
            if config.best_effort && code == ExitCode::Failure && !asked {
                tracing::warn!("error ignored: --best-effort");
                code = code.best_effort();
            }
            if json {
                let dir = (config.state_dir.as_path(), config.state_dir_source);
                let report = report::error_json(&e, code.into(), Some(dir));
                return unless_failed(code, print(&format!("{report}\n")));
            }
            return code;
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
        let report = summary.to_json(dir, config.dry_run, elapsed, code.into());
        return unless_failed(code, print(&format!("{report}\n")));
    }
    code
}
