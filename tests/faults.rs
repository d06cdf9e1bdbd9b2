//! Faults: read-only, tmpfs and overlay file systems, names too long, and
//! permission denied on a file. Each gives a clear log line, the documented
//! exit code, and no partial damage. Mounts happen in a private mount
//! namespace (`unshare -m`, or `unshare -rm` for a non-root user), so the
//! machine's mounts are never touched.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;

/// Runs `script` in a new mount namespace with `$SWEEPER` and `$T` set.
fn in_mount_namespace(t: &Path, script: &str) -> Run {
    let mut cmd = Command::new("unshare");
    cmd.arg(if is_root() { "-m" } else { "-rm" })
        .args(["--propagation", "private", "sh", "-ec", script])
        .env("SWEEPER", BIN)
        .env("T", t);
    run_cmd(cmd)
}

#[test]
fn read_only_file_system_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let run = in_mount_namespace(
        dir.path(),
        r#"
        mkdir -p "$T/s" && mount -t tmpfs tmpfs "$T/s"
        mkdir -p "$T/s/locks/oauth-refresh"
        printf '{"pid": 1, "createdAt": "2026-01-01T00:00:00.000Z"}' > "$T/s/locks/oauth-refresh/a.lock"
        mount -o remount,ro "$T/s"
        set +e; "$SWEEPER" --state-dir "$T/s"; echo "exit=$?"
        ls "$T/s/locks/oauth-refresh"
        "#,
    );
    assert!(
        run.stdout.contains("exit=1"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr
            .contains("cannot move aside locks/oauth-refresh/a.lock: Read-only file system"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("a.lock") && !run.stdout.contains(".openclaw-lock-sweeper"),
        "{}",
        run.stdout
    );
}

#[test]
fn tmpfs_and_overlay_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let run = in_mount_namespace(
        dir.path(),
        r#"
        lock='{"pid": 1, "createdAt": "2026-01-01T00:00:00.000Z"}'
        mkdir -p "$T/tmpfs" && mount -t tmpfs tmpfs "$T/tmpfs"
        mkdir -p "$T/tmpfs/locks/x" && printf "$lock" > "$T/tmpfs/locks/x/a.lock"
        "$SWEEPER" --state-dir "$T/tmpfs" && echo "tmpfs exit=0"
        test ! -e "$T/tmpfs/locks/x/a.lock" && echo "tmpfs swept"
        # The overlay a container runtime gives a state dir baked into an image.
        mkdir -p "$T/lower/locks/x" "$T/upper" "$T/work" "$T/merged"
        printf "$lock" > "$T/lower/locks/x/b.lock"
        mount -t overlay overlay -o "lowerdir=$T/lower,upperdir=$T/upper,workdir=$T/work" "$T/merged"
        "$SWEEPER" --state-dir "$T/merged" && echo "overlay exit=0"
        test ! -e "$T/merged/locks/x/b.lock" && echo "overlay swept"
        test -e "$T/lower/locks/x/b.lock" && echo "lower layer untouched"
        "#,
    );
    for line in [
        "tmpfs exit=0",
        "tmpfs swept",
        "overlay exit=0",
        "overlay swept",
        "lower layer untouched",
    ] {
        assert!(
            run.stdout.contains(line),
            "{line}:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn names_too_long() {
    let dir = tempfile::tempdir().unwrap();
    // A state dir path beyond PATH_MAX: the open fails, exit 1, and says why.
    let long = dir
        .path()
        .join("x".repeat(200))
        .join("y".repeat(200).repeat(25));
    let run = sweep(&long, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("File name too long"), "{}", run.stderr);
    // A pattern segment longer than NAME_MAX could never match: refused up front.
    let run = sweep(
        dir.path(),
        &["--include", &format!("locks/{}.lock", "n".repeat(300))],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("longer than 255 bytes"),
        "{}",
        run.stderr
    );
}

#[test]
fn unreadable_lock_file_is_an_error_and_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    fs::set_permissions(s, fs::Permissions::from_mode(0o755)).unwrap();
    stale(s.join("locks/secret.lock"));
    stale(s.join("locks/fine.lock"));
    give_to_nobody(s, &["locks", "locks/secret.lock", "locks/fine.lock"]);
    fs::set_permissions(
        s.join("locks/secret.lock"),
        fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let run = sweep_unprivileged(s, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("cannot read locks/secret.lock: Permission denied"),
        "{}",
        run.stderr
    );
    assert!(exists(s.join("locks/secret.lock")) && !exists(s.join("locks/fine.lock")));
}
