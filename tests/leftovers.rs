//! Leftovers that name no holder (torn locks, reclaim guards, legacy
//! directory locks) and the lock paths beyond `locks/` and `agents/*/agent/`,
//! on real trees: what goes, what stays, and what the log says.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;

/// Sets a file's or directory's mtime `secs` seconds into the past.
fn age(path: &Path, secs: u64) {
    let when = rustix::fs::Timespec {
        tv_sec: (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - secs) as i64,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: when,
        last_modification: when,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

const GUARD: &str = "locks/oauth-refresh/lock-0123456789abcdef0123456789abcdef.lock.reclaim";

#[test]
fn orphaned_reclaim_guards_go_once_older_than_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    // fs-safe's guard: an empty directory beside the lock (the lock itself
    // may be gone already: the guard alone wedges the path).
    fs::create_dir_all(s.join(GUARD)).unwrap();
    age(&s.join(GUARD), 3600);
    // Young: its reclaimer may still be at work.
    let young = "agents/main/agent/openclaw-agent.sqlite.lock.reclaim";
    fs::create_dir_all(s.join(young)).unwrap();
    // Not empty: not ours to judge.
    let full = "locks/oauth-refresh/lock-full.lock.reclaim";
    write(s.join(full).join("note.txt"), b"user data");
    age(&s.join(full), 3600);
    // The file variant (fs-safe's lockRoot locks) is judged like a lock.
    let file_guard = "locks/provider-auth-persistence/lock-f.lock.reclaim";
    stale(s.join(file_guard));
    let other_file_guard = "locks/provider-auth-persistence/lock-g.lock.reclaim";
    write(s.join(other_file_guard), &lock_bytes(7, OLD));
    // A symlink of that name is never followed.
    fs::create_dir(s.join("elsewhere")).unwrap();
    symlink(
        s.join("elsewhere"),
        s.join("locks/oauth-refresh/lock-link.lock.reclaim"),
    )
    .unwrap();

    let dry = sweep(s, &["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(
        dry.stderr
            .matches("would remove orphaned reclaim guard (dry run)")
            .count(),
        2,
        "{}",
        dry.stderr
    );
    assert!(exists(s.join(GUARD)) && exists(s.join(file_guard)));

    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!exists(s.join(GUARD)), "{}", run.stderr);
    assert!(!exists(s.join(file_guard)));
    assert!(exists(s.join(young)) && exists(s.join(full).join("note.txt")));
    assert!(exists(s.join(other_file_guard)) && exists(s.join("elsewhere")));
    assert!(exists(s.join("locks/oauth-refresh/lock-link.lock.reclaim")));
    let line = |needle: &str| {
        run.stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}:\n{}", run.stderr))
            .to_owned()
    };
    assert!(line(&format!("path=\"{GUARD}\"")).contains("INFO removed orphaned reclaim guard"));
    assert!(line(&format!("path=\"{young}\"")).contains("WARN kept: a leftover naming no holder"));
    assert!(
        line(&format!("path=\"{full}\""))
            .contains("WARN kept: a directory named like a lock, not empty")
    );
    assert!(line("lock-link.lock.reclaim").contains("kept: not a regular file"));
    assert!(line("lock-link.lock.reclaim").contains("file_type=\"symlink\""));
    assert!(run.stderr.contains("swept=2 "), "{}", run.stderr);
}

#[test]
fn legacy_directory_locks_go_when_empty_and_old() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    // proper-lockfile's directory lock of releases up to 2026.7, which
    // 2026.9 refuses to go past.
    let legacy = "agents/main/agent/settings.json.lock";
    fs::create_dir_all(s.join(legacy)).unwrap();
    age(&s.join(legacy), 600);
    let busy = "agents/main/agent/auth.json.lock";
    write(s.join(busy).join("owner.json"), b"{}");
    age(&s.join(busy), 600);
    fs::write(s.join("agents/main/agent/settings.json"), b"{}").unwrap();
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!exists(s.join(legacy)), "{}", run.stderr);
    assert!(
        run.stderr.contains("removed empty directory lock"),
        "{}",
        run.stderr
    );
    assert!(exists(s.join(busy).join("owner.json")));
    assert!(exists(s.join("agents/main/agent/settings.json")));
}

#[test]
fn torn_locks_respect_a_longer_min_age() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let torn = "locks/oauth-refresh/lock-torn.lock";
    write(s.join(torn), b"{\n  \"pid\": 1,\n  \"crea");
    age(&s.join(torn), 60);
    // Older than the grace, younger than --min-age: kept.
    let run = sweep(s, &["--min-age", "2m"]);
    assert!(exists(s.join(torn)), "{}", run.stderr);
    assert!(run.stderr.contains("min_age_s=120"), "{}", run.stderr);
    let run = sweep(s, &["--min-age", "30s"]);
    assert!(!exists(s.join(torn)), "{}", run.stderr);
    assert!(
        run.stderr.contains("INFO removed torn lock"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_other_lock_paths_of_openclaw_are_swept_too() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let swept = [
        "openclaw.json.lock",
        "state/openclaw.sqlite.lock",
        "state/openclaw.sqlite.sandbox-0a1b.lock",
        "migration/onboarding.lock-target.lock",
        ".memory-host-events-export-0123456789abcdef0123456789abcdef.lock",
        "locks/memory-promotion-0a1b.lock",
        "agents/main/agent/openclaw-agent.sqlite.lock",
    ];
    for p in swept {
        stale(s.join(p));
    }
    // The 2026.5/2026.7 usage-cost lock: compact, no createdAt.
    let usage = "agents/main/sessions/.usage-cost-cache.json.lock";
    write(
        s.join(usage),
        b"{\"pid\":1,\"startedAt\":1,\"token\":\"t\"}\n",
    );
    // Not candidates: OpenClaw reclaims session locks itself, and other
    // files at the state root are the user's.
    let kept = [
        "agents/main/sessions/s1.jsonl.lock",
        "workspace/build.lock",
        "random.lock",
        "openclaw.json.clobber.lock/x",
    ];
    for p in kept {
        stale(s.join(p));
    }
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for p in swept.iter().chain([&usage]) {
        assert!(!exists(s.join(p)), "{p} should be swept:\n{}", run.stderr);
    }
    for p in kept {
        assert!(exists(s.join(p)), "{p} should stay");
    }
    assert!(run.stderr.contains("swept=8 "), "{}", run.stderr);
}
