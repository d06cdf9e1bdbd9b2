//! The kernel's answer to "does a gateway run on this state dir?": the
//! gateway's SQLite coordinators, held here by a real SQLite (Python's
//! sqlite3 module) in an exclusive transaction, as OpenClaw's
//! `node:sqlite` holds them.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

const COORDINATOR: &str = "tmp/openclaw-1000/gateway.state.lock.sqlite";
const GATEWAY_LOCK: &str = "tmp/openclaw-1000/gateway.state.lock";

/// Tries `BEGIN EXCLUSIVE` at once (busy timeout 0), as OpenClaw's gateway
/// does; true if it got the lock.
fn try_exclusive(db: &Path) -> bool {
    let script = "import sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)\n\
        try:\n    db.execute('BEGIN EXCLUSIVE'); print('ok')\n\
        except sqlite3.OperationalError as e:\n    print(e)\n";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim() == "ok"
}

/// A state dir as 2026.9.6 leaves it: the gateway's coordinator (an empty
/// SQLite file) and lock, pid-1 locks, a torn lock, a reclaim guard.
fn seeded() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    write(
        s.join(GATEWAY_LOCK),
        b"{\n  \"pid\": 1,\n  \"ownerId\": \"x\",\n  \"createdAt\": \"2026-01-01T00:00:00.000Z\",\n  \"configPath\": \"/home/node/.openclaw/openclaw.json\",\n  \"stateDir\": \"/home/node/.openclaw\"\n}\n",
    );
    stale(s.join("locks/oauth-refresh/lock-a.lock"));
    write(
        s.join("locks/oauth-refresh/lock-b.lock"),
        &lock_bytes(7, OLD),
    );
    write(s.join("locks/oauth-refresh/lock-torn.lock"), b"");
    fs::create_dir(s.join("locks/oauth-refresh/lock-c.lock.reclaim")).unwrap();
    for p in [
        "locks/oauth-refresh/lock-torn.lock",
        "locks/oauth-refresh/lock-c.lock.reclaim",
    ] {
        let status = Command::new("touch")
            .args(["-d", "1 hour ago"])
            .arg(s.join(p))
            .status()
            .unwrap();
        assert!(status.success());
    }
    dir
}

#[test]
fn beside_a_live_gateway_nothing_is_removed() {
    let dir = seeded();
    let s = dir.path();
    let before = files(s);
    let mut holder = hold_exclusive(&s.join(COORDINATOR));
    for args in [&[][..], &["--any-holder"][..]] {
        let run = sweep(s, args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(files(s), before, "{}", run.stderr);
        assert!(exists(s.join("locks/oauth-refresh/lock-c.lock.reclaim")));
        let warn = run
            .stderr
            .lines()
            .find(|l| l.contains("a live OpenClaw holds this state dir: keeping every lock"))
            .unwrap_or_else(|| panic!("{}", run.stderr));
        assert!(warn.contains(" WARN "), "{warn}");
        assert!(warn.contains("liveness=\"attached\""), "{warn}");
        // The kernel shows the holder's pid (same PID namespace here), and
        // the gateway lock's payload is quoted.
        assert!(
            warn.contains(&format!("holder_pid={}", holder.child.id())),
            "{warn}"
        );
        assert!(warn.contains("\\\"ownerId\\\": \\\"x\\\""), "{warn}");
        assert!(run.stderr.contains("kept=live-gateway:4"), "{}", run.stderr);
    }
    drop(holder._stdin);
    holder.child.wait().unwrap();
}

#[test]
fn with_the_gateway_dead_its_leftovers_go_and_the_rest_follow_the_holder_rules() {
    let dir = seeded();
    let s = dir.path();
    // What a reclaimer killed mid-reclaim leaves beside the gateway lock,
    // just now: no grace needed while the coordinator is ours.
    fs::create_dir(s.join("tmp/openclaw-1000/gateway.state.lock.reclaim")).unwrap();
    write(
        s.join("tmp/openclaw-1000/gateway.0a1b2c3d.lock"),
        b"{\n  \"pi",
    );
    let coordinator_before = fs::metadata(s.join(COORDINATOR)).unwrap();
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("liveness=\"free\""), "{}", run.stderr);
    for gone in [
        GATEWAY_LOCK,
        "tmp/openclaw-1000/gateway.state.lock.reclaim",
        "tmp/openclaw-1000/gateway.0a1b2c3d.lock",
        "locks/oauth-refresh/lock-a.lock",
        "locks/oauth-refresh/lock-torn.lock",
        "locks/oauth-refresh/lock-c.lock.reclaim",
    ] {
        assert!(!exists(s.join(gone)), "{gone}:\n{}", run.stderr);
    }
    // Pid 7 may be a CLI process that never takes the gateway lock.
    assert!(exists(s.join("locks/oauth-refresh/lock-b.lock")));
    // The coordinator is never written, nor removed.
    let after = fs::metadata(s.join(COORDINATOR)).unwrap();
    assert_eq!(after.len(), 0);
    assert_eq!(
        after.modified().unwrap(),
        coordinator_before.modified().unwrap()
    );
    // Released at the end: a gateway can take it at once.
    assert!(try_exclusive(&s.join(COORDINATOR)));
}

#[test]
fn without_a_coordinator_or_in_watch_mode_the_pid_rules_alone_decide() {
    let dir = seeded();
    let s = dir.path();
    fs::remove_file(s.join(COORDINATOR)).unwrap();
    let run = sweep(s, &[]);
    assert!(
        run.stderr.contains("liveness=\"unknown\""),
        "{}",
        run.stderr
    );
    // The gateway's own files are not candidates then.
    assert!(exists(s.join(GATEWAY_LOCK)));
    assert!(!exists(s.join("locks/oauth-refresh/lock-a.lock")));

    // Watch mode runs beside the gateway: it does not probe.
    let dir = seeded();
    let s = dir.path();
    let child = sweeper()
        .arg("--state-dir")
        .arg(s)
        .args(["--watch", "50ms", "--min-age", "1s"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("liveness="), "{log}");
    assert!(exists(s.join(GATEWAY_LOCK)));
    assert!(try_exclusive(&s.join(COORDINATOR)));
}

#[test]
fn a_coordinator_that_is_not_a_regular_file_is_never_free() {
    let dir = seeded();
    let s = dir.path();
    fs::remove_file(s.join(COORDINATOR)).unwrap();
    // A symlink named like a coordinator: not followed, not taken.
    let target = s.join("elsewhere.sqlite");
    fs::write(&target, b"").unwrap();
    std::os::unix::fs::symlink(&target, s.join(COORDINATOR)).unwrap();
    let run = sweep(s, &[]);
    assert!(
        run.stderr.contains("liveness=\"unknown\""),
        "{}",
        run.stderr
    );
    assert!(exists(s.join(GATEWAY_LOCK)));
    // Beside a regular coordinator nobody holds, the one that cannot be
    // asked still rules out free: a symlink, a FIFO, a directory.
    let other = "tmp/openclaw-1000/gateway.0123abcd.lock.sqlite";
    write(s.join(other), b"");
    for make in ["symlink", "fifo", "dir"] {
        let _ = fs::remove_file(s.join(COORDINATOR));
        let _ = fs::remove_dir(s.join(COORDINATOR));
        match make {
            "symlink" => std::os::unix::fs::symlink(&target, s.join(COORDINATOR)).unwrap(),
            "fifo" => assert!(
                Command::new("mkfifo")
                    .arg(s.join(COORDINATOR))
                    .status()
                    .unwrap()
                    .success()
            ),
            _ => fs::create_dir(s.join(COORDINATOR)).unwrap(),
        }
        let run = sweep(s, &["--report", "json"]);
        assert_eq!(run.code, 0, "{make}: {}", run.stderr);
        let warn = run
            .stderr
            .lines()
            .find(|l| l.contains("liveness=\"unknown\""))
            .unwrap_or_else(|| panic!("{make}: {}", run.stderr));
        assert!(
            warn.contains("WARN") && warn.contains("not a regular file"),
            "{make}: {warn}"
        );
        assert!(
            exists(s.join(GATEWAY_LOCK)),
            "{make}: the gateway's lock was removed"
        );
    }
}

#[test]
fn an_include_that_reaches_tmp_is_refused_and_watch_mode_never_removes_the_gateways_files() {
    let dir = seeded();
    let s = dir.path();
    let mut holder = hold_exclusive(&s.join(COORDINATOR));
    for pattern in [
        "tmp/*/*.lock",
        "tmp/openclaw-1000/gateway.state.lock",
        "**/*.lock",
        "t*/*/*.lock",
    ] {
        let run = sweep(
            s,
            &["--watch", "50ms", "--min-age", "1s", "--include", pattern],
        );
        assert_eq!(run.code, 2, "{pattern}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!(
                "invalid include pattern {pattern:?}: it reaches tmp/"
            )),
            "{}",
            run.stderr
        );
        assert!(exists(s.join(GATEWAY_LOCK)));
    }
    // A pattern for another directory is fine.
    let run = sweep(s, &["--include", "locks/**/*.lck", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    drop(holder._stdin);
    holder.child.wait().unwrap();
}

#[test]
fn a_second_sweeper_holding_the_gateway_lock_is_told_apart_from_a_live_openclaw() {
    let dir = seeded();
    let s = dir.path();
    // What another sweeper holds: an open-file-description write lock over
    // SQLite's lock bytes (the kernel reports its pid as -1).
    let script = "import fcntl, os, struct, sys\n\
        fd = os.open(sys.argv[1], os.O_RDWR)\n\
        lock = struct.pack('hhqqi', fcntl.F_WRLCK, 0, 0x40000000, 512, 0)\n\
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, lock)\n\
        print('held', flush=True)\n\
        sys.stdin.read()\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(s.join(COORDINATOR))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "held\n");
    let run = sweep(s, &["--report", "json"]);
    drop(child.stdin.take());
    child.wait().unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["liveness"], "attached");
    assert_eq!(report["attached_by"], "sweeper");
    assert!(
        run.stderr.contains("another sweeper holds this state dir"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("RollingUpdate, a `kubectl debug`"),
        "{}",
        run.stderr
    );
    assert!(exists(s.join(GATEWAY_LOCK)));
    // OpenClaw's own (SQLite's POSIX lock): the other message.
    let mut holder = hold_exclusive(&s.join(COORDINATOR));
    let run = sweep(s, &["--report", "json"]);
    drop(holder._stdin);
    holder.child.wait().unwrap();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["attached_by"], "openclaw");
    assert!(
        run.stderr.contains("a live OpenClaw holds this state dir"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_coordinator_the_sweeper_cannot_open_is_a_warning_with_the_uid_hint() {
    if !is_root() {
        eprintln!("skipped: needs root to run the sweeper as another uid");
        return;
    }
    let dir = seeded();
    let s = dir.path();
    fs::set_permissions(
        s.join(COORDINATOR),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let run = sweep_unprivileged(s, &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("liveness="))
        .unwrap();
    assert!(
        line.contains("WARN") && line.contains("liveness=\"unknown\""),
        "{line}"
    );
    assert!(
        line.contains("Permission denied") && line.contains("runAsUser"),
        "{line}"
    );
}

#[test]
fn liveness_pids_skips_the_kernel_and_a_bad_value_names_its_source() {
    let dir = seeded();
    let s = dir.path();
    let mut holder = hold_exclusive(&s.join(COORDINATOR));
    // Told not to ask, the sweep goes by the holder rules alone, even beside
    // a live gateway: the pid-1 lock goes.
    let run = sweep(s, &["--liveness", "pids"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("liveness="), "{}", run.stderr);
    assert!(!exists(s.join("locks/oauth-refresh/lock-a.lock")));
    drop(holder._stdin);
    holder.child.wait().unwrap();
    let mut cmd = sweeper();
    cmd.arg("--state-dir")
        .arg(s)
        .env("LOCK_SWEEPER_LIVENESS", "maybe");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("LOCK_SWEEPER_LIVENESS: invalid value \"maybe\": expected kernel or pids"),
        "{}",
        run.stderr
    );
}
