//! Watch mode: sweep, sleep, repeat beside a running gateway, until SIGTERM
//! or SIGINT. The gateway may hold a lock legitimately there, so only locks
//! older than `--min-age` are ever judged stale. With `--metrics-listen`,
//! each pass also leaves its counts for Prometheus (operator/metrics.rs).

use std::mem::MaybeUninit;
use std::time::{Duration, Instant, SystemTime};

use tracing::{debug, error, info};

use crate::error::Error;
use crate::operator::config::Config;
use crate::operator::log;
use crate::operator::metrics::{self, Metrics};
use crate::operator::report::Profile;
use crate::operator::report::Summary;
use crate::sweep;

/// Runs passes until a stop signal; returns the totals and the pass count.
/// `Err` only before the first pass: the metrics' address cannot be bound.
pub fn watch(config: &Config, interval: Duration) -> Result<(Summary, u64), Error> {
    let signals = StopSignals::block();
    // Started after the block: the listener's thread inherits the mask, so a
    // stop signal waits for `signals.wait` instead of killing the process
    // (with a status other than 0) through that thread.
    let metrics = match config.metrics_listen {
        Some((addr, from)) => Some(metrics::serve(
            addr,
            from,
            Metrics::new(interval, config.dry_run),
        )?),
        None => None,
    };
    let mut total = Summary::default();
    let mut passes = 0u64;
    let mut last: Vec<Profile> = Vec::new();
    loop {
        let started = Instant::now();
        // After the first pass, what is kept is only repeated at debug level.
        let result = sweep::sweep(config, passes > 0);
        if let Some(metrics) = &metrics {
            metrics::lock(metrics).record(result.as_ref().ok(), SystemTime::now());
        }
        match result {
            Ok(pass) => {
                debug!(
                    pass = passes + 1,
                    scanned = pass.scanned,
                    swept = pass.swept,
                    errors = pass.errors,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                    "watch pass"
                );
                // The first pass logged every profile; later ones log a
                // profile's state again only when it changed.
                let changed = pass
                    .profiles
                    .iter()
                    .filter(|now| !last.iter().any(|p| p.same_failure(now)));
                changed.filter(|_| passes > 0).for_each(Profile::log);
                last = pass.profiles.clone();
                total.add(&pass);
            }
            // A state dir that is gone or unreadable for a moment must not
            // end the watch: the next pass tries again.
            Err(e) => {
                total.errors += 1;
                error!(error = %e, "watch pass failed; trying again next interval");
            }
        }
        passes += 1;
        log::flush_logs();
        if let Some(signal) = signals.wait(interval) {
            info!(signal, passes, "stop signal received; watch ends");
            return Ok((total, passes));
        }
    }
}

/// SIGTERM and SIGINT, blocked so that they wait to be taken by `wait`
/// instead of killing the process mid-pass. Blocked signals are delivered
/// even to pid 1, which ignores default-action signals: a sidecar container
/// stops promptly without an init process.
struct StopSignals(libc::sigset_t);

impl StopSignals {
    fn block() -> StopSignals {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initializes the set before any other use; the
        // pointers are to a live local. The mask is set before any pass
        // starts a thread (the closer of `remove`), so every thread inherits
        // it and a stop signal waits for `sigtimedwait` here.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
            libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
            let set = set.assume_init();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            StopSignals(set)
        }
    }

    /// Sleeps for `timeout`, or until a stop signal arrives: then its number.
    fn wait(&self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ts = libc::timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: libc::c_long::from(left.subsec_nanos() as i32),
            };
            // SAFETY: the set and the timespec are live locals; no siginfo is asked for.
            let signal = unsafe { libc::sigtimedwait(&self.0, std::ptr::null_mut(), &ts) };
            if signal > 0 {
                return Some(signal);
            }
            // EAGAIN: the timeout passed. EINTR (another signal): wait on.
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return None;
            }
        }
    }
}
