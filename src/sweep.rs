//! One pass over the state dir: open it, walk the candidates, judge each,
//! act on the stale ones, and count everything.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use tracing::{debug, info, warn};

use crate::database::rows;
use crate::error::Error;
use crate::gateway::{self, Liveness};
use crate::lockfile::candidate;
use crate::lockfile::judge::{self, Rules};
use crate::lockfile::remove;
use crate::lockfile::walk::{self, io_error};
use crate::operator::cli;
use crate::operator::config::{Config, Holders, Pattern};
use crate::operator::report::{Profile, Summary, shown};
use crate::profiles;

/// A watch pass after the first logs at debug level what the first logged
/// at `$level`: the log shows what changed.
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
    let mut sweeper = candidate::Sweeper {
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
        stores: Vec::new(),
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
    let mut patterns = parse_all(
        config
            .patterns
            .iter()
            .flat_map(|p| std::iter::once(p.source.clone()).chain(p.guard_source())),
    );
    // The agents' auth stores, noted where the walk lists `agent/` for its
    // locks anyway: the profiles and the rows then look only at the agents
    // that have one, with no system call for the others.
    if let Some(locks) = patterns.iter_mut().find(|p| p.source == AGENT_LOCKS) {
        locks.also_observe = &profiles::STORES;
    }
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
        let stores = &sweeper.stores;
        if let Some(deferred) = rows::sweep(root.as_fd(), &rules, stores, &mut sweeper.summary) {
            // Its gateway may be starting: the coordinators go, so that it
            // can take one, and the rows are judged after the window.
            drop(liveness.take());
            liveness = after_window(
                config,
                root.as_fd(),
                &deferred,
                stores,
                &mut sweeper.summary,
            );
        }
    }
    // Which auth profiles need a re-login, now that the locks are swept; a
    // watch pass logs only what changed (watch.rs).
    let summary = &mut sweeper.summary;
    let done = profiles::Sweep {
        refresh_locks: &summary.refresh_locks,
        stores: &sweeper.stores,
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
    stores: &[std::path::PathBuf],
    summary: &mut Summary,
) -> Option<Liveness> {
    remove::sleep_or_stop(deferred.wait);
    let mut liveness = gateway::probe(root);
    // A second pod's sweeper that deferred on the same row wakes at the same
    // moment, and its pass holds the coordinators for milliseconds: looked
    // at again a few times, staggered by pid so that two do not keep
    // meeting, before the state dir counts as attached (up to 1 s).
    let stagger = Duration::from_millis(20 + u64::from(std::process::id() % 8) * 10);
    for _ in 0..10 {
        if !matches!(
            liveness,
            Liveness::Attached {
                by_sweeper: true,
                ..
            }
        ) {
            break;
        }
        remove::sleep_or_stop(stagger);
        liveness = gateway::probe(root);
    }
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
                waited_for: Some(deferred),
            };
            rows::sweep(root, &rules, stores, summary);
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

/// The default pattern of the agents' own locks, whose directory holds
/// each agent's auth stores (`profiles::STORES`).
const AGENT_LOCKS: &str = "agents/*/agent/*.lock";

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
