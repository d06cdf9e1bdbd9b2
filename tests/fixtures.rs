//! OpenClaw's own lock bytes, captured from the real npm releases by
//! `tests/openclaw/wedge.test.mjs` (one per release and lock kind): the
//! sweeper must read every one of them, so `cargo test` alone checks the
//! real formats.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;

fn fixtures() -> Vec<(String, String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openclaw");
    let mut out = Vec::new();
    for version in fs::read_dir(&root).unwrap() {
        let version = version.unwrap().path();
        for file in fs::read_dir(&version).unwrap() {
            let file = file.unwrap().path();
            let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name(&version), name(&file), fs::read(&file).unwrap()));
        }
    }
    out.sort();
    assert!(
        out.len() >= 4,
        "expected fixtures for at least two releases"
    );
    out
}

fn place(state: &Path, kind: &str, bytes: &[u8]) -> PathBuf {
    let rel = match kind {
        "oauth-refresh.lock" => {
            "locks/oauth-refresh/sha256-cee1bbaed8073aace8170859a25616882c288ceeaa1119df363bf01cc0cdab65.lock"
        }
        "auth-profiles.lock" => "agents/main/agent/auth-profiles.json.lock",
        other => panic!("unknown fixture kind {other}"),
    };
    write(state.join(rel), bytes);
    state.join(rel)
}

#[test]
fn every_real_lock_is_swept() {
    for (version, kind, bytes) in fixtures() {
        let dir = tempfile::tempdir().unwrap();
        let lock = place(dir.path(), &kind, &bytes);
        let run = sweep(dir.path(), &[]);
        assert_eq!(run.code, 0, "{version}/{kind}: {}", run.stderr);
        assert!(
            !exists(&lock),
            "{version}/{kind} should be swept:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("removed stale lock") && run.stderr.contains("pid=1"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("age_from=\"createdAt\""),
            "{version}/{kind}: createdAt not read"
        );
    }
}

#[test]
fn every_real_lock_is_kept_for_another_holder_or_when_young() {
    for (version, kind, bytes) in fixtures() {
        let dir = tempfile::tempdir().unwrap();
        let lock = place(dir.path(), &kind, &bytes);
        let run = sweep(dir.path(), &["--holder-pid", "2", "--dry-run"]);
        assert!(
            run.stderr.contains("kept=other-holder:1"),
            "{version}/{kind}: {}",
            run.stderr
        );
        // The captures are minutes to years old; no capture is a century old.
        let run = sweep(dir.path(), &["--min-age", "36500d"]);
        assert!(
            run.stderr.contains("kept=too-young:1"),
            "{version}/{kind}: {}",
            run.stderr
        );
        assert!(exists(&lock));
    }
}
