//! The binary as an operator meets it: which variables it reads, how a bad
//! setting is named, what the first log line says about the state dir, and
//! what a state dir that is not OpenClaw's gives.

mod common;

use common::*;

fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn usage_errors_name_the_flag_or_variable_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 7] = [
        (
            &["--min-age", "5"],
            &[],
            "--min-age: invalid duration \"5\": missing unit",
        ),
        (
            &[],
            &[("LOCK_SWEEPER_MIN_AGE", "5")],
            "LOCK_SWEEPER_MIN_AGE: invalid duration \"5\"",
        ),
        (
            &["--holder-pid", "9"],
            &[("LOCK_SWEEPER_ANY_HOLDER", "true")],
            "LOCK_SWEEPER_ANY_HOLDER cannot be used with --holder-pid",
        ),
        (
            &[],
            &[("LOCK_SWEEPER_WATCH", "soon")],
            "LOCK_SWEEPER_WATCH: invalid duration \"soon\"",
        ),
        (
            &["--log-level", "loud"],
            &[],
            "--log-level: invalid log filter \"loud\"",
        ),
        (
            &[],
            &[("LOCK_SWEEPER_LOG_LEVEL", "loud")],
            "LOCK_SWEEPER_LOG_LEVEL: invalid log filter",
        ),
        (
            &[],
            &[("LOCK_SWEEPER_LOG_FORMAT", "pretty")],
            "LOCK_SWEEPER_LOG_FORMAT: invalid value \"pretty\"",
        ),
    ];
    for (args, vars, needle) in cases {
        let run = sweep_env(s, args, vars);
        assert_eq!(run.code, 2, "{args:?} {vars:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(needle),
            "{args:?} {vars:?}: {}",
            run.stderr
        );
        assert!(
            run.stdout.is_empty(),
            "no report was asked for: {}",
            run.stdout
        );
    }
}

/// `RUST_LOG` and `LOG_FORMAT` are set pod-wide for other programs: the
/// sweeper neither fails nor goes quiet because of them.
#[test]
fn generic_log_variables_neither_fail_nor_silence_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    for (name, value) in [
        ("RUST_LOG", "myapp=debug"),
        ("RUST_LOG", "off"),
        ("LOG_FORMAT", "pretty"),
        ("LOG_FORMAT", "json"),
    ] {
        stale(s.join("locks/oauth-refresh/a.lock"));
        let mut cmd = sweeper();
        cmd.arg("--state-dir").arg(s).env(name, value);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 0, "{name}={value}: {}", run.stderr);
        assert!(!exists(s.join("locks/oauth-refresh/a.lock")));
        assert!(
            run.stderr
                .contains("INFO removed stale lock path=\"locks/oauth-refresh/a.lock\""),
            "{name}={value}: text, at info: {}",
            run.stderr
        );
    }
}

#[test]
fn a_filter_that_would_hide_its_info_lines_is_widened_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    for (args, vars, from) in [
        (&["--log-level", "warn"][..], &[][..], "--log-level"),
        (
            &[][..],
            &[("LOCK_SWEEPER_LOG_LEVEL", "myapp=debug")][..],
            "LOCK_SWEEPER_LOG_LEVEL",
        ),
        (
            &[][..],
            &[("LOCK_SWEEPER_LOG_LEVEL", "off")][..],
            "LOCK_SWEEPER_LOG_LEVEL",
        ),
    ] {
        stale(s.join("locks/a.lock"));
        let mut cmd = sweeper();
        cmd.arg("--state-dir")
            .arg(s)
            .args(["--log-format", "json"])
            .args(args)
            .envs(vars.iter().copied());
        let run = run_cmd(cmd);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let events = json_lines(&run.stderr);
        assert_eq!(events[0]["level"], "WARN", "{}", run.stderr);
        assert!(
            events[0]["message"]
                .as_str()
                .unwrap()
                .contains("would hide")
        );
        assert_eq!(events[0]["from"], from);
        assert!(
            events
                .iter()
                .any(|e| e["level"] == "INFO" && e["message"] == "removed stale lock"),
            "{}",
            run.stderr
        );
    }
    // A filter that keeps info is taken as it is: no warning.
    let run = sweep(s, &["--log-level", "debug"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("would hide"), "{}", run.stderr);
}

/// The first line names the one source the state dir came from.
#[test]
fn first_line_names_where_the_state_dir_came_from() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let h_str = h.to_str().unwrap();
    std::fs::create_dir_all(h.join("explicit/locks")).unwrap();
    let explicit = h.join("explicit");
    let explicit = explicit.to_str().unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 5] = [
        (
            &["--state-dir", explicit],
            &[("OPENCLAW_STATE_DIR", "/elsewhere")],
            "--state-dir",
        ),
        (
            &[],
            &[("OPENCLAW_STATE_DIR", explicit), ("HOME", h_str)],
            "OPENCLAW_STATE_DIR",
        ),
        (
            &[],
            &[("OPENCLAW_HOME", h_str), ("HOME", "/nonexistent")],
            "OPENCLAW_HOME",
        ),
        (&[], &[("HOME", h_str)], "HOME"),
        (&[], &[("HOME", h_str)], "legacy .clawdbot"),
    ];
    for (i, (args, vars, from)) in cases.into_iter().enumerate() {
        if i == 4 {
            std::fs::create_dir_all(h.join(".clawdbot/locks")).unwrap();
        }
        let mut cmd = sweeper();
        cmd.args(["--log-format", "json"])
            .args(args)
            .envs(vars.iter().copied());
        let run = run_cmd(cmd);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let first = &json_lines(&run.stderr)[0];
        assert_eq!(first["message"], "sweeping", "{}", run.stderr);
        assert_eq!(first["from"], from, "{args:?} {vars:?}");
    }
}

/// A volume mounted one level off: the state dir holds `.openclaw/`, not
/// `locks/` or `agents/`.
#[test]
fn a_state_dir_without_locks_or_agents_is_a_warning_naming_the_likely_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join(".openclaw/locks/a.lock"));
    std::fs::create_dir(s.join("lost+found")).unwrap();
    let run = sweep(s, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warn = run
        .stderr
        .lines()
        .find(|l| l.contains("WARN state dir does not look like OpenClaw's"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(
        warn.contains("holds none of locks/, agents/ or openclaw.json"),
        "{warn}"
    );
    assert!(warn.contains("it holds .openclaw, lost+found"), "{warn}");
    let likely = s.join(".openclaw");
    assert!(
        warn.contains(&format!("likely {}", likely.display())),
        "{warn}"
    );
    assert!(
        exists(s.join(".openclaw/locks/a.lock")),
        "nothing outside the state dir swept"
    );

    let empty = tempfile::tempdir().unwrap();
    let run = sweep(empty.path(), &[]);
    assert_eq!(run.code, 0);
    assert!(run.stderr.contains("it is empty"), "{}", run.stderr);
    assert!(!run.stderr.contains("likely"), "{}", run.stderr);

    // An OpenClaw state dir, even one with only its config (a fresh install)
    // or only agents, gives no warning.
    for (path, is_dir) in [("openclaw.json", false), ("agents", true)] {
        let state = tempfile::tempdir().unwrap();
        let p = state.path().join(path);
        if is_dir {
            std::fs::create_dir(&p).unwrap();
        } else {
            std::fs::write(&p, "{}").unwrap();
        }
        let run = sweep(state.path(), &["--require-state"]);
        assert_eq!(run.code, 0, "{path}: {}", run.stderr);
        assert!(!run.stderr.contains("WARN"), "{path}: {}", run.stderr);
    }
}

#[test]
fn require_state_fails_a_missing_or_foreign_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let missing = s.join("missing");
    std::fs::create_dir(s.join("workspace")).unwrap();
    for (state, why) in [
        (missing.as_path(), "does not exist"),
        (s, "holds none of locks/, agents/ or openclaw.json"),
    ] {
        let run = sweep(state, &[]);
        assert_eq!(run.code, 0, "the default is a warning: {}", run.stderr);
        assert!(run.stderr.contains("WARN"), "{}", run.stderr);
        for (args, vars) in [
            (&["--require-state"][..], &[][..]),
            (&[][..], &[("LOCK_SWEEPER_REQUIRE_STATE", "true")][..]),
            (&["--require-state", "--best-effort"][..], &[][..]),
        ] {
            let run = sweep_env(state, args, vars);
            assert_eq!(run.code, 1, "{args:?} {vars:?}: {}", run.stderr);
            let error = run
                .stderr
                .lines()
                .find(|l| l.contains("ERROR"))
                .unwrap_or_else(|| panic!("{}", run.stderr));
            assert!(
                error.contains(why) && error.contains("--require-state"),
                "{error}"
            );
        }
    }
    std::fs::create_dir(s.join("locks")).unwrap();
    assert_eq!(sweep(s, &["--require-state"]).code, 0);
}

/// In watch mode the warning comes once, on the first pass.
#[test]
fn watch_warns_about_a_foreign_state_dir_once() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = sweeper();
    cmd.arg("--state-dir")
        .arg(dir.path())
        .args(["--watch", "100ms"])
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", out.status.signal());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.matches("watch pass").count() == 0 || log.contains("passes="),
        "{log}"
    );
    assert_eq!(
        log.matches("does not look like OpenClaw's").count(),
        1,
        "{log}"
    );
    let passes: u64 = log
        .split("passes=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{log}"));
    assert!(passes >= 2, "more than one pass ran: {log}");
}

/// A lock the sweeper may not remove: the error says who it runs as and
/// what to set.
#[test]
fn permission_errors_say_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    let locked = s.join("locks/oauth-refresh");
    let mut perms = std::fs::metadata(&locked).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&locked, perms).unwrap();
    // As root the sweeper runs as nobody, who may read but not write.
    give_to_nobody(s, &[]);
    let run = sweep_unprivileged(s, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let error = run
        .stderr
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    let uid = if is_root() {
        65534
    } else {
        rustix::process::getuid().as_raw()
    };
    assert!(error.contains("Permission denied"), "{error}");
    assert!(error.contains(&format!("runs as uid {uid} ")), "{error}");
    assert!(
        error.contains("runAsUser/runAsGroup 1000") && error.contains("fsGroup"),
        "{error}"
    );
}

#[test]
fn a_log_reader_gone_away_neither_kills_nor_stops_the_sweep() {
    // Its stderr (the log) is a socket whose other end is closed: each write
    // fails with EPIPE, and SIGPIPE, ignored, does not kill it.
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixStream;
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    let closed = || {
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(ours);
        OwnedFd::from(theirs)
    };
    let status = sweeper()
        .arg("--state-dir")
        .arg(s)
        .stderr(closed())
        .status()
        .unwrap();
    assert!(!exists(s.join("locks/oauth-refresh/a.lock")));
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// An explicitly empty `--state-dir` is a mistake (an unset variable in a
/// pod spec's args, say), not a request for `$HOME/.openclaw`: it is refused
/// before anything is swept. An empty `OPENCLAW_STATE_DIR` stays unset.
#[test]
fn an_empty_state_dir_flag_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    stale(h.join(".openclaw/locks/oauth-refresh/a.lock"));
    let h_str = h.to_str().unwrap();
    for args in [
        &["--state-dir", ""][..],
        &["--state-dir="],
        &["--state-dir", " "],
    ] {
        let mut cmd = sweeper();
        cmd.args(args).env("HOME", h_str);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("--state-dir"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(exists(h.join(".openclaw/locks/oauth-refresh/a.lock")));
    }
    let mut cmd = sweeper();
    cmd.env("HOME", h_str).env("OPENCLAW_STATE_DIR", "");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("from=\"HOME\""), "{}", run.stderr);
}

/// A file name is escaped once in a text line, as the README shows: a
/// newline is `\n`, a backslash `\\` (so the two stay apart).
#[test]
fn a_text_line_escapes_a_file_name_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/evil\nx.lock"));
    stale(s.join("locks/oauth-refresh/back\\slash.lock"));
    let run = sweep(s, &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(r#"path="locks/oauth-refresh/evil\nx.lock""#),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(r#"path="locks/oauth-refresh/back\\slash.lock""#),
        "{}",
        run.stderr
    );
}
