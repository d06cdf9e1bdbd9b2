//! One pass over the state dir: open it, walk the candidates, judge each,
//! act on the stale ones, and count everything.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use tracing::{debug, error, info, warn};

use crate::database::rows;
use crate::error::Error;
use crate::gateway::{self, Liveness};
use crate::lockfile::judge::{self, Holder, Rules, Verdict};
use crate::lockfile::lock::{self, Candidate, MAX_LOCK_BYTES, NotALock};
use crate::lockfile::remove::{self, Judged, Outcome};
use crate::lockfile::walk::{self, Event, io_error};
use crate::operator::cli;
use crate::operator::config::{Config, Holders, Pattern};
use crate::operator::report::{Kept, Profile, Removed, Summary, shown};
use crate::profiles;

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
    // A stop signal (the kubelet's SIGTERM) waits for the end of the sweep,
    // or ends its wait for a starting gateway: either way the log so far
    // reaches stderr and the status is the signal's. Watch mode blocks them
    // itself and takes them between passes.
    let _shield = config.watch.is_none().then(remove::Shield::raise);
    let no_state = |reason: String| Error::NoState {
        path: config.state_dir.clone(),
        reason,
    };
    let Some(root) = open_state_dir(&config.state_dir)? else {
        if config.require_state {
            return Err(no_state("does not exist".into()));
        }
        kept!(repeat, warn, state_dir = %config.state_dir.display(), from = config.state_dir_source, "state dir does not exist; nothing to sweep");
        return Ok(Summary::default());
    };
    // A volume mounted one level off sweeps nothing: say so, and where the
    // state dir likely is.
    if let Some(found) = crate::operator::config::not_a_state_dir(root.as_fd(), &config.state_dir) {
        if config.require_state {
            return Err(no_state(found));
        }
        kept!(repeat, warn, state_dir = %config.state_dir.display(), from = config.state_dir_source, found = %found, "state dir does not look like OpenClaw's; nothing of it to sweep");
    }
    // Only the JSON report needs the paths collected.
    let summary = if config.report == cli::Report::Json {
        Summary::with_paths()
    } else {
        Summary::default()
    };
    Ok(sweep_tree(config, root, repeat, summary))
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

/// Walks the state dir under the rules the kernel allows. Before a gateway
/// starts, the gateway's coordinators are taken first and held to the end:
/// attached (a live gateway holds them), everything is kept; free, the
/// gateway's own leftovers are swept too; unknown, the pid rules alone.
fn sweep_tree(config: &Config, root: OwnedFd, repeat: bool, mut summary: Summary) -> Summary {
    // Watch mode runs beside a live gateway by definition: the probe would
    // tell nothing new, and holding the coordinators at every interval would
    // only hold up a gateway that restarts in process.
    let probe = config.watch.is_none() && config.liveness == cli::Liveness::Kernel;
    let liveness = probe.then(|| gateway::probe(root.as_fd()));
    if let Some(liveness) = &liveness {
        log_liveness(liveness);
    }
    summary.liveness = liveness.as_ref().map(Liveness::as_str);
    summary.attached_by = match &liveness {
        Some(Liveness::Attached { by_sweeper, .. }) => {
            Some(if *by_sweeper { "sweeper" } else { "openclaw" })
        }
        _ => None,
    };
    let mut sweeper = Sweeper {
        config,
        quiet: repeat,
        now: SystemTime::now(),
        summary,
        rules: Rules {
            holders: &config.holders,
            min_age: config.min_age,
            grace: judge::GRACE,
            attached: matches!(liveness, Some(Liveness::Attached { .. })),
        },
        closer: remove::Closer::default(),
    };
    if let Some(Liveness::Free { leftovers, .. }) = &liveness {
        // No gateway nor embedded writer runs, and none can start while the
        // coordinators are ours: whatever pid its lock files name is dead,
        // and nothing is mid-write (it writes them only under the
        // coordinator).
        static ANY: Holders = Holders::Any;
        let rules = std::mem::replace(
            &mut sweeper.rules,
            Rules {
                holders: &ANY,
                min_age: None,
                grace: Duration::ZERO,
                attached: false,
            },
        );
        for leftover in leftovers {
            sweeper.summary.scanned += 1;
            let path = shown(&leftover.rel);
            sweeper.candidate(leftover.dir.as_fd(), &leftover.name, &path, leftover.kind);
        }
        sweeper.rules = rules;
    }
    // Each candidate pattern also finds the reclaim guard beside a lock
    // (where OpenClaw takes one: asking for a guard nobody writes cost a
    // lookup in every agent's sessions/).
    let patterns = parse_all(
        config
            .patterns
            .iter()
            .flat_map(|p| std::iter::once(p.source.clone()).chain(p.guard_source())),
    );
    // The walk takes the state dir's descriptor; the rows and the profiles
    // read after it: the file sweep never waits on a database.
    let rest = root.try_clone();
    walk::walk(root, &patterns, |event| sweeper.on_event(event));
    let root = match rest {
        Ok(root) => root,
        Err(e) => {
            warn!(error = %e, "cannot read OpenClaw's databases");
            return sweeper.summary;
        }
    };
    // The rows while the coordinators are still ours; never beside a live
    // gateway (attached, or watch mode).
    let proof = match &liveness {
        Some(Liveness::Free { .. }) => Some(rows::Proof::Free),
        Some(Liveness::Unknown { .. }) => Some(rows::Proof::Unproven),
        None if config.watch.is_none() => Some(rows::Proof::Unproven),
        _ => None,
    };
    let mut liveness = liveness;
    if let Some(proof) = proof {
        let rules = rows::Rules {
            proof,
            holders: &config.holders,
            min_age: config.min_age,
            dry_run: config.dry_run,
            waited_for: None,
        };
        if let Some(deferred) = rows::sweep(root.as_fd(), &rules, &mut sweeper.summary) {
            // Its gateway may be starting: the coordinators go, so that it
            // can take one, and the rows are judged after the window.
            drop(liveness.take());
            liveness = after_window(config, root.as_fd(), &deferred, &mut sweeper.summary);
        }
    }
    // Which auth profiles need a re-login, now that the locks are swept; a
    // watch pass logs only what changed (watch.rs).
    let summary = &mut sweeper.summary;
    let done = profiles::Sweep {
        refresh_locks: &summary.refresh_locks,
        dry_run: config.dry_run,
    };
    summary.profiles = profiles::read(root.as_fd(), &done);
    if !repeat {
        summary.profiles.iter().for_each(Profile::log);
    }
    // Dropping the liveness releases the coordinators: a gateway may start.
    // Then the sweeper, which waits for the last closes.
    drop(liveness);
    sweeper.summary
}

/// Waits out a young owner row's start window with the coordinators let
/// go, then asks the kernel again: a gateway that took a coordinator
/// meanwhile is attached and its row kept; free again, the rows are judged
/// (the owner row only if it is still the row that was deferred). Returns
/// the new verdict, whose coordinators the rest of the sweep holds.
fn after_window(
    config: &Config,
    root: BorrowedFd,
    deferred: &rows::Deferred,
    summary: &mut Summary,
) -> Option<Liveness> {
    remove::sleep_or_stop(deferred.wait);
    let liveness = gateway::probe(root);
    log_liveness(&liveness);
    let kept = |reason: &'static str| crate::operator::report::Row {
        database: "state/openclaw.sqlite".into(),
        table: "state_leases",
        key: Some("gateway-owner/global".into()),
        pid: deferred.pid,
        host: deferred.host.clone(),
        expires_at: None,
        action: crate::operator::report::RowAction::Kept,
        reason,
        detail: None,
    };
    match &liveness {
        Liveness::Free { .. } => {
            let rules = rows::Rules {
                proof: rows::Proof::Free,
                holders: &config.holders,
                min_age: config.min_age,
                dry_run: config.dry_run,
                waited_for: Some(&deferred.row),
            };
            rows::sweep(root, &rules, summary);
        }
        Liveness::Attached { .. } => {
            info!(
                key = "gateway-owner/global",
                owner_pid = deferred.pid,
                owner_host = deferred.host.as_deref(),
                "kept: a gateway took the state dir while the sweep waited; the lease is its own"
            );
            summary.add_row(kept("attached"));
        }
        Liveness::Unknown { .. } => summary.add_row(kept("unproven")),
    }
    Some(liveness)
}

/// The patterns were checked when the configuration was read; a `.reclaim`
/// variant that no longer fits NAME_MAX names no file that can exist.
fn parse_all(sources: impl Iterator<Item = String>) -> Vec<Pattern> {
    sources.filter_map(|s| Pattern::parse(&s).ok()).collect()
}

fn log_liveness(liveness: &Liveness) {
    match liveness {
        Liveness::Attached {
            coordinator,
            by_sweeper: true,
            ..
        } => warn!(
            liveness = liveness.as_str(),
            coordinator = &**coordinator,
            holder = "sweeper",
            hint = "another openclaw-lock-sweeper holds the gateway lock: a second pod's init \
                    container or wrapper is sweeping this state dir at the same moment (two \
                    replicas, a RollingUpdate); it sweeps, and its gateway starts after it",
            "another sweeper holds this state dir: keeping every lock"
        ),
        Liveness::Attached {
            coordinator,
            pid,
            payload,
            ..
        } => warn!(
            liveness = liveness.as_str(),
            coordinator = &**coordinator,
            holder = "openclaw",
            holder_pid = *pid,
            gateway_lock = payload.as_deref(),
            hint = "another OpenClaw process runs on this state dir now (a second pod or replica, a \
                    RollingUpdate, a `kubectl debug` copy, another compose project): check the \
                    Deployment's strategy (Recreate) and replicas; nothing is removed while it runs",
            "a live OpenClaw holds this state dir: keeping every lock"
        ),
        Liveness::Free { coordinators, .. } => info!(
            liveness = liveness.as_str(),
            coordinators = %coordinators.join(" "),
            "no OpenClaw gateway runs on this state dir: its lock held for the sweep"
        ),
        Liveness::Unknown { reason, warn: true } => warn!(
            liveness = liveness.as_str(),
            reason = &**reason,
            "cannot ask the kernel whether a gateway runs: the holder rules alone decide"
        ),
        Liveness::Unknown { reason, .. } => info!(
            liveness = liveness.as_str(),
            reason = &**reason,
            "cannot ask the kernel whether a gateway runs: the holder rules alone decide"
        ),
    }
}

struct Sweeper<'a> {
    config: &'a Config,
    quiet: bool,
    now: SystemTime,
    summary: Summary,
    rules: Rules<'a>,
    closer: remove::Closer,
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
                    warn,
                    path = &*shown(rel),
                    hint = "a directory the sweep would search is a symlink: no lock under it is \
                            judged; mount or move the real directory there",
                    "not following symlink"
                );
            }
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

    fn candidate(&mut self, dir: BorrowedFd, name: &CStr, path: &str, kind: FileType) {
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
