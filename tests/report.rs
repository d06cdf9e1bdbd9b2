//! The JSON report (`--report json`) of real sweeps: what was swept and kept,
//! with why, and the error when nothing could be swept. Its schema
//! (`schema/report.schema.json`) is checked against these same kinds of
//! reports by `tests/deploy/test_operator.py`.

mod common;

use common::*;
use serde_json::{Value, json};

fn report(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?} {}", run.stdout, run.stderr))
}

#[test]
fn lists_swept_and_kept_paths_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    write(
        s.join("agents/main/agent/auth-profiles.json.lock"),
        &lock_bytes(4242, OLD),
    );
    write(s.join("locks/notes.lock"), b"hello");
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let r = report(&run);
    assert_eq!(r["swept"], 1);
    assert_eq!(
        r["swept_paths"],
        json!([{"path": "locks/oauth-refresh/a.lock", "kind": "lock"}])
    );
    let mut kept = r["kept_paths"].as_array().unwrap().clone();
    kept.sort_by_key(|k| k["path"].as_str().unwrap().to_owned());
    assert_eq!(
        kept,
        [
            json!({"path": "agents/main/agent/auth-profiles.json.lock", "reason": "other-holder"}),
            json!({"path": "locks/notes.lock", "reason": "not-a-lock"}),
        ]
    );
    assert_eq!(r["kept"]["other-holder"], 1);
    assert_eq!(r["kept"]["not-a-lock"], 1);
    assert_eq!(
        r["kept"]["too-young"], 0,
        "every reason is there, as a count"
    );
    assert!(r["elapsed_us"].is_u64(), "{}", r["elapsed_us"]);
    assert!(r.get("elapsed_ms").is_none());
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["dry_run"], false);
    assert_eq!(r["state_dir"], s.to_str().unwrap());
    assert_eq!(r["state_dir_source"], "--state-dir");
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    assert!(!exists(s.join("locks/oauth-refresh/a.lock")));
}

#[test]
fn dry_run_lists_what_it_would_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/a.lock"));
    let run = sweep(s, &["--report", "json", "--dry-run"]);
    let r = report(&run);
    // It removed nothing, and its report says so.
    assert_eq!(
        (
            r["dry_run"].clone(),
            r["swept"].clone(),
            r["would_sweep"].clone()
        ),
        (json!(true), json!(0), json!(1))
    );
    assert_eq!(r["swept_paths"], json!([]));
    assert_eq!(r["removed"]["lock"], 0);
    assert_eq!(r["would_remove"]["lock"], 1);
    assert_eq!(r["would_remove_paths"][0]["path"], "locks/a.lock");
    assert!(
        run.stderr
            .contains("dry run finished: nothing was removed scanned=1 would_sweep=1"),
        "{}",
        run.stderr
    );
    assert!(exists(s.join("locks/a.lock")));
}

#[test]
fn usage_error_gives_a_report_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    for (args, vars, needle) in [
        (
            &["--min-age", "5", "--report", "json"][..],
            &[][..],
            "--min-age: invalid duration \"5\"",
        ),
        (
            &["--frobnicate"][..],
            &[("LOCK_SWEEPER_REPORT", "json")][..],
            "--frobnicate",
        ),
        (&["--report=json", "--include", "../x"][..], &[][..], "../x"),
    ] {
        let run = sweep_env(s, args, vars);
        assert_eq!(run.code, 2, "{}", run.stderr);
        let r = report(&run);
        assert_eq!(r["exit_code"], 2);
        assert!(r["error"].as_str().unwrap().contains(needle), "{r}");
        assert!(r.get("swept").is_none(), "nothing was swept: {r}");
    }
    // An error in --report itself asked for no report.
    let run = sweep(s, &["--report", "xml"]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
}

#[test]
fn a_sweep_that_cannot_start_reports_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let run = sweep(&missing, &["--report", "json", "--require-state"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = report(&run);
    assert_eq!(r["exit_code"], 1);
    assert!(
        r["error"].as_str().unwrap().contains("does not exist"),
        "{r}"
    );
    assert_eq!(r["state_dir"], missing.to_str().unwrap());
}

/// The counts and the lists agree, with each other and with the log.
#[test]
fn report_counts_match_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    for i in 0..50 {
        stale(s.join(format!("locks/{i}.lock")));
    }
    let run = sweep(s, &["--report", "json"]);
    let r = report(&run);
    assert_eq!(r["swept"], 50);
    assert_eq!(r["swept_paths"].as_array().unwrap().len(), 50);
    assert!(run.stderr.contains("swept=50"), "{}", run.stderr);
}
