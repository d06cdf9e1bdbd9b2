//! The one error type of the program.

use std::path::PathBuf;

use crate::exit_code::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("invalid duration {input:?}: {reason}")]
    Duration { input: String, reason: &'static str },

    #[error("invalid include pattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },

    #[error("invalid log filter {filter:?}: {reason}")]
    LogFilter { filter: String, reason: String },

    #[error("cannot resolve the state dir: {0}")]
    NoHome(&'static str),

    #[error("state dir {}: {reason}", path.display())]
    StateDir { path: PathBuf, reason: String },

    #[error("cannot install into {}: {source}", dir.display())]
    Install {
        dir: PathBuf,
        source: std::io::Error,
    },

    /// A system call failed on a path; `path` is relative to the state dir
    /// (already escaped for display) unless the state dir itself failed.
    #[error("cannot {op} {path}: {}", std::io::Error::from(*errno))]
    Io {
        op: &'static str,
        path: String,
        errno: rustix::io::Errno,
    },
}

impl Error {
    /// Configuration mistakes are the operator's to fix (2); anything the file
    /// system refused is a failed sweep (1).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Io { .. } | Error::Install { .. } => ExitCode::Failure,
            _ => ExitCode::Usage,
        }
    }
}
