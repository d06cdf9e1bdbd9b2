//! The sub-reason of a failed refresh from the gateway's own log (issue 25),
//! on log files in the shape OpenClaw 2026.9.6's file logger writes (one JSON
//! line per record: `message`, `time` with the local offset, `_meta.date` in
//! UTC): where a log is reachable, a profile's report and log line carry the
//! reason OpenClaw logged for its last failure; a log is read only as OpenClaw
//! would write it (its configured file, its private temp dirs), never through
//! a symlink, only its tail; nothing about a log fails the sweep.
//! `tests/openclaw/profiles.test.mjs` proves the same with OpenClaw's own
//! logger and classifier.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{Value, json};

const DEAD: &str = "openai-codex:dead@example.com";
const COOL: &str = "anthropic:ok@example.com";
/// `lastFailureAt` of the fixtures: 2026-12-06T04:38:15.834Z.
const AT: i64 = 1_796_531_895_834;
/// Its log file's name (OpenClaw's rolling name for that day).
const DAY_LOG: &str = "openclaw-2026-12-06.log";

/// `<t>/s`, a state dir whose agent `main` recorded a dead token and a
/// cooldown (the failure state `markAuthProfileFailure` leaves, in an older
/// install's `auth-state.json`), and `<t>/tmp`, the sweep's own TMPDIR (so
/// the machine's `$TMPDIR/openclaw-<uid>` is not read).
fn state_dir(t: &Path) -> PathBuf {
    let s = t.join("s");
    fs::create_dir_all(t.join("tmp")).unwrap();
    let state = json!({"version": 1, "usageStats": {
        DEAD: {"disabledUntil": AT + 600_000, "disabledReason": "auth_permanent", "errorCount": 1,
            "failureCounts": {"auth_permanent": 1}, "lastFailureAt": AT},
        COOL: {"cooldownUntil": AT + 30_000, "cooldownReason": "auth", "errorCount": 1,
            "failureCounts": {"auth": 1}, "lastFailureAt": AT + 209},
    }});
    write(
        s.join("agents/main/agent/auth-state.json"),
        state.to_string().as_bytes(),
    );
    s
}

/// One record as OpenClaw's file logger writes it, `ms` after `AT`.
fn record(ms: i64, message: &str) -> String {
    let date = iso(AT + ms);
    json!({"0": "{\"subsystem\":\"agent/embedded\"}", "1": message,
        "_meta": {"runtime": "node", "date": date, "logLevelName": "WARN",
            "name": "{\"subsystem\":\"agent/embedded\"}", "parentNames": ["openclaw"]},
        "time": date.replace('Z', "+00:00"), "hostname": "pod-a", "message": message})
    .to_string()
}

fn iso(ms: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{}", ms / 1000), "+%Y-%m-%dT%H:%M:%S"])
        .output()
        .unwrap();
    format!(
        "{}.{:03}Z",
        String::from_utf8(out.stdout).unwrap().trim(),
        ms % 1000
    )
}

/// OpenClaw's line for a failed refresh (embedded-agent's
/// `recordOAuthRefreshFailure`).
fn failed(id: &str, provider: &str, error: &str) -> String {
    format!("auth profile \"{id}\" failed for provider \"{provider}\": {error}")
}

const REUSED: &str = "OAuth token refresh failed for openai-codex: OpenAI Codex token refresh \
     failed (HTTP 401; code=refresh_token_reused; type=invalid_request_error).";
const CONTENDED: &str = "OAuth token refresh failed for anthropic: OAuth refresh failed \
     (refresh_contention): another process is already refreshing anthropic for \
     anthropic:ok@example.com. Please wait for the in-flight refresh to finish and retry.";

/// The day's log: noise, an older failure of the dead profile (another
/// reason, an hour before: not its last), both last failures, a torn line.
fn day_log() -> String {
    [
        record(-3_600_000, &failed(DEAD, "openai-codex", "invalid_grant")),
        record(-20, "[gateway] listening on ws://0.0.0.0:18789"),
        record(-4, &failed(DEAD, "openai-codex", REUSED)),
        record(200, &failed(COOL, "anthropic", CONTENDED)),
        "{\"message\": \"auth profile \\\"".to_owned(),
    ]
    .join("\n")
}

fn config(s: &Path, logging_file: &Path) {
    write(
        s.join("openclaw.json"),
        json!({"logging": {"file": logging_file}})
            .to_string()
            .as_bytes(),
    );
}

/// The report and the log events of a sweep with its own TMPDIR and these
/// variables.
fn json_sweep(s: &Path, vars: &[(&str, &str)]) -> (Value, Vec<Value>) {
    let tmp = s.parent().unwrap().join("tmp");
    let mut all = vec![("TMPDIR", tmp.to_str().unwrap())];
    all.extend_from_slice(vars);
    let run = sweep_env(s, &["--report", "json", "--log-format", "json"], &all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let events = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (serde_json::from_str(&run.stdout).unwrap(), events)
}

/// Each listed profile's (id, logged_reason).
fn logged(report: &Value) -> Vec<(String, Value)> {
    report["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["logged_reason"].clone(),
            )
        })
        .collect()
}

fn pairs(dead: Value, cool: Value) -> Vec<(String, Value)> {
    vec![(COOL.to_owned(), cool), (DEAD.to_owned(), dead)]
}

#[test]
fn the_configured_logs_last_failure_of_each_profile_gives_its_sub_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (s, logs) = (state_dir(dir.path()), dir.path().join("logs"));
    // A rolling name: OpenClaw writes that day's file of the family, and the
    // file of a day before is read too.
    config(&s, &logs.join("openclaw-2026-01-01.log"));
    write(logs.join(DAY_LOG), day_log().as_bytes());
    write(
        logs.join("openclaw-2026-12-05.log"),
        record(-86_400_000, &failed(COOL, "anthropic", "invalid_grant")).as_bytes(),
    );

    let (report, events) = json_sweep(&s, &[]);
    assert_eq!(
        logged(&report),
        pairs(json!("refresh_token_reused"), json!("refresh_contention"))
    );
    let dead = &report["profiles"][1];
    assert_eq!(dead["logged_in"], logs.join(DAY_LOG).to_str().unwrap());
    let warn = events
        .iter()
        .find(|e| e["level"] == "WARN" && e["profile"] == DEAD)
        .unwrap();
    assert_eq!(
        (&warn["logged"], &warn["reason"]),
        (&json!("refresh_token_reused"), &json!("auth_permanent"))
    );
    assert!(
        warn["hint"]
            .as_str()
            .unwrap()
            .contains("openclaw models auth login")
    );
}

#[test]
fn openclaw_config_path_names_the_config_as_it_does_for_openclaw() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let s = state_dir(t);
    write(t.join("gateway.log"), day_log().as_bytes());
    // The state dir's own config names a log without the lines: not read
    // while OPENCLAW_CONFIG_PATH names another config.
    write(t.join("empty.log"), b"");
    config(&s, &t.join("empty.log"));
    let elsewhere = t.join("etc/openclaw.json");
    write(
        &elsewhere,
        json!({"logging": {"file": t.join("gateway.log")}})
            .to_string()
            .as_bytes(),
    );
    let (report, _) = json_sweep(&s, &[("OPENCLAW_CONFIG_PATH", elsewhere.to_str().unwrap())]);
    assert_eq!(
        logged(&report),
        pairs(json!("refresh_token_reused"), json!("refresh_contention"))
    );
}

#[test]
fn without_a_reachable_log_the_state_alone_decides() {
    let dir = tempfile::tempdir().unwrap();
    let s = state_dir(dir.path());
    let (report, events) = json_sweep(&s, &[]);
    assert_eq!(logged(&report), pairs(Value::Null, Value::Null));
    assert_eq!(report["profiles"][1]["state"], "permanent");
    assert!(
        events.iter().all(|e| e.get("logged").is_none()),
        "{events:?}"
    );
}

#[test]
fn a_line_of_another_failure_time_or_another_profile_is_not_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (s, log) = (state_dir(dir.path()), dir.path().join("gateway.log"));
    config(&s, &log);
    let lines = [
        // 61 s after the last failure: another failure's line.
        record(61_004, &failed(DEAD, "openai-codex", REUSED)),
        // The right time, another profile (a prefix of the id).
        record(209, &failed("anthropic:ok", "anthropic", CONTENDED)),
        // The right time, a text OpenClaw gives no reason.
        record(209, &failed(COOL, "anthropic", "HTTP 500 upstream")),
    ];
    write(&log, lines.join("\n").as_bytes());
    let (report, _) = json_sweep(&s, &[]);
    assert_eq!(logged(&report), pairs(Value::Null, Value::Null));

    // The same file with the line of the failure itself: found.
    let mut lines = lines.to_vec();
    lines.push(record(-3, &failed(DEAD, "openai-codex", REUSED)));
    write(&log, lines.join("\n").as_bytes());
    let (report, _) = json_sweep(&s, &[]);
    assert_eq!(
        logged(&report),
        pairs(json!("refresh_token_reused"), Value::Null)
    );
}

#[test]
fn a_log_is_never_read_through_a_symlink_a_fifo_or_past_its_last_mib() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let s = state_dir(t);
    write(t.join("real.log"), day_log().as_bytes());

    std::os::unix::fs::symlink(t.join("real.log"), t.join("link.log")).unwrap();
    config(&s, &t.join("link.log"));
    let (report, _) = json_sweep(&s, &[]);
    assert_eq!(
        logged(&report),
        pairs(Value::Null, Value::Null),
        "a symlink"
    );

    // A FIFO with no writer would block an open without O_NONBLOCK.
    let status = Command::new("mkfifo")
        .arg(t.join("fifo.log"))
        .status()
        .unwrap();
    assert!(status.success());
    config(&s, &t.join("fifo.log"));
    let (report, _) = json_sweep(&s, &[]);
    assert_eq!(logged(&report), pairs(Value::Null, Value::Null), "a FIFO");

    // The lines, then 1 MiB of other records: past the tail that is read.
    let filler = record(0, &"x".repeat(1000));
    let mut big = day_log();
    while big.len() < (1 << 20) + 4096 {
        big.push('\n');
        big.push_str(&filler);
    }
    write(t.join("big.log"), big.as_bytes());
    config(&s, &t.join("big.log"));
    let (report, _) = json_sweep(&s, &[]);
    assert_eq!(
        logged(&report),
        pairs(Value::Null, Value::Null),
        "past the tail"
    );
    // The same lines at the end of the big file: within it.
    big.push('\n');
    big.push_str(&day_log());
    write(t.join("big.log"), big.as_bytes());
    let (report, _) = json_sweep(&s, &[]);
    assert_eq!(
        logged(&report),
        pairs(json!("refresh_token_reused"), json!("refresh_contention")),
        "the tail"
    );
}

#[test]
fn a_config_only_json5_can_read_is_not_followed_and_the_sweep_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let s = state_dir(t);
    write(t.join("gateway.log"), day_log().as_bytes());
    let json5 = format!(
        "// OpenClaw reads JSON5\n{{ logging: {{ file: '{}' }} }}\n",
        t.join("gateway.log").display()
    );
    write(s.join("openclaw.json"), json5.as_bytes());
    let (report, _) = json_sweep(&s, &[]);
    assert_eq!(logged(&report), pairs(Value::Null, Value::Null));
    assert_eq!(report["exit_code"], 0);
}

#[test]
fn openclaws_fallback_temp_dir_is_read_only_while_private() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let s = state_dir(t);
    let uid = rustix::process::getuid().as_raw();
    let logs = t.join("tmp").join(format!("openclaw-{uid}"));
    write(logs.join(DAY_LOG), day_log().as_bytes());
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o700)).unwrap();
    let (report, _) = json_sweep(&s, &[]);
    assert_eq!(
        logged(&report),
        pairs(json!("refresh_token_reused"), json!("refresh_contention"))
    );
    // Writable by others: OpenClaw would not use it, and anyone could have
    // written its lines.
    fs::set_permissions(&logs, fs::Permissions::from_mode(0o777)).unwrap();
    let (report, _) = json_sweep(&s, &[]);
    assert_eq!(logged(&report), pairs(Value::Null, Value::Null));
}

/// OpenClaw's default, `/tmp/openclaw`, on a tmpfs over `/tmp` in a mount
/// namespace of the test's own (the machine's `/tmp` is never touched). The
/// tmpfs hides the test's dir (and the binary, when the checkout is under
/// `/tmp`): both are copied in through a descriptor opened before it.
#[test]
fn openclaws_default_log_dir_in_tmp_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    state_dir(t);
    write(t.join(DAY_LOG), day_log().as_bytes());
    fs::copy(BIN, t.join("sweeper")).unwrap();
    let script = r#"
        exec 3<"$T"
        mount -t tmpfs -o mode=1777 tmpfs /tmp
        mkdir /tmp/stage && cp -a /proc/self/fd/3/. /tmp/stage/
        mkdir -m 700 /tmp/openclaw
        mv /tmp/stage/openclaw-2026-12-06.log /tmp/openclaw/
        exec /tmp/stage/sweeper --state-dir /tmp/stage/s --report json --log-format json
    "#;
    let mut cmd = Command::new("unshare");
    cmd.arg(if is_root() { "-m" } else { "-rm" })
        .args(["--propagation", "private", "sh", "-ec", script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("SWEEPER", BIN)
        .env("T", t);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        logged(&report),
        pairs(json!("refresh_token_reused"), json!("refresh_contention"))
    );
    assert_eq!(
        report["profiles"][1]["logged_in"],
        "/tmp/openclaw/openclaw-2026-12-06.log"
    );
}

/// `logging.file` is reached from `/` without following a symlink anywhere on
/// its path (its dir, or a dir above), and read only when it is a regular
/// file of the state dir's owner: a root sweeper must not read what any
/// writer of the config names. The file as OpenClaw writes it is read.
#[test]
fn the_configured_log_is_read_only_without_a_symlink_and_of_the_state_dirs_owner() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let s = state_dir(t);
    write(t.join("real/logs/gateway.log"), day_log().as_bytes());
    let found = pairs(json!("refresh_token_reused"), json!("refresh_contention"));

    config(&s, &t.join("real/logs/gateway.log"));
    assert_eq!(logged(&json_sweep(&s, &[]).0), found, "the normal case");

    symlink(t.join("real/logs"), t.join("linked-dir")).unwrap();
    symlink(t.join("real"), t.join("linked-parent")).unwrap();
    for through in ["linked-parent/logs/gateway.log", "linked-dir/gateway.log"] {
        config(&s, &t.join(through));
        let (report, events) = json_sweep(&s, &[("LOCK_SWEEPER_LOG_LEVEL", "debug")]);
        assert_eq!(
            logged(&report),
            pairs(Value::Null, Value::Null),
            "{through}"
        );
        assert!(
            events.iter().any(
                |e| e["level"] == "DEBUG" && e["message"].as_str().unwrap().contains("symlink")
            ),
            "{through}: a DEBUG line says why: {events:#?}"
        );
    }

    if is_root() {
        config(&s, &t.join("real/logs/gateway.log"));
        std::os::unix::fs::chown(t.join("real/logs/gateway.log"), Some(12345), None).unwrap();
        let (report, events) = json_sweep(&s, &[("LOCK_SWEEPER_LOG_LEVEL", "debug")]);
        assert_eq!(
            logged(&report),
            pairs(Value::Null, Value::Null),
            "another owner"
        );
        assert!(
            events
                .iter()
                .any(|e| e["level"] == "DEBUG" && e["message"].as_str().unwrap().contains("owner")),
            "a DEBUG line says why: {events:#?}"
        );
    }
}
