//! The one error type of the program.

use std::path::PathBuf;

use crate::operator::exit_code::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("invalid duration {input:?}: {reason}")]
    Duration { input: String, reason: &'static str },

    #[error("invalid include pattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },

    #[error("cannot resolve the state dir: {0}")]
    NoHome(&'static str),

    #[error("state dir {}: {reason}", path.display())]
    StateDir { path: PathBuf, reason: String },

    /// `--require-state`: the state dir is missing, or holds nothing of
    /// OpenClaw's.
    #[error("state dir {}: {reason} (--require-state)", path.display())]
    NoState { path: PathBuf, reason: String },

    #[error("cannot install into {}: {source}", dir.display())]
    Install {
        dir: PathBuf,
        source: std::io::Error,
    },

    /// SQLite failed on one of OpenClaw's databases (`path` as `Io`'s).
    #[error("database {path}: {reason}")]
    Database { path: String, reason: String },

    /// A lock's directory is read-only to its owner, the uid this runs as.
    #[error(
        "cannot remove {path}: its directory is mode {mode:04o}, not writable even by its owner, \
         the uid the sweeper runs as; make it writable (chmod u+w) to let stale locks go"
    )]
    ReadOnlyDir { path: String, mode: u32 },

    /// `--metrics-listen`: the address cannot be bound. A usage error (2):
    /// the configured address is wrong for this host, and nothing was swept.
    #[error(
        "{from} {addr}: cannot serve the metrics there: {error}{}",
        listen_hint(error)
    )]
    Listen {
        addr: std::net::SocketAddr,
        from: &'static str,
        error: std::io::Error,
    },

    /// A system call failed on a path; `path` is relative to the state dir
    /// (already escaped for display) unless the state dir itself failed.
    #[error("cannot {op} {path}: {}{}", std::io::Error::from(*errno), permission_hint(*errno))]
    Io {
        op: &'static str,
        path: String,
        errno: rustix::io::Errno,
    },
}

impl Error {
    /// The path under the state dir a failed system call or database names.
    pub fn path(&self) -> &str {
        match self {
            Error::Io { path, .. }
            | Error::Database { path, .. }
            | Error::ReadOnlyDir { path, .. } => path,
            _ => ".",
        }
    }

    /// Configuration mistakes are the operator's to fix (2); anything the file
    /// system refused is a failed sweep (1).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Io { .. }
            | Error::ReadOnlyDir { .. }
            | Error::Database { .. }
            | Error::Install { .. }
            | Error::NoState { .. } => ExitCode::Failure,
            _ => ExitCode::Usage,
        }
    }
}

/// What to do about an address that cannot be bound.
fn listen_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another process (or a second sweeper in the pod) has this port: pick another"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; no interface of this host has that address: use 0.0.0.0 (or [::]) for all"
        }
        std::io::ErrorKind::PermissionDenied => "; a port below 1024 needs privileges: use 9477",
        _ => "",
    }
}

/// What to do about a permission error: the files on the state volume belong
/// to OpenClaw's `node` user (1000), and the sweeper must run as it, or as a
/// member of the group the pod's `fsGroup` gives the volume.
fn permission_hint(errno: rustix::io::Errno) -> String {
    use rustix::io::Errno;
    if errno != Errno::ACCESS && errno != Errno::PERM {
        return String::new();
    }
    // Root is refused only by an attribute, not by the owner.
    if errno == Errno::PERM && rustix::process::geteuid().is_root() {
        return " (the sweeper runs as root: the file or its directory is immutable or \
                append-only, see lsattr)"
            .into();
    }
    format!(
        " (the sweeper runs as uid {} gid {}: run it as the files' owner \
         (runAsUser/runAsGroup 1000, as OpenClaw's node user) or set the pod's fsGroup)",
        rustix::process::getuid().as_raw(),
        rustix::process::getgid().as_raw()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::Errno;

    #[test]
    fn permission_errors_say_who_runs_and_what_to_set() {
        let io = |errno| {
            Error::Io {
                op: "remove",
                path: "locks/a.lock".into(),
                errno,
            }
            .to_string()
        };
        let uid = rustix::process::getuid().as_raw();
        // As root, EPERM is an attribute's doing (below).
        let errnos: &[Errno] = if uid == 0 {
            &[Errno::ACCESS]
        } else {
            &[Errno::ACCESS, Errno::PERM]
        };
        for &errno in errnos {
            let msg = io(errno);
            assert!(msg.starts_with("cannot remove locks/a.lock: "), "{msg}");
            assert!(msg.contains(&format!("uid {uid} ")), "{msg}");
            assert!(
                msg.contains("runAsUser/runAsGroup 1000") && msg.contains("fsGroup"),
                "{msg}"
            );
        }
        if uid == 0 {
            let msg = io(Errno::PERM);
            assert!(
                msg.contains("immutable") && !msg.contains("fsGroup"),
                "{msg}"
            );
        }
        let msg = io(Errno::IO);
        assert!(!msg.contains("fsGroup"), "no hint for other errors: {msg}");
    }
}
