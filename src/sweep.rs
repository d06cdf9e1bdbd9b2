//! One pass over the state dir: open it, walk the candidates, judge each,
//! act on the stale ones, and count everything.

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::SystemTime;

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::error::Error;
use crate::judge::{self, Verdict};
use crate::lock::{self, Candidate, MAX_LOCK_BYTES};
use crate::remove::{self, Outcome};
use crate::report::{Kept, Summary, shown};
use crate::walk::{self, Event, io_error};

/// Kept files are reported on every pass of the watch mode; after the first
/// pass those lines go to debug level, so the log shows what changed.
macro_rules! kept {
    ($quiet:expr, $level:ident, $($arg:tt)+) => {
        if $quiet { debug!($($arg)+) } else { $level!($($arg)+) }
    };
}

/// Sweeps once. `Err` only when the state dir itself is unusable; a missing
/// state dir (a fresh volume) is logged and is not an error. `repeat`: a
/// watch pass after the first, which logs kept files at debug level only.
pub fn sweep(config: &Config, repeat: bool) -> Result<Summary, Error> {
    let Some(root) = open_state_dir(&config.state_dir)? else {
        kept!(repeat, warn, state_dir = %config.state_dir.display(), "state dir does not exist; nothing to sweep");
        return Ok(Summary::default());
    };
    let mut sweeper = Sweeper {
        config,
        quiet: repeat,
        now: SystemTime::now(),
        summary: Summary::default(),
    };
    walk::walk(root, &config.patterns, |event| sweeper.on_event(event));
    Ok(sweeper.summary)
}

fn open_state_dir(path: &Path) -> Result<Option<OwnedFd>, Error> {
    let bad = |reason: &str| Error::StateDir {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    // The state dir itself may be a symlink (an operator's choice); nothing
    // below it is followed.
    let root = match rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::NOTDIR) => return Err(bad("not a directory")),
        Err(errno) => {
            return Err(Error::Io {
                op: "open state dir",
                path: shown(path),
                errno,
            });
        }
    };
    let stat = rustix::fs::fstat(&root).map_err(|errno| io_error("stat", Path::new(""), errno))?;
    let slash = rustix::fs::stat("/").map_err(|errno| io_error("stat", Path::new("/"), errno))?;
    if (stat.st_dev, stat.st_ino) == (slash.st_dev, slash.st_ino) {
        return Err(bad("is the root directory; refusing to sweep /"));
    }
    Ok(Some(root))
}

struct Sweeper<'a> {
    config: &'a Config,
    quiet: bool,
    now: SystemTime,
    summary: Summary,
}

impl Sweeper<'_> {
    fn on_event(&mut self, event: Event<'_>) {
        match event {
            Event::Candidate {
                dir,
                name,
                rel,
                kind,
            } => {
                self.summary.scanned += 1;
                self.candidate(dir, name, &shown(rel), kind);
            }
            Event::Symlink { rel } => {
                kept!(
                    self.quiet,
                    info,
                    path = &*shown(rel),
                    "not following symlink"
                );
            }
            Event::Leftover { rel } => {
                self.summary.scanned += 1;
                self.summary.keep(Kept::Leftover);
                kept!(
                    self.quiet,
                    warn,
                    path = &*shown(rel),
                    "kept: a lock an interrupted sweep moved aside; it locks nothing, remove it by hand"
                );
            }
            Event::Error(e) => {
                self.summary.errors += 1;
                error!(error = %e, "cannot read directory");
            }
        }
    }

    fn candidate(&mut self, dir: BorrowedFd, name: &CStr, path: &str, kind: FileType) {
        let (fd, stat, bytes) = match lock::read_candidate(dir, name, kind) {
            Ok(Candidate::File { fd, stat, bytes }) => (fd, stat, bytes),
            Ok(Candidate::NotRegular(file_type)) => {
                self.summary.keep(Kept::NotRegularFile);
                return kept!(
                    self.quiet,
                    info,
                    path,
                    file_type,
                    "kept: not a regular file"
                );
            }
            Ok(Candidate::TooLarge(size)) => {
                self.summary.keep(Kept::TooLarge);
                return kept!(
                    self.quiet,
                    info,
                    path,
                    size,
                    max = MAX_LOCK_BYTES,
                    "kept: too large to be a lock; not read"
                );
            }
            Ok(Candidate::Vanished) => {
                self.summary.keep(Kept::Vanished);
                return debug!(path, "gone before it could be read");
            }
            Err(errno) => {
                self.summary.errors += 1;
                let e = Error::Io {
                    op: "read",
                    path: path.to_owned(),
                    errno,
                };
                return error!(error = %e, "cannot read candidate");
            }
        };
        let lock = match lock::parse(&bytes) {
            Ok(lock) => lock,
            Err(why) => {
                self.summary.keep(Kept::NotALock);
                return kept!(self.quiet, info, path, reason = %why, "kept: not an OpenClaw lock");
            }
        };
        let (age, age_from) = judge::age(&lock, lock::mtime(&stat), self.now);
        let pid = lock.pid;
        let created_at = lock.created_at.as_deref().unwrap_or("-");
        let age_s = age.as_secs();
        let age_from = age_from.as_str();
        match judge::judge(&lock, age, &self.config.holders, self.config.min_age) {
            Verdict::OtherHolder => {
                self.summary.keep(Kept::OtherHolder);
                kept!(self.quiet, warn,
                    path, pid, created_at, age_s, age_from, holders = %self.config.holders,
                    hint = %format!(
                        "if pid {pid} cannot be alive when this runs (e.g. OpenClaw's compose file runs the \
                         gateway with `init: true`, so it is not pid 1), add --holder-pid {pid}, or use \
                         --any-holder in an init container"
                    ),
                    "kept: held by a pid outside the holder set"
                );
            }
            Verdict::TooYoung => {
                self.summary.keep(Kept::TooYoung);
                let min_age_s = self.config.min_age.map_or(0, |d| d.as_secs());
                kept!(
                    self.quiet,
                    info,
                    path,
                    pid,
                    created_at,
                    age_s,
                    age_from,
                    min_age_s,
                    "kept: younger than --min-age"
                );
            }
            Verdict::Stale if self.config.dry_run => {
                self.summary.swept += 1;
                info!(
                    path,
                    pid, created_at, age_s, age_from, "would remove stale lock (dry run)"
                );
            }
            Verdict::Stale => match remove::remove_if_unchanged(dir, name, &fd, &stat, &bytes) {
                Ok(Outcome::Removed) => {
                    self.summary.swept += 1;
                    info!(path, pid, created_at, age_s, age_from, "removed stale lock");
                }
                Ok(Outcome::Vanished) => {
                    self.summary.keep(Kept::Vanished);
                    info!(path, pid, "already removed by someone else");
                }
                Ok(Outcome::Changed) => {
                    self.summary.keep(Kept::Changed);
                    warn!(
                        path,
                        pid, "kept: the lock changed after it was judged; left in place"
                    );
                }
                Ok(Outcome::ChangedKeptAside(temp)) => {
                    self.summary.keep(Kept::Changed);
                    self.summary.errors += 1;
                    let aside = shown(Path::new(std::ffi::OsStr::new(&*temp.to_string_lossy())));
                    error!(
                        path,
                        aside,
                        "the lock changed after it was judged and its path was taken meanwhile; \
                         the changed file is kept under the aside name"
                    );
                }
                Err(failed) => {
                    self.summary.errors += 1;
                    let e = Error::Io {
                        op: failed.op,
                        path: path.to_owned(),
                        errno: failed.errno,
                    };
                    error!(error = %e, pid, created_at, "cannot remove stale lock");
                }
            },
        }
    }
}
