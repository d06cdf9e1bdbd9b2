//! The operator's path (issue 24): a misspelt variable is an error, not a
//! silent no-op; --best-effort starts the gateway whatever the sweep met; a
//! failed wrapper says that it did not start the command; one rule for
//! every enumerated value; the JSON report names each path that failed.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use common::*;
use serde_json::Value;

#[test]
fn a_misspelt_variable_is_a_usage_error_naming_the_real_one_and_nothing_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    for (typo, real) in [
        ("LOCK_SWEEPER_DRYRUN", "LOCK_SWEEPER_DRY_RUN"),
        ("LOCK_SWEEPER_MINAGE", "LOCK_SWEEPER_MIN_AGE"),
        ("LOCK_SWEEPER_BEST_EFFROT", "LOCK_SWEEPER_BEST_EFFORT"),
        ("LOCK_SWEEPER_HOLDER_PIDS", "LOCK_SWEEPER_HOLDER_PID"),
    ] {
        let run = sweep_env(s, &[], &[(typo, "1")]);
        assert_eq!(run.code, 2, "{typo}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("unknown variable {typo}: did you mean {real}?")),
            "{}",
            run.stderr
        );
        assert!(
            exists(s.join("locks/oauth-refresh/a.lock")),
            "{typo}: removed"
        );
    }
    // In wrapper mode, the command is not started, and the message says so.
    let mut cmd = sweeper();
    cmd.env("LOCK_SWEEPER_DRYRUN", "1")
        .arg("--state-dir")
        .arg(s)
        .args(["--", "echo", "STARTED"]);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 2);
    assert!(!run.stdout.contains("STARTED"));
    assert!(
        run.stderr
            .contains("the command was not started: echo STARTED"),
        "{}",
        run.stderr
    );
    // The real names, and other programs' variables, are fine.
    let run = sweep_env(
        s,
        &[],
        &[
            ("LOCK_SWEEPER_DRY_RUN", "1"),
            ("LOCK_SWEEPERS", "x"),
            ("RUST_LOG", "off"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn best_effort_starts_the_command_even_when_the_state_dir_cannot_be_opened() {
    if !is_root() {
        eprintln!("skipped: needs root to run the sweeper as another uid");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o700)).unwrap();
    let run_as_nobody = |flags: &[&str]| {
        let mut cmd = sweeper();
        cmd.arg("--state-dir")
            .arg(&state)
            .args(flags)
            .args(["--", "echo", "STARTED"])
            .uid(65534)
            .gid(65534);
        run_cmd(cmd)
    };
    let run = run_as_nobody(&[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stdout.contains("STARTED"));
    let last = run.stderr.lines().last().unwrap();
    assert!(
        last.contains("ERROR")
            && last.contains("the command was not started")
            && last.contains("command=echo STARTED")
            && last.contains("--best-effort"),
        "{last}"
    );
    let run = run_as_nobody(&["--best-effort"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "STARTED\n", "{}", run.stderr);
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
}

#[test]
fn every_enumerated_value_follows_one_rule() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    fs::create_dir(s.join("locks")).unwrap();
    for (var, value) in [
        ("LOCK_SWEEPER_REPORT", "JSON"),
        ("LOCK_SWEEPER_LIVENESS", "Kernel"),
        ("LOCK_SWEEPER_LOG_FORMAT", "TEXT"),
        ("LOCK_SWEEPER_DRY_RUN", "TRUE"),
        ("LOCK_SWEEPER_DRY_RUN", "Yes"),
    ] {
        let run = sweep_env(s, &[], &[(var, value)]);
        assert_eq!(run.code, 0, "{var}={value}: {}", run.stderr);
    }
    let run = sweep_env(s, &[], &[("LOCK_SWEEPER_REPORT", "JSON")]);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["exit_code"], 0);
    let run = sweep_env(s, &[], &[("LOCK_SWEEPER_DRY_RUN", "maybe")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("expected true or false (also yes/no, on/off, 1/0"),
        "{}",
        run.stderr
    );
    let run = sweep_env(s, &["--report", "XML"], &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("expected none or json, in any case"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_json_report_names_each_path_that_failed_with_its_error() {
    if !is_root() {
        eprintln!("skipped: needs root to run the sweeper as another uid");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    stale(s.join("locks/oauth-refresh/b.lock"));
    // Readable, but its directory is not the sweeper's to change.
    give_to_nobody(s, &["", "locks"]);
    let run = sweep_unprivileged(s, &["--report", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["errors"], 2);
    let failed = report["error_paths"].as_array().unwrap();
    let mut paths: Vec<&str> = failed.iter().map(|f| f["path"].as_str().unwrap()).collect();
    paths.sort();
    assert_eq!(
        paths,
        ["locks/oauth-refresh/a.lock", "locks/oauth-refresh/b.lock"]
    );
    for f in failed {
        let error = f["error"].as_str().unwrap();
        assert!(
            error.contains("Permission denied") && error.contains(f["path"].as_str().unwrap()),
            "{error}"
        );
    }
}

#[test]
fn a_stdout_that_cannot_be_written_is_exit_1_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    for args in [
        &["--report", "json"][..],
        &["--help"][..],
        &["--version"][..],
        &["--bogus", "--report", "json"][..],
    ] {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let mut cmd = sweeper();
        cmd.arg("--state-dir").arg(s).args(args).stdout(full);
        let run = run_cmd(cmd);
        let expected = if args[0] == "--bogus" { 2 } else { 1 };
        assert_eq!(run.code, expected, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("cannot write to stdout"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert!(
        !exists(s.join("locks/oauth-refresh/a.lock")),
        "the sweep itself ran"
    );
}

// === Messages that name the right fix (issue 35) ===

#[test]
fn the_state_dir_variable_points_to_openclaws_own() {
    let dir = tempfile::tempdir().unwrap();
    let run = sweep_env(dir.path(), &[], &[("LOCK_SWEEPER_STATE_DIR", "/x")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("OPENCLAW_STATE_DIR") && run.stderr.contains("--state-dir"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("did you mean"), "{}", run.stderr);
}

#[test]
fn a_bare_double_dash_names_no_command_that_was_not_started() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = sweeper();
    cmd.arg("--state-dir").arg(dir.path()).arg("--");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("followed by the command"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not started: ;"), "{}", run.stderr);
}

#[test]
fn help_fits_80_columns() {
    let mut cmd = sweeper();
    cmd.arg("--help");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0);
    for line in run.stdout.lines() {
        assert!(line.chars().count() <= 80, "{} columns: {line}", line.len());
    }
}

#[test]
fn a_read_only_directory_of_the_sweepers_own_is_named_with_its_mode() {
    if !is_root() {
        eprintln!("skipped: needs root to run the sweeper as the files' owner");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    give_to_nobody(
        s,
        &[
            "",
            "locks",
            "locks/oauth-refresh",
            "locks/oauth-refresh/a.lock",
        ],
    );
    fs::set_permissions(
        s.join("locks/oauth-refresh"),
        fs::Permissions::from_mode(0o555),
    )
    .unwrap();
    let run = sweep_unprivileged(s, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("its directory is mode 0555") && run.stderr.contains("chmod u+w"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("run it as the files' owner"),
        "{}",
        run.stderr
    );
    assert!(exists(s.join("locks/oauth-refresh/a.lock")));
}
