//! The built binary against real trees in temp dirs: every rule of the
//! sweep, and hostile trees.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use common::*;

/// A realistic state dir: what a gateway leaves behind after a crash.
fn realistic(state: &Path) {
    stale(state.join("locks/oauth-refresh/sha256-0a1b.lock"));
    stale(state.join("locks/provider-auth-persistence/sha256-2c3d.lock"));
    stale(state.join("locks/a/b/c/deep.lock"));
    stale(state.join("agents/main/agent/auth-profiles.json.lock"));
    stale(state.join("agents/ops/agent/auth-profiles.json.lock"));
    write(
        state.join("agents/work/agent/auth-profiles.json.lock"),
        &lock_bytes(4242, OLD),
    );
    write(
        state.join("agents/main/agent/auth-profiles.json"),
        b"{\"profiles\":{}}",
    );
    // Not candidates: not directly in agent/, not *.lock, or elsewhere.
    stale(state.join("agents/main/agent/nested/x.lock"));
    stale(state.join("agents/main/sessions/s1.jsonl.lock"));
    stale(state.join("locks/oauth-refresh/sha256-0a1b.lock.bak"));
    stale(state.join("workspace/build.lock"));
    stale(state.join("top.lock"));
    write(state.join("agents/main/sessions/s1.jsonl"), b"{}\n");
}

#[test]
fn sweeps_a_realistic_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    realistic(s);
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for gone in [
        "locks/oauth-refresh/sha256-0a1b.lock",
        "locks/provider-auth-persistence/sha256-2c3d.lock",
        "locks/a/b/c/deep.lock",
        "agents/main/agent/auth-profiles.json.lock",
        "agents/ops/agent/auth-profiles.json.lock",
    ] {
        assert!(!exists(s.join(gone)), "{gone} should be swept");
        assert!(
            run.stderr.contains(&format!("path=\"{gone}\"")),
            "{gone} not logged:\n{}",
            run.stderr
        );
    }
    for kept in [
        "agents/work/agent/auth-profiles.json.lock",
        "agents/main/agent/auth-profiles.json",
        "agents/main/agent/nested/x.lock",
        "agents/main/sessions/s1.jsonl.lock",
        "agents/main/sessions/s1.jsonl",
        "locks/oauth-refresh/sha256-0a1b.lock.bak",
        "workspace/build.lock",
        "top.lock",
    ] {
        assert!(exists(s.join(kept)), "{kept} must be kept");
    }
    // Every removal names path, holder, createdAt and age.
    let removal = run
        .stderr
        .lines()
        .find(|l| l.contains("removed stale lock") && l.contains("deep.lock"))
        .unwrap();
    for field in [
        "pid=1",
        &format!("created_at=\"{OLD}\""),
        "age_s=",
        "age_from=\"createdAt\"",
    ] {
        assert!(removal.contains(field), "{field} missing in {removal}");
    }
    // The other holder gets a warning with the flag that would sweep it.
    let warn = run.stderr.lines().find(|l| l.contains("pid=4242")).unwrap();
    assert!(
        warn.contains("WARN") && warn.contains("--holder-pid 4242"),
        "{warn}"
    );
    assert!(
        run.stderr
            .contains("scanned=6 swept=5 kept=other-holder:1 errors=0"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "", "stdout stays empty unless asked");
    // A second run finds nothing more to do.
    let again = sweep(s, &[]);
    assert!(
        again.stderr.contains("scanned=1 swept=0"),
        "{}",
        again.stderr
    );
}

/// A sweep leaves every access time as it found it (`O_NOATIME`): reading
/// the locks and listing their directories writes nothing to the volume but
/// the removals. Each access time is set an hour before its change time, so
/// the kernel's `relatime` would otherwise update it on the first read.
#[test]
fn reads_without_touching_access_times() {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    realistic(s);
    let read = [
        "locks",
        "locks/oauth-refresh",
        "locks/a/b/c",
        "agents",
        "agents/work/agent",
        "agents/main/agent",
        "agents/work/agent/auth-profiles.json.lock",
    ];
    let secs = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
    };
    let atime = |p: &str| fs::metadata(s.join(p)).unwrap().accessed().unwrap();
    let mut before = Vec::new();
    for p in read {
        let modified = fs::metadata(s.join(p)).unwrap().modified().unwrap();
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: secs(modified) - 3600,
                tv_nsec: 0,
            },
            last_modification: Timespec {
                tv_sec: secs(modified),
                tv_nsec: 0,
            },
        };
        rustix::fs::utimensat(CWD, s.join(p), &times, AtFlags::empty()).unwrap();
        before.push(atime(p));
    }
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!exists(s.join("agents/main/agent/auth-profiles.json.lock")));
    for (p, was) in read.iter().zip(before) {
        assert_eq!(atime(p), was, "{p}: its access time changed");
    }
}

/// Past the first 16 removals the descriptors of removed locks are closed
/// on a second thread where those closes waited for the device (a discard
/// mount), on the sweep's own elsewhere: either way every stale lock goes,
/// and nothing else.
#[test]
fn many_stale_locks_are_all_removed() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    for i in 0..100 {
        stale(s.join(format!("locks/oauth-refresh/sha256-{i:03}.lock")));
        write(
            s.join(format!("locks/oauth-refresh/sha256-{i:03}-held.lock")),
            &lock_bytes(4242, OLD),
        );
    }
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr.matches("removed stale lock").count(), 100);
    assert!(
        run.stderr
            .contains("scanned=200 swept=100 kept=other-holder:100 errors=0"),
        "{}",
        run.stderr
    );
    let left = files(s);
    assert_eq!(left.len(), 100, "{left:?}");
    assert!(
        left.iter()
            .all(|p| p.to_string_lossy().ends_with("-held.lock"))
    );
}

#[test]
fn dry_run_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    realistic(dir.path());
    let before = files(dir.path());
    let run = sweep(dir.path(), &["--dry-run"]);
    assert_eq!(run.code, 0);
    assert_eq!(files(dir.path()), before);
    assert_eq!(
        run.stderr
            .matches("would remove stale lock (dry run)")
            .count(),
        5,
        "{}",
        run.stderr
    );
}

#[test]
fn holder_pid_replaces_the_default_and_any_holder_takes_all() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/one.lock"));
    write(s.join("locks/seven.lock"), &lock_bytes(7, OLD));
    write(s.join("locks/eight.lock"), &lock_bytes(8, OLD));
    let run = sweep(s, &["--holder-pid", "7"]);
    assert_eq!(run.code, 0);
    assert!(exists(s.join("locks/one.lock")) && !exists(s.join("locks/seven.lock")));
    let run = sweep(s, &["--holder-pid", "1", "--holder-pid", "8"]);
    assert_eq!(run.code, 0);
    assert!(!exists(s.join("locks/one.lock")) && !exists(s.join("locks/eight.lock")));
    write(s.join("locks/nine.lock"), &lock_bytes(9, OLD));
    sweep(s, &["--any-holder"]);
    assert!(!exists(s.join("locks/nine.lock")));
}

#[test]
fn min_age_uses_created_at_then_mtime() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join("locks/old.lock"), &lock_bytes(1, &now_iso(-3600)));
    write(s.join("locks/young.lock"), &lock_bytes(1, &now_iso(-10)));
    write(s.join("locks/future.lock"), &lock_bytes(1, &now_iso(3600)));
    // No usable createdAt: the file's mtime decides.
    write(
        s.join("locks/old-mtime.lock"),
        b"{\"pid\": 1, \"createdAt\": \"garbage\"}",
    );
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(s.join("locks/old-mtime.lock"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    write(s.join("locks/young-mtime.lock"), b"{\"pid\": 1}");
    let run = sweep(s, &["--min-age", "10m"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!exists(s.join("locks/old.lock")));
    assert!(!exists(s.join("locks/old-mtime.lock")));
    assert!(exists(s.join("locks/young.lock")));
    assert!(exists(s.join("locks/future.lock")));
    assert!(exists(s.join("locks/young-mtime.lock")));
    assert!(run.stderr.contains("age_from=\"mtime\""), "{}", run.stderr);
    assert_eq!(
        run.stderr.matches("kept: younger than --min-age").count(),
        3
    );
}

#[test]
fn include_adds_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("agents/main/sessions/s1.jsonl.lock"));
    stale(s.join("agents/main/sessions/s2.jsonl.lock"));
    write(s.join("agents/main/sessions/s1.jsonl"), b"{}");
    sweep(s, &[]);
    assert!(exists(s.join("agents/main/sessions/s1.jsonl.lock")));
    let run = sweep(s, &["--include", "agents/*/sessions/*.jsonl.lock"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        files(s),
        vec![Path::new("agents/main/sessions/s1.jsonl").to_owned()]
    );
}

#[test]
fn keeps_garbage_empty_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let cases: [(&str, &[u8]); 7] = [
        ("empty.lock", b""),
        ("garbage.lock", b"\x00\x01\x02garbage"),
        ("array.lock", b"[{\"pid\": 1}]"),
        ("nopid.lock", b"{\"createdAt\": \"2026-01-01T00:00:00Z\"}"),
        ("strpid.lock", b"{\"pid\": \"1\"}"),
        (
            "truncated.lock",
            b"{\n  \"pid\": 1,\n  \"createdAt\": \"2026-",
        ),
        ("zero.lock", b"{\"pid\": 0}"),
    ];
    for (name, bytes) in cases {
        write(s.join("locks").join(name), bytes);
    }
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(files(s).len(), cases.len(), "{}", run.stderr);
    // The empty and the cut-short one are torn locks, younger than the
    // grace period: kept, with a warning.
    assert!(
        run.stderr.contains("kept=not-a-lock:5 too-young:2"),
        "{}",
        run.stderr
    );
    // An hour later they go; the foreign files stay.
    for name in ["empty.lock", "truncated.lock"] {
        let status = std::process::Command::new("touch")
            .args(["-d", "1 hour ago"])
            .arg(s.join("locks").join(name))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.stderr.matches("removed torn lock").count(),
        2,
        "{}",
        run.stderr
    );
    assert!(!exists(s.join("locks/empty.lock")) && !exists(s.join("locks/truncated.lock")));
    assert_eq!(files(s).len(), cases.len() - 2, "{}", run.stderr);
}

#[test]
fn huge_lock_is_kept_unread() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    // A valid stale signature followed by padding: a real lock is never this big.
    let mut bytes = lock_bytes(1, OLD);
    bytes.resize(64 * 1024 * 1024, b' ');
    write(s.join("locks/huge.lock"), &bytes);
    let sparse = fs::File::create(s.join("locks/sparse.lock")).unwrap();
    sparse.set_len(1 << 40).unwrap();
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0);
    assert!(exists(s.join("locks/huge.lock")) && exists(s.join("locks/sparse.lock")));
    assert!(run.stderr.contains("kept=too-large:2"), "{}", run.stderr);
}

#[test]
fn never_follows_symlinks() {
    let outside = tempfile::tempdir().unwrap();
    let o = outside.path();
    stale(o.join("victim.lock"));
    stale(o.join("dir/inner.lock"));
    stale(o.join("agent/auth-profiles.json.lock"));
    stale(o.join("sessions/.usage-cost-cache.json.lock"));
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    fs::create_dir_all(s.join("locks")).unwrap();
    fs::create_dir_all(s.join("agents/evil")).unwrap();
    symlink(o.join("victim.lock"), s.join("locks/link.lock")).unwrap();
    symlink(o.join("dir"), s.join("locks/linkdir")).unwrap();
    symlink(o.join("agent"), s.join("agents/evil/agent")).unwrap();
    // Below a real agent dir, reached by the walk through literal names.
    fs::create_dir_all(s.join("agents/main/agent")).unwrap();
    symlink(o.join("sessions"), s.join("agents/main/sessions")).unwrap();
    symlink(o, s.join("agents/linked")).unwrap();
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(files(o).len(), 4, "nothing outside may go");
    assert!(
        exists(s.join("locks/link.lock")),
        "the symlink itself is kept too"
    );
    assert!(
        run.stderr
            .contains("kept: not a regular file path=\"locks/link.lock\" file_type=\"symlink\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("not following symlink path=\"locks/linkdir\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("not following symlink path=\"agents/evil/agent\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("not following symlink path=\"agents/main/sessions\""),
        "{}",
        run.stderr
    );

    // `locks/` itself a symlink to a dir full of stale locks.
    let dir2 = tempfile::tempdir().unwrap();
    symlink(o.join("dir"), dir2.path().join("locks")).unwrap();
    let run = sweep(dir2.path(), &[]);
    assert_eq!(run.code, 0);
    assert!(exists(o.join("dir/inner.lock")));
    // A WARN: every lock under it is left.
    assert!(
        run.stderr
            .lines()
            .any(|l| l.contains("WARN") && l.contains("not following symlink path=\"locks\"")),
        "{}",
        run.stderr
    );
}

#[test]
fn state_dir_may_itself_be_a_symlink() {
    let real = tempfile::tempdir().unwrap();
    stale(real.path().join("locks/x.lock"));
    let links = tempfile::tempdir().unwrap();
    symlink(real.path(), links.path().join("state")).unwrap();
    let run = sweep(&links.path().join("state"), &[]);
    assert_eq!(run.code, 0);
    assert!(!exists(real.path().join("locks/x.lock")));
}

#[test]
fn non_utf8_and_newline_names_are_swept_and_logged_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let odd = s
        .join("locks")
        .join(OsStr::from_bytes(b"\xff\xfe-odd.lock"));
    let forged = s
        .join("locks")
        .join("x\nINFO removed stale lock path=\"fake.lock");
    write(&odd, &lock_bytes(1, OLD));
    write(&forged, &lock_bytes(7, OLD));
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0);
    assert!(!exists(&odd) && exists(&forged));
    assert!(
        run.stderr.contains("path=\"locks/\\xff\\xfe-odd.lock\""),
        "{}",
        run.stderr
    );
    // One line per event: the newline in the name is escaped, not printed.
    assert!(
        !run.stderr.lines().any(|l| l.starts_with("INFO removed")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("x\\nINFO"), "{}", run.stderr);
}

#[test]
fn deeply_nested_locks_beyond_path_max() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    // 2,500 levels of "dd/" is 7,500 bytes: beyond PATH_MAX (4,096), so only
    // a walk relative to directory descriptors can reach the bottom.
    let mut deep = s.join("locks");
    fs::create_dir_all(&deep).unwrap();
    let mut fd = rustix::fs::open(
        &deep,
        rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    for _ in 0..2500 {
        rustix::fs::mkdirat(&fd, "dd", rustix::fs::Mode::from_raw_mode(0o755)).unwrap();
        fd = rustix::fs::openat(
            &fd,
            "dd",
            rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
    }
    let lock = rustix::fs::openat(
        &fd,
        "bottom.lock",
        rustix::fs::OFlags::CREATE | rustix::fs::OFlags::WRONLY,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    rustix::io::write(&lock, &lock_bytes(1, OLD)).unwrap();
    deep.push("dd");
    let run = sweep(s, &[]);
    assert_eq!(
        run.code,
        0,
        "{}",
        &run.stderr[run.stderr.len().saturating_sub(2000)..]
    );
    assert!(
        run.stderr.contains("scanned=1 swept=1"),
        "{}",
        &run.stderr[run.stderr.len() - 500..]
    );
    assert_eq!(
        rustix::fs::statat(&fd, "bottom.lock", rustix::fs::AtFlags::empty()).unwrap_err(),
        rustix::io::Errno::NOENT
    );
}

#[test]
fn special_files_are_never_opened() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    fs::create_dir_all(s.join("locks/dir.lock")).unwrap();
    stale(s.join("locks/dir.lock/inner.lock"));
    rustix::fs::mknodat(
        rustix::fs::CWD,
        s.join("locks/fifo.lock"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(s.join("locks/sock.lock")).unwrap();
    // A FIFO with no writer would block a plain open() forever; the test
    // would hang here rather than fail.
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(exists(s.join("locks/fifo.lock")) && exists(s.join("locks/sock.lock")));
    assert!(exists(s.join("locks/dir.lock")) && !exists(s.join("locks/dir.lock/inner.lock")));
    // The directory held a lock when it was judged: kept, not empty.
    assert!(
        run.stderr.contains("kept=not-regular-file:2 not-empty:1"),
        "{}",
        run.stderr
    );
}

#[test]
fn leftover_from_an_interrupted_sweep_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/.openclaw-lock-sweeper-1-0"));
    let run = sweep(s, &["--include", "locks/*"]);
    assert_eq!(run.code, 0);
    assert!(exists(s.join("locks/.openclaw-lock-sweeper-1-0")));
    assert!(run.stderr.contains("interrupted sweep"), "{}", run.stderr);
}

/// A directory the sweeper cannot read: exit 1, the error names it, and the
/// rest of the tree is still swept. As root (CI, containers) the sweeper
/// runs as `nobody`, since root reads everything.
#[test]
fn unreadable_directory_fails_the_sweep_but_not_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    fs::set_permissions(s, fs::Permissions::from_mode(0o755)).unwrap();
    stale(s.join("locks/ok/a.lock"));
    stale(s.join("locks/private/b.lock"));
    give_to_nobody(s, &["locks", "locks/ok", "locks/private"]);
    fs::set_permissions(s.join("locks/private"), fs::Permissions::from_mode(0o000)).unwrap();
    let run = sweep_unprivileged(s, &[]);
    fs::set_permissions(s.join("locks/private"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot open directory locks/private: Permission denied"),
        "{}",
        run.stderr
    );
    assert!(
        !exists(s.join("locks/ok/a.lock")),
        "the readable part is still swept"
    );
    assert!(exists(s.join("locks/private/b.lock")));

    fs::set_permissions(s.join("locks/private"), fs::Permissions::from_mode(0o000)).unwrap();
    let run = sweep_unprivileged(s, &["--best-effort"]);
    fs::set_permissions(s.join("locks/private"), fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("errors ignored: --best-effort"),
        "{}",
        run.stderr
    );
}

#[test]
fn lock_that_cannot_be_removed_is_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    fs::set_permissions(s, fs::Permissions::from_mode(0o755)).unwrap();
    stale(s.join("locks/oauth-refresh/a.lock"));
    // Readable, but the directory is not writable: the rename fails.
    fs::set_permissions(
        s.join("locks/oauth-refresh"),
        fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    let run = sweep_unprivileged(s, &[]);
    fs::set_permissions(
        s.join("locks/oauth-refresh"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot remove stale lock"),
        "{}",
        run.stderr
    );
    assert_eq!(
        files(s),
        vec![Path::new("locks/oauth-refresh/a.lock").to_owned()],
        "nothing half-done"
    );
}

#[test]
fn state_dir_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    let missing = sweep(&dir.path().join("nope"), &[]);
    assert_eq!(missing.code, 0);
    assert!(
        missing.stderr.contains("WARN") && missing.stderr.contains("does not exist"),
        "{}",
        missing.stderr
    );

    write(dir.path().join("file"), b"x");
    let file = sweep(&dir.path().join("file"), &[]);
    assert_eq!(file.code, 2);
    assert!(file.stderr.contains("not a directory"), "{}", file.stderr);

    let slash = sweep(Path::new("/"), &[]);
    assert_eq!(slash.code, 2);
    assert!(
        slash.stderr.contains("refusing to sweep /"),
        "{}",
        slash.stderr
    );
    let dotdot = sweep(Path::new("/tmp/.."), &[]);
    assert_eq!(dotdot.code, 2, "{}", dotdot.stderr);
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["--frobnicate"], "--frobnicate"),
        (&["--min-age", "10"], "missing unit"),
        (&["--min-age", "ten minutes"], "ten minutes"),
        (&["--holder-pid", "0"], "--holder-pid"),
        (&["--include", "../etc/*.lock"], "../etc/*.lock"),
        (&["--log-format", "xml"], "xml"),
    ];
    for (args, needle) in cases {
        let run = sweep(dir.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    let mut cmd = sweeper();
    cmd.env("LOCK_SWEEPER_LOG_LEVEL", "info,[bad");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

#[test]
fn help_and_version() {
    let mut cmd = sweeper();
    cmd.arg("--help");
    let help = run_cmd(cmd);
    assert_eq!(help.code, 0);
    for needle in [
        "pid 1",
        "--holder-pid",
        "LOCK_SWEEPER_MIN_AGE",
        "OPENCLAW_STATE_DIR",
        "--dry-run",
    ] {
        assert!(help.stdout.contains(needle), "{needle} missing from --help");
    }
    let mut cmd = sweeper();
    cmd.arg("--version");
    let version = run_cmd(cmd);
    assert_eq!(
        version.stdout.trim(),
        format!("openclaw-lock-sweeper {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn configured_by_environment() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/one.lock"));
    write(s.join("locks/seven.lock"), &lock_bytes(7, OLD));
    write(s.join("locks/eight.lock"), &lock_bytes(8, OLD));
    let mut cmd = sweeper();
    cmd.env("OPENCLAW_STATE_DIR", s)
        .env("LOCK_SWEEPER_HOLDER_PID", "7,8")
        .env("LOCK_SWEEPER_DRY_RUN", "true")
        .env("LOCK_SWEEPER_LOG_FORMAT", "json")
        .env("LOCK_SWEEPER_REPORT", "json");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(files(s).len(), 3, "dry run from the env");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["would_sweep"], 2);
    assert_eq!(report["swept"], 0);
    assert_eq!(report["kept"]["other-holder"], 1);
    assert_eq!(report["dry_run"], true);
    for line in run.stderr.lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("every log line is JSON");
        assert!(event["level"].is_string() && event["message"].is_string());
    }
    let mut cmd = sweeper();
    cmd.env("OPENCLAW_STATE_DIR", s)
        .env("LOCK_SWEEPER_ANY_HOLDER", "1");
    assert_eq!(run_cmd(cmd).code, 0);
    assert!(files(s).is_empty());
}

#[test]
fn home_and_legacy_state_dirs() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    stale(h.join(".clawdbot/locks/x.lock"));
    let mut cmd = sweeper();
    cmd.env("HOME", h);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !exists(h.join(".clawdbot/locks/x.lock")),
        "legacy dir swept when it is the only one"
    );
    stale(h.join("oc/.openclaw/locks/y.lock"));
    let mut cmd = sweeper();
    cmd.env("HOME", h).env("OPENCLAW_HOME", "~/oc");
    assert_eq!(run_cmd(cmd).code, 0);
    assert!(!exists(h.join("oc/.openclaw/locks/y.lock")));
}
