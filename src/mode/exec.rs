//! Wrapper mode: after the sweep, become the wrapped command.
//!
//! `execve` rather than a child: the command keeps this process's pid (1 in
//! its container), so it receives the container's signals directly and its
//! exit code is the container's, and nothing of the sweeper stays behind.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::operator::exit_code::ExitCode;
use crate::operator::log::flush_logs;
use crate::operator::report::shown;

/// Replaces this process with `cmd` (searched in `PATH` when it has no
/// slash); returns only if that failed, with env(1)'s exit code for it.
pub fn exec(cmd: Vec<OsString>) -> ExitCode {
    let mut cmd = cmd.into_iter();
    let program = cmd.next().expect("the parser refuses an empty command");
    let shown_program = shown(Path::new(&program));
    // The arguments are not logged: a gateway's may carry a token.
    tracing::info!(
        command = &*shown_program,
        args = cmd.len(),
        "starting the wrapped command"
    );
    flush_logs();
    // std's exec leaves stdio and the environment as they are, and resets
    // SIGPIPE (which Rust ignores at start-up) and the signal mask, so the
    // command starts as if run directly.
    let err = std::process::Command::new(&program).args(cmd).exec();
    let code = match err.kind() {
        std::io::ErrorKind::NotFound => ExitCode::NotFound,
        _ => ExitCode::CannotExec,
    };
    tracing::error!(command = &*shown_program, error = %err, "cannot run the wrapped command");
    code
}
