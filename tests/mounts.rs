//! Record locks that stay on one client. Two FUSE mounts of one state dir
//! through bindfs, which has no lock support: the kernel then keeps each
//! mount's record locks to itself, as a FUSE driver without locking, or NFS
//! mounted `nolock`, does for a volume shared by two pods. A gateway holds
//! its coordinator through mount A; the sweep runs through mount B, where
//! the coordinator looks free. Free must not be concluded there.
//!
//! Needs root, /dev/fuse and bindfs (tests/run.sh installs it); skipped,
//! saying why, elsewhere.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

const COORDINATOR: &str = "tmp/openclaw-1000/gateway.state.lock.sqlite";
const GATEWAY_LOCK: &str = "tmp/openclaw-1000/gateway.state.lock";

/// A bindfs mount of `source` at `point`, unmounted on drop.
struct Fuse {
    point: PathBuf,
}

impl Fuse {
    fn mount(source: &Path, point: &Path) -> Fuse {
        std::fs::create_dir_all(point).unwrap();
        let status = Command::new("bindfs")
            .arg(source)
            .arg(point)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "bindfs {} {}",
            source.display(),
            point.display()
        );
        Fuse {
            point: point.to_owned(),
        }
    }
}

impl Drop for Fuse {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.point).status();
    }
}

fn skip_reason() -> Option<&'static str> {
    if !is_root() {
        return Some("needs root to mount FUSE");
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse");
    }
    if Command::new("bindfs").arg("--version").output().is_err() {
        return Some("no bindfs (tests/run.sh installs it from Debian)");
    }
    None
}

/// A state dir as a killed 2026.9.6 gateway leaves it, plus a pid-1 lock.
fn seeded(s: &Path) {
    write(s.join(COORDINATOR), b"");
    write(
        s.join(GATEWAY_LOCK),
        b"{\n  \"pid\": 1,\n  \"ownerId\": \"x\",\n  \"createdAt\": \"2026-01-01T00:00:00.000Z\"\n}\n",
    );
    stale(s.join("locks/oauth-refresh/lock-a.lock"));
}

fn report(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

#[test]
fn a_coordinator_free_through_a_mount_that_keeps_its_locks_proves_nothing() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("volume");
    seeded(&source);
    let a = Fuse::mount(&source, &dir.path().join("a"));
    let b = Fuse::mount(&source, &dir.path().join("b"));

    // Through the holder's own mount the kernel sees the lock: attached.
    let mut holder = hold_exclusive(&a.point.join(COORDINATOR));
    let run = sweep(&a.point, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report(&run)["liveness"], "attached", "{}", run.stderr);

    // Through the other mount the coordinator can be taken although a
    // gateway holds it: unknown, and the gateway's own files stay.
    let run = sweep(&b.point, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report(&run)["liveness"], "unknown", "{}", run.stderr);
    assert!(exists(source.join(GATEWAY_LOCK)), "{}", run.stderr);
    let warn = run
        .stderr
        .lines()
        .find(|l| l.contains("free cannot be proven"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(warn.contains(" WARN "), "{warn}");
    assert!(
        warn.contains("tmp/openclaw-1000 is on fuse") && warn.contains("may stay on the client"),
        "{warn}"
    );
    // Said at once: the first line after the start line.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines[0].contains(" sweeping ") && lines[1] == warn,
        "{}",
        run.stderr
    );
    drop(holder._stdin);
    holder.child.wait().unwrap();

    // With no gateway at all it is still unknown there: the file system
    // cannot say. The pid-1 lock follows the holder rules as before 8.1.
    let run = sweep(&b.point, &["--report", "json"]);
    assert_eq!(report(&run)["liveness"], "unknown", "{}", run.stderr);
    assert!(exists(source.join(GATEWAY_LOCK)), "{}", run.stderr);
    assert!(
        !exists(source.join("locks/oauth-refresh/lock-a.lock")),
        "{}",
        run.stderr
    );
}

/// A bind mount at `point`, unmounted on drop.
struct Bind {
    point: PathBuf,
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.point).status();
    }
}

#[test]
fn a_mount_point_inside_the_state_dir_is_swept_as_any_directory() {
    // The decision (docs/safety.md): an operator who mounts `locks/` from
    // elsewhere wants those locks swept, under the same rules.
    if !is_root() {
        eprintln!("skipped: needs root to bind-mount");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (state, elsewhere) = (dir.path().join("state"), dir.path().join("elsewhere"));
    std::fs::create_dir_all(state.join("locks")).unwrap();
    stale(elsewhere.join("oauth-refresh/lock-a.lock"));
    write(
        elsewhere.join("oauth-refresh/lock-b.lock"),
        &lock_bytes(7, OLD),
    );
    let status = Command::new("mount")
        .arg("--bind")
        .arg(&elsewhere)
        .arg(state.join("locks"))
        .status()
        .unwrap();
    assert!(status.success());
    let _bind = Bind {
        point: state.join("locks"),
    };
    let run = sweep(&state, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !exists(elsewhere.join("oauth-refresh/lock-a.lock")),
        "{}",
        run.stderr
    );
    assert!(
        exists(elsewhere.join("oauth-refresh/lock-b.lock")),
        "a lock of a pid other than 1 stays"
    );
}

#[test]
fn an_empty_guard_from_an_overlayfs_lower_layer_is_removed_in_place() {
    // A state dir that is an overlayfs (a container's writable layer over
    // an image that ships a state dir): an empty reclaim guard or directory
    // lock in the lower layer cannot be renamed aside (EXDEV), though rmdir
    // removes it. A surviving guard fails OpenClaw closed forever.
    if !is_root() {
        eprintln!("skipped: needs root to mount overlayfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (lower, upper, work, merged) = (
        d.join("lower"),
        d.join("upper"),
        d.join("work"),
        d.join("merged"),
    );
    let guard = "locks/oauth-refresh/lock-a.lock.reclaim";
    let legacy = "locks/legacy.lock";
    for p in [
        lower.join(guard),
        lower.join(legacy),
        upper.clone(),
        work.clone(),
        merged.clone(),
    ] {
        std::fs::create_dir_all(p).unwrap();
    }
    stale(lower.join("locks/oauth-refresh/lock-a.lock"));
    for p in [guard, legacy] {
        let status = Command::new("touch")
            .args(["-d", "1 hour ago"])
            .arg(lower.join(p))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let status = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &options])
        .arg(&merged)
        .status()
        .unwrap();
    if !status.success() {
        eprintln!("skipped: this kernel or sandbox does not mount overlayfs");
        return;
    }
    let _mount = Bind {
        point: merged.clone(),
    };
    // What the fallback is for: the kernel refuses to rename the guard.
    let aside = std::fs::rename(merged.join(guard), merged.join("locks/oauth-refresh/aside"));
    assert_eq!(aside.unwrap_err().raw_os_error(), Some(libc::EXDEV));

    let run = sweep(&merged, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(report(&run)["swept"], 3, "{}", run.stderr);
    for p in [guard, legacy, "locks/oauth-refresh/lock-a.lock"] {
        assert!(!exists(merged.join(p)), "{p}: {}", run.stderr);
    }
    // Nothing left under a private name in the merged view.
    let leftover = files(&merged)
        .into_iter()
        .find(|p| p.to_string_lossy().contains(".openclaw-lock-sweeper-"));
    assert_eq!(leftover, None);
}
