//! What happens to one candidate the walk found: read it (`lock`), judge it
//! (`judge`), remove it if stale (`remove`), and count and log the outcome in
//! the summary. `sweep.rs` drives it over the walk and the gateway's
//! leftovers.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fs::FileType;
use rustix::io::Errno;
use tracing::{debug, error, info, warn};

use crate::error::Error;
use crate::lockfile::judge::{self, Holder, Rules, Verdict};
use crate::lockfile::lock::{self, Candidate, MAX_LOCK_BYTES, NotALock};
use crate::lockfile::remove::{self, Judged, Outcome};
use crate::lockfile::walk::Event;
use crate::operator::config::Config;
use crate::operator::report::{Kept, Removed, Summary, shown};

/// Kept files are reported on every pass of the watch mode; after the first
/// pass those lines go to debug level, so the log shows what changed.
macro_rules! kept {
    ($quiet:expr, $level:ident, $($arg:tt)+) => {
        if $quiet { debug!($($arg)+) } else { $level!($($arg)+) }
    };
}

/// The sweep's state while it goes over the candidates.
pub struct Sweeper<'a> {
    pub config: &'a Config,
    /// A watch pass after the first: kept files at debug level only.
    pub quiet: bool,
    pub now: SystemTime,
    pub summary: Summary,
    pub rules: Rules<'a>,
    pub closer: remove::Closer,
    /// The agents' auth stores the walk saw (`agents/<id>/agent/<file>`):
    /// the agents the profiles and the rows look at.
    pub stores: Vec<std::path::PathBuf>,
}

impl Sweeper<'_> {
    pub fn on_event(&mut self, event: Event<'_>) {
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
                    warn,
                    path = &*shown(rel),
                    hint = "a directory the sweep would search is a symlink: no lock under it is \
                            judged; mount or move the real directory there",
                    "not following symlink"
                );
            }
            Event::Observed { rel } => self.stores.push(rel.to_owned()),
            Event::Leftover { dir, name, rel } => {
                self.summary.scanned += 1;
                let path = shown(rel);
                match remove::restore(dir, name) {
                    // Back at its own name: judged now, like any lock there.
                    Ok(Some(original)) => {
                        let restored = rel.with_file_name(OsStr::from_bytes(original.to_bytes()));
                        let restored = shown(&restored);
                        warn!(
                            path = &*path,
                            restored = &*restored,
                            "a lock an interrupted sweep left under its private name is back at its own name"
                        );
                        self.candidate(dir, &original, &restored, FileType::Unknown);
                    }
                    Ok(None) => {
                        self.summary.keep(Kept::Leftover, &path);
                        kept!(
                            self.quiet,
                            warn,
                            path = &*path,
                            "kept: a lock an interrupted sweep moved aside, its own name unknown; it locks nothing, remove it by hand"
                        );
                    }
                    Err(errno) => {
                        self.summary.keep(Kept::Leftover, &path);
                        let why = if errno == Errno::EXIST {
                            "its own name is taken (a live lock, maybe)".to_owned()
                        } else {
                            std::io::Error::from(errno).to_string()
                        };
                        kept!(
                            self.quiet,
                            warn,
                            path = &*path,
                            reason = &*why,
                            "kept: a lock an interrupted sweep moved aside cannot be put back; it locks nothing, remove it by hand"
                        );
                    }
                }
            }
            Event::Error(e) => {
                self.summary.fail(e.path(), &e);
                error!(error = %e, "cannot read directory");
            }
        }
    }

    pub fn candidate(&mut self, dir: BorrowedFd, name: &CStr, path: &str, kind: FileType) {
        let guard = name.to_bytes().ends_with(b".reclaim");
        match lock::read_candidate(dir, name, kind) {
            Ok(Candidate::File { fd, stat, bytes }) => {
                let parsed = lock::parse(&bytes);
                // An empty or cut-short file that someone holds a lock on is
                // being written, or used as a plain lock: not a dead writer's.
                if matches!(parsed, Err(NotALock::Torn)) && lock::held(fd.as_fd()) {
                    self.summary.keep(Kept::Locked, path);
                    kept!(
                        self.quiet,
                        info,
                        path,
                        "kept: an unfinished lock file that a live process holds a lock on (flock or record lock)"
                    );
                    return;
                }
                let judged = Judged::File {
                    fd,
                    stat: &stat,
                    bytes: &bytes,
                };
                match parsed {
                    Ok(lock) => self.signed(dir, name, path, &lock, &stat, judged, guard),
                    Err(NotALock::Torn) => {
                        let what = if guard {
                            Removed::ReclaimGuard
                        } else {
                            Removed::Torn
                        };
                        self.unnamed(dir, name, path, &stat, judged, what);
                    }
                    Err(why) => {
                        self.summary.keep(Kept::NotALock, path);
                        kept!(self.quiet, info, path, reason = %why, "kept: not an OpenClaw lock");
                    }
                }
            }
            Ok(Candidate::Directory { stat, empty, .. }) => {
                let what = if guard {
                    Removed::ReclaimGuard
                } else {
                    Removed::DirectoryLock
                };
                if empty {
                    return self.unnamed(
                        dir,
                        name,
                        path,
                        &stat,
                        Judged::EmptyDir { stat: &stat },
                        what,
                    );
                }
                self.summary.keep(Kept::NotEmpty, path);
                kept!(
                    self.quiet,
                    warn,
                    path,
                    kind = what.as_str(),
                    hint = "OpenClaw cannot take this lock while the directory exists; no release of \
                            OpenClaw puts files in one: check what it holds, then remove it by hand",
                    "kept: a directory named like a lock, not empty"
                );
            }
            Ok(Candidate::NotRegular(file_type)) => {
                self.summary.keep(Kept::NotRegularFile, path);
                kept!(
                    self.quiet,
                    info,
                    path,
                    file_type,
                    "kept: not a regular file"
                );
            }
            Ok(Candidate::TooLarge(size)) => {
                self.summary.keep(Kept::TooLarge, path);
                kept!(
                    self.quiet,
                    info,
                    path,
                    size,
                    max = MAX_LOCK_BYTES,
                    "kept: too large to be a lock; not read"
                );
            }
            Ok(Candidate::Vanished) => {
                self.summary.keep(Kept::Vanished, path);
                debug!(path, "gone before it could be read");
            }
            Err(errno) => {
                let e = Error::Io {
                    op: "read",
                    path: path.to_owned(),
                    errno,
                };
                self.summary.fail(path, &e);
                error!(error = %e, "cannot read candidate");
            }
        }
    }

    /// A lock that names its holder.
    #[allow(clippy::too_many_arguments)]
    fn signed(
        &mut self,
        dir: BorrowedFd,
        name: &CStr,
        path: &str,
        lock: &lock::Lock,
        stat: &rustix::fs::Stat,
        judged: Judged,
        guard: bool,
    ) {
        let (age, age_from) = judge::age(lock, lock::mtime(stat), self.now);
        let pid = lock.pid;
        let created_at = lock.created_at.as_deref().unwrap_or("-");
        let age_s = age.as_secs();
        let age_from = age_from.as_str();
        match judge::judge(Holder::Signed(lock), age, &self.rules) {
            Verdict::OtherHolder => {
                self.summary.keep(Kept::OtherHolder, path);
                kept!(self.quiet, warn,
                    path, pid, created_at, age_s, age_from, holders = %self.rules.holders,
                    hint = %format_args!(
                        "if pid {pid} cannot be alive when this runs (e.g. OpenClaw's compose file runs the \
                         gateway with `init: true`, so it is not pid 1), add --holder-pid {pid}, or use \
                         --any-holder in an init container"
                    ),
                    "kept: held by a pid outside the holder set"
                );
            }
            Verdict::TooYoung(min) => {
                self.summary.keep(Kept::TooYoung, path);
                kept!(
                    self.quiet,
                    info,
                    path,
                    pid,
                    created_at,
                    age_s,
                    age_from,
                    min_age_s = min.as_secs(),
                    "kept: younger than --min-age"
                );
            }
            Verdict::LiveGateway => self.keep_live(path),
            Verdict::Stale => {
                let what = if guard {
                    Removed::ReclaimGuard
                } else {
                    Removed::Lock
                };
                let message = match (guard, self.config.dry_run) {
                    (false, false) => "removed stale lock",
                    (false, true) => "would remove stale lock (dry run)",
                    (true, false) => "removed orphaned reclaim guard",
                    (true, true) => "would remove orphaned reclaim guard (dry run)",
                };
                if self.remove(dir, name, path, judged, what) {
                    info!(path, pid, created_at, age_s, age_from, "{message}");
                }
            }
        }
    }

    /// A leftover that names nobody: a torn lock, an empty reclaim guard or
    /// directory lock. OpenClaw never gets past one, whatever its age.
    fn unnamed(
        &mut self,
        dir: BorrowedFd,
        name: &CStr,
        path: &str,
        stat: &rustix::fs::Stat,
        judged: Judged,
        what: Removed,
    ) {
        let age = self
            .now
            .duration_since(lock::mtime(stat))
            .unwrap_or(Duration::ZERO);
        let age_s = age.as_secs();
        match judge::judge(Holder::Unnamed, age, &self.rules) {
            Verdict::LiveGateway => self.keep_live(path),
            Verdict::TooYoung(min) => {
                self.summary.keep(Kept::TooYoung, path);
                kept!(
                    self.quiet,
                    warn,
                    path,
                    kind = what.as_str(),
                    age_s,
                    min_age_s = min.as_secs(),
                    hint = "OpenClaw waits on this forever if its writer is gone; the next sweep \
                            removes it once it is old enough (restart the gateway, or run the sweeper again)",
                    "kept: a leftover naming no holder, too young to be sure its writer is gone"
                );
            }
            // Nobody is named, so no holder can be outside the set.
            Verdict::OtherHolder => unreachable!("an unnamed leftover has no holder"),
            Verdict::Stale => {
                let message = match (what, self.config.dry_run) {
                    (Removed::Torn, false) => "removed torn lock",
                    (Removed::Torn, true) => "would remove torn lock (dry run)",
                    (Removed::ReclaimGuard, false) => "removed orphaned reclaim guard",
                    (Removed::ReclaimGuard, true) => {
                        "would remove orphaned reclaim guard (dry run)"
                    }
                    (_, false) => "removed empty directory lock",
                    (_, true) => "would remove empty directory lock (dry run)",
                };
                if self.remove(dir, name, path, judged, what) {
                    info!(
                        path,
                        kind = what.as_str(),
                        age_s,
                        age_from = "mtime",
                        "{message}"
                    );
                }
            }
        }
    }

    fn keep_live(&mut self, path: &str) {
        self.summary.keep(Kept::LiveGateway, path);
        kept!(
            self.quiet,
            info,
            path,
            "kept: a live OpenClaw holds this state dir"
        );
    }

    /// Removes a stale candidate (or, in a dry run, only counts it); true
    /// when it is gone, for the caller's log line. Every other outcome is
    /// logged and counted here.
    fn remove(
        &mut self,
        dir: BorrowedFd,
        name: &CStr,
        path: &str,
        judged: Judged,
        what: Removed,
    ) -> bool {
        if self.config.dry_run {
            self.summary.add_swept(what, path);
            return true;
        }
        match remove::remove_if_unchanged(dir, name, judged, &mut self.closer) {
            Ok(Outcome::Removed) => {
                self.summary.add_swept(what, path);
                return true;
            }
            Ok(Outcome::Vanished) => {
                self.summary.keep(Kept::Vanished, path);
                info!(path, "already removed by someone else");
            }
            Ok(Outcome::Changed) => {
                self.summary.keep(Kept::Changed, path);
                warn!(
                    path,
                    "kept: the lock changed after it was judged; left in place"
                );
            }
            Ok(Outcome::ChangedKeptAside(temp)) => {
                self.summary.keep(Kept::Changed, path);
                let aside = aside_path(path, &temp);
                self.summary.fail(
                    path,
                    &format_args!(
                        "the lock changed after it was judged and its path was taken meanwhile; \
                         kept as {aside}"
                    ),
                );
                error!(
                    path,
                    aside,
                    "the lock changed after it was judged and its path was taken meanwhile; \
                     the changed file is kept under the aside name"
                );
            }
            Err(failed) => {
                let e = match read_only_dir(dir, failed.errno) {
                    Some(mode) => Error::ReadOnlyDir {
                        path: path.to_owned(),
                        mode,
                    },
                    None => Error::Io {
                        op: failed.op,
                        path: path.to_owned(),
                        errno: failed.errno,
                    },
                };
                self.summary.fail(path, &e);
                match failed.aside {
                    None => {
                        error!(error = %e, kind = what.as_str(), "cannot remove stale lock; it is left where it was")
                    }
                    Some(temp) => {
                        error!(error = %e, kind = what.as_str(), aside = &*aside_path(path, &temp),
                        "cannot remove stale lock, nor put it back: it is under the aside name, where the next sweep puts it back")
                    }
                }
            }
        }
        false
    }
}

/// The mode of `dir` when a permission error comes from it being read-only
/// to its owner, who is this process: then the uid is right and the mode
/// is what to change.
fn read_only_dir(dir: BorrowedFd, errno: Errno) -> Option<u32> {
    if errno != Errno::ACCESS {
        return None;
    }
    let st = rustix::fs::fstat(dir).ok()?;
    let mine = st.st_uid == rustix::process::geteuid().as_raw();
    (mine && st.st_mode & 0o200 == 0).then_some(st.st_mode & 0o7777)
}

/// The private name `temp` beside the lock at `path`, as shown in the log.
fn aside_path(path: &str, temp: &CStr) -> String {
    let dir = Path::new(path).parent().unwrap_or(Path::new(""));
    shown(&dir.join(OsStr::from_bytes(temp.to_bytes())))
}
