//! Watch mode, run for real: passes repeat until SIGTERM, young locks are
//! never touched, a lock that outlives --min-age goes within one interval,
//! a failed pass does not end the watch, and as pid 1 (a sidecar container)
//! SIGTERM still ends it at once.

mod common;

use std::fs;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;

fn start(args: &[&str]) -> Child {
    let mut cmd = sweeper();
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

#[test]
fn young_locks_stay_and_an_aging_lock_goes_within_one_interval() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(
        s.join("locks/oauth-refresh/old.lock"),
        &lock_bytes(1, &now_iso(-3600)),
    );
    let state = s.to_str().unwrap();
    let child = start(&["--state-dir", state, "--watch", "200ms", "--min-age", "3s"]);
    sleep(Duration::from_millis(500));
    assert!(
        !exists(s.join("locks/oauth-refresh/old.lock")),
        "an old lock goes on the first pass"
    );
    // Taken now: young for 3 s, then gone within one 200 ms interval.
    let born = Instant::now();
    write(
        s.join("locks/oauth-refresh/held.lock"),
        &lock_bytes(1, &now_iso(0)),
    );
    while exists(s.join("locks/oauth-refresh/held.lock"))
        && born.elapsed() < Duration::from_secs(10)
    {
        sleep(Duration::from_millis(20));
    }
    let gone_after = born.elapsed();
    let (code, log, took) = stop(child);
    assert_eq!(code, 0, "{log}");
    // `now_iso` truncates createdAt to the whole second, so the lock looks
    // up to 1 s older than it is: hence 2 s, not 3 s, as the lower bound.
    assert!(
        gone_after >= Duration::from_millis(2000),
        "removed after {gone_after:?}, before min-age"
    );
    assert!(
        gone_after <= Duration::from_millis(3200 + 400),
        "removed after {gone_after:?}"
    );
    assert!(took < Duration::from_millis(500), "SIGTERM took {took:?}");
    assert!(
        log.contains("stop signal received") && log.contains("sweep finished"),
        "{log}"
    );
    assert_eq!(log.matches("removed stale lock").count(), 2, "{log}");
}

#[test]
fn a_failed_pass_does_not_end_the_watch() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    fs::write(&state, b"not a directory yet").unwrap();
    let child = start(&[
        "--state-dir",
        state.to_str().unwrap(),
        "--watch",
        "100ms",
        "--min-age",
        "1s",
    ]);
    sleep(Duration::from_millis(350));
    fs::remove_file(&state).unwrap();
    stale(state.join("locks/x.lock"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while exists(state.join("locks/x.lock")) && Instant::now() < deadline {
        sleep(Duration::from_millis(20));
    }
    let (code, log, _) = stop(child);
    assert_eq!(code, 0, "{log}");
    assert!(!exists(state.join("locks/x.lock")), "{log}");
    assert!(
        log.contains("watch pass failed; trying again next interval"),
        "{log}"
    );
}

#[test]
fn as_pid_1_sigterm_still_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("unshare");
    cmd.arg(if is_root() { "--pid" } else { "-rp" })
        .args(["--fork", BIN, "--state-dir"])
        .arg(dir.path())
        .args(["--watch", "10s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut unshare = cmd.spawn().unwrap();
    sleep(Duration::from_millis(300));
    // unshare --fork's child is the sweeper, pid 1 of the new namespace.
    let children =
        fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id())).unwrap();
    let pid: i32 = children.trim().parse().unwrap();
    assert_pid_1_of_its_namespace(pid);
    let started = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let code = unshare.wait().unwrap().code();
    let mut log = String::new();
    unshare
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("stop signal received"), "{log}");
}

#[test]
fn watch_requires_a_positive_interval_and_min_age() {
    let dir = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (&["--watch", "0s"][..], "longer than 0"),
        (
            &["--watch", "30s", "--min-age", "0s"][..],
            "--min-age above 0",
        ),
        (&["--watch", "soon"][..], "soon"),
    ] {
        let run = sweep(dir.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn watch_defaults_to_three_minutes_min_age() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path().join("locks/young.lock"),
        &lock_bytes(1, &now_iso(-170)),
    );
    write(
        dir.path().join("locks/old.lock"),
        &lock_bytes(1, &now_iso(-190)),
    );
    let child = start(&["--state-dir", dir.path().to_str().unwrap(), "--watch", "1s"]);
    sleep(Duration::from_millis(400));
    let (code, log, _) = stop(child);
    assert_eq!(code, 0);
    assert!(log.contains("min_age_s=180"), "{log}");
    assert!(
        exists(dir.path().join("locks/young.lock")) && !exists(dir.path().join("locks/old.lock")),
        "{log}"
    );
}
