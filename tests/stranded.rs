//! Nothing stranded under the private name (issue 23): every way out of a
//! removal leaves the lock at its own name or gone, a lock left under its
//! private name is found and put back by the next sweep, and a stop signal
//! waits for the removal under way. Faults are injected with strace
//! (`-e inject`), which fails or delays exactly the system call named.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn strace() -> bool {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: strace is not installed (.ci/run installs it)");
    }
    ok
}

/// The sweeper under strace, with `inject` (e.g. `unlinkat:error=EIO`).
fn injected(state: &Path, injects: &[&str], args: &[&str]) -> Run {
    let mut cmd = Command::new("strace");
    cmd.env_clear().args(["-f", "-qq", "-o", "/dev/null"]);
    for inject in injects {
        cmd.args(["-e", &format!("inject={inject}")]);
    }
    cmd.arg(BIN).arg("--state-dir").arg(state).args(args);
    run_cmd(cmd)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_failed_unlink_or_verify_puts_the_lock_back_at_its_own_name() {
    if !strace() {
        return;
    }
    // The verify's re-read is the last pread64 of a sweep (the dynamic
    // loader's come first): counted on a clean run.
    let dir = tempfile::tempdir().unwrap();
    stale(dir.path().join("locks/oauth-refresh/a.lock"));
    let trace = dir.path().join("trace");
    let status = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=pread64", "-o"])
        .arg(&trace)
        .arg(BIN)
        .arg("--state-dir")
        .arg(dir.path())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let preads = fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("pread64("))
        .count();
    let verify = format!("pread64:error=EIO:when={preads}");
    for inject in ["unlinkat:error=EIO", verify.as_str()] {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path();
        stale(s.join("locks/oauth-refresh/a.lock"));
        let run = injected(s, &[inject], &["--report", "json"]);
        assert_eq!(run.code, 1, "{inject}: {}", run.stderr);
        assert_eq!(
            names(&s.join("locks/oauth-refresh")),
            ["a.lock"],
            "{inject}"
        );
        let error = run.stderr.lines().find(|l| l.contains("ERROR")).unwrap();
        assert!(
            error.contains("it is left where it was"),
            "{inject}: {error}"
        );
        assert!(
            !error.contains("runAsUser"),
            "an I/O error is not the uid's fault: {error}"
        );
    }
}

#[test]
fn a_lock_stranded_under_its_private_name_is_named_and_put_back_by_the_next_sweep() {
    if !strace() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let locks = s.join("locks/oauth-refresh");
    stale(locks.join("a.lock"));
    // The unlink fails, and so does the put-back (the second rename).
    let run = injected(
        s,
        &["unlinkat:error=EIO", "renameat2:error=EIO:when=2"],
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let left = names(&locks);
    assert_eq!(left.len(), 1);
    assert!(
        left[0].starts_with(".openclaw-lock-sweeper-") && left[0].ends_with("~a.lock~"),
        "{left:?}"
    );
    let error = run.stderr.lines().find(|l| l.contains("ERROR")).unwrap();
    assert!(
        error.contains(&format!("aside=\"locks/oauth-refresh/{}\"", left[0])),
        "the ERROR names the private path in full: {error}"
    );
    // The next sweep finds it, puts it back, judges it: a pid-1 lock goes.
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("is back at its own name"),
        "{}",
        run.stderr
    );
    assert!(names(&locks).is_empty(), "{:?}", names(&locks));
    // One that is a live holder's goes back and stays; one whose own name is
    // taken is kept, and reported.
    write(
        locks.join(".openclaw-lock-sweeper-9-0~b.lock~"),
        &lock_bytes(4242, OLD),
    );
    write(
        locks.join(".openclaw-lock-sweeper-9-1~c.lock~"),
        &lock_bytes(1, OLD),
    );
    write(locks.join("c.lock"), &lock_bytes(4242, OLD));
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        names(&locks),
        [".openclaw-lock-sweeper-9-1~c.lock~", "b.lock", "c.lock"]
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["kept"]["leftover"], 1);
    assert!(
        run.stderr.contains("its own name is taken"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_stop_signal_during_a_removal_waits_for_it_then_ends_the_sweep() {
    if !strace() {
        return;
    }
    // As pid 1 of a container too, which the kernel's default actions spare.
    for pid1 in [false, true] {
        if pid1 && !is_root() {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path();
        stale(s.join("locks/oauth-refresh/a.lock"));
        let mut cmd = Command::new("strace");
        cmd.env_clear().env("PATH", "/usr/bin:/bin").args([
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            "inject=unlinkat:delay_enter=700000",
        ]);
        if pid1 {
            cmd.args(["unshare", "--pid", "--fork"]);
        }
        cmd.arg(BIN)
            .arg("--state-dir")
            .arg(s)
            .stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        // The sweeper itself (the child of strace, or of unshare), once the
        // removal is under way: its unlinkat is held for 0.7 s.
        let pattern = format!("^{BIN} --state-dir {}$", s.display());
        let mut pid = None;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(20));
            let out = Command::new("pgrep")
                .args(["-f", &pattern])
                .output()
                .unwrap();
            pid = String::from_utf8(out.stdout)
                .unwrap()
                .split_whitespace()
                .last()
                .map(str::to_owned);
            let aside = names(&s.join("locks/oauth-refresh"))
                .iter()
                .any(|n| n.starts_with(".openclaw"));
            if pid.is_some() && aside {
                break;
            }
        }
        let Some(pid) = pid else {
            let out = child.wait_with_output().unwrap();
            panic!(
                "no sweeper found running: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("stop signal received"),
            "pid1={pid1}: {stderr}"
        );
        assert!(
            names(&s.join("locks/oauth-refresh")).is_empty(),
            "pid1={pid1}: {:?}",
            names(&s.join("locks/oauth-refresh"))
        );
        if !pid1 {
            assert_eq!(out.status.code(), Some(128 + 15), "{stderr}");
        }
    }
}
