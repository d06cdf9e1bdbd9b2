//! The auth profiles' failure state (issue 25) on real databases made with
//! SQLite here, in WAL mode, with the tables and rows OpenClaw 2026.9.6
//! writes: a dead refresh token is a WARN with its re-login command, a
//! cooldown an INFO that needs no re-login, a reset entry nothing; rows only
//! in the `-wal` are seen; no token ever leaves the database; reading leaves
//! the database as it was. `tests/openclaw/profiles.test.mjs` proves the same
//! with OpenClaw's own code.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::thread::sleep;
use std::time::Duration;

use common::*;
use rusqlite::Connection;
use serde_json::{Value, json};

const STATE_DB: &str = "state/openclaw.sqlite";
const SENTINEL: &str = "SENTINEL-TOKEN-never-printed";
const DEAD: &str = "openai-codex:dead@example.com";
const COOL: &str = "anthropic:ok@example.com";
/// `lastFailureAt` of the fixtures: 2026-12-06T04:38:15.834Z.
const AT: i64 = 1_796_531_895_834;

fn create(path: &Path, sql: &str) -> Connection {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let db = Connection::open(path).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.execute_batch(sql).unwrap();
    db
}

/// `state/openclaw.sqlite`'s key-value table, as OpenClaw creates it.
fn state_db(s: &Path) -> Connection {
    create(
        &s.join(STATE_DB),
        "CREATE TABLE config_machine_state (state_key TEXT NOT NULL PRIMARY KEY, \
         value_json TEXT NOT NULL, updated_at_ms INTEGER NOT NULL) STRICT",
    )
}

/// An agent's database with its two auth tables, as OpenClaw creates them.
fn agent_db(s: &Path, agent: &str) -> Connection {
    create(
        &s.join(format!("agents/{agent}/agent/openclaw-agent.sqlite")),
        "CREATE TABLE auth_profile_store (store_key TEXT NOT NULL PRIMARY KEY, \
         store_json TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT; \
         CREATE TABLE auth_profile_state (state_key TEXT NOT NULL PRIMARY KEY, \
         state_json TEXT NOT NULL, updated_at INTEGER NOT NULL) STRICT",
    )
}

/// A store with sentinel tokens for each profile id (provider as given).
fn store(profiles: &[(&str, &str)]) -> String {
    let profiles: serde_json::Map<String, Value> = profiles
        .iter()
        .map(|(id, provider)| {
            let credential = json!({"type": "oauth", "provider": provider,
                "access": format!("{SENTINEL}-access"), "refresh": format!("{SENTINEL}-refresh"),
                "expires": AT + 3_600_000});
            ((*id).to_owned(), credential)
        })
        .collect();
    json!({"version": 1, "profiles": profiles}).to_string()
}

/// The failure state OpenClaw's `markAuthProfileFailure` leaves (2026.9.6).
fn state() -> String {
    json!({"version": 1, "usageStats": {
        DEAD: {"disabledUntil": AT + 600_000, "disabledReason": "auth_permanent", "errorCount": 1,
            "failureCounts": {"auth_permanent": 1}, "lastFailureAt": AT},
        COOL: {"cooldownUntil": AT + 30_000, "cooldownReason": "auth", "errorCount": 1,
            "failureCounts": {"auth": 1}, "lastFailureAt": AT + 209},
        "openai-codex:wham@example.com": {"cooldownUntil": AT + 30_000, "cooldownReason": "auth_permanent",
            "cooldownClassification": "wham_account_dead", "errorCount": 1, "lastFailureAt": AT},
        "openai:slow@example.com": {"cooldownUntil": AT + 30_000, "cooldownReason": "timeout",
            "errorCount": 1, "lastFailureAt": AT},
        "openai:busy@example.com": {"cooldownUntil": AT + 30_000, "cooldownReason": "rate_limit",
            "errorCount": 1, "lastFailureAt": AT},
        "openai:fine@example.com": {"errorCount": 0, "lastUsed": AT},
    }})
    .to_string()
}

fn kv(key: &str, value: &str) -> String {
    format!(
        "INSERT INTO config_machine_state VALUES ('{key}', '{}', 1)",
        value.replace('\'', "''")
    )
}

fn agent_rows(store_json: &str, state_json: &str) -> String {
    format!(
        "INSERT INTO auth_profile_store VALUES ('primary', '{store_json}', 1); \
         INSERT INTO auth_profile_state VALUES ('primary', '{state_json}', 1)"
    )
}

/// Runs `sql` in another process that then dies as a SIGKILLed gateway
/// would: the rows only in the `-wal`, `-wal` and `-shm` left behind.
fn insert_and_die(db: Connection, path: &Path, sql: &str) {
    drop(db);
    let script = "import sqlite3, os, sys\n\
        db = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
        db.executescript(sys.argv[2])\n\
        os._exit(0)\n";
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .arg(sql)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(exists(format!("{}-wal", path.display())));
}

/// The database, its `-wal` (bytes, mtime) and whether a `-shm` is there.
fn snapshot(db: &Path) -> Vec<(String, Vec<u8>, i64, i64)> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| format!("{}{suffix}", db.display()))
        .filter(|p| exists(p))
        .map(|p| {
            let m = fs::metadata(&p).unwrap();
            if p.ends_with("-shm") {
                return (p, Vec::new(), 0, m.size() as i64);
            }
            (p.clone(), fs::read(&p).unwrap(), m.mtime(), m.mtime_nsec())
        })
        .collect()
}

fn json_sweep(s: &Path, args: &[&str]) -> (Value, Vec<Value>, Run) {
    let mut all = vec!["--report", "json", "--log-format", "json"];
    all.extend_from_slice(args);
    let run = sweep(s, &all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?} {}", run.stdout, run.stderr));
    let events = run
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (report, events, run)
}

/// (id, state, reason) of each profile the report lists.
fn listed(report: &Value) -> Vec<(String, String, String)> {
    report["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_owned();
            (s("id"), s("state"), s("reason"))
        })
        .collect()
}

fn entry(id: &str, state: &str, reason: &str) -> (String, String, String) {
    (id.into(), state.into(), reason.into())
}

fn event<'a>(events: &'a [Value], level: &str, profile: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["level"] == level && e["profile"] == profile)
        .unwrap_or_else(|| panic!("no {level} for {profile}: {events:?}"))
}

#[test]
fn the_shared_store_in_the_state_database_tells_a_dead_token_from_a_cooldown() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let db = state_db(s);
    db.execute_batch(&kv("auth.sharedStore", r#"{"location":"state-db"}"#))
        .unwrap();
    // Committed by a gateway that was then killed: only in the -wal.
    let rows = [
        kv("authProfiles.store", &store(&[(DEAD, "openai-codex")])),
        kv("authProfiles.state", &state()),
    ]
    .join(";");
    insert_and_die(db, &s.join(STATE_DB), &rows);
    let before = snapshot(&s.join(STATE_DB));

    let (report, events, run) = json_sweep(s, &[]);
    assert_eq!(
        listed(&report),
        [
            entry(COOL, "transient", "auth"),
            entry(DEAD, "permanent", "auth_permanent"),
            entry(
                "openai-codex:wham@example.com",
                "permanent",
                "wham_account_dead"
            ),
            entry("openai:slow@example.com", "transient", "timeout"),
        ],
        "a rate limit and a reset entry are no auth failure"
    );
    let dead = &report["profiles"][1];
    let command = "openclaw models auth login --provider openai-codex --profile-id 'openai-codex:dead@example.com'";
    assert_eq!(
        (&dead["provider"], &dead["at"], &dead["source"]),
        (&json!("openai-codex"), &json!(AT), &json!(STATE_DB))
    );
    assert_eq!(
        dead["hint"],
        format!("run `{command}`; the sweep cannot fix this")
    );
    let warn = event(&events, "WARN", DEAD);
    assert_eq!(warn["failed_at"], "2026-12-06T04:38:15Z");
    assert!(
        warn["message"]
            .as_str()
            .unwrap()
            .contains("no sweep can fix that"),
        "{warn}"
    );
    assert!(warn["hint"].as_str().unwrap().contains(command), "{warn}");
    let info = event(&events, "INFO", COOL);
    assert!(
        info["message"]
            .as_str()
            .unwrap()
            .contains("no re-login needed"),
        "{info}"
    );
    assert_eq!(
        report["profiles"][0]["hint"],
        "no re-login needed: the cooldown ends by itself"
    );
    assert!(
        events
            .iter()
            .all(|e| e["profile"] != "openai:busy@example.com" || e["level"] == "DEBUG"),
        "{events:?}"
    );
    for out in [&run.stdout, &run.stderr] {
        assert!(!out.contains(SENTINEL), "a token was printed: {out}");
    }
    assert_eq!(
        snapshot(&s.join(STATE_DB)),
        before,
        "reading changes no byte"
    );
}

#[test]
fn the_state_rows_are_read_only_where_openclaw_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    // No auth.sharedStore row: the shared store is agent main's database,
    // and this state row is none of OpenClaw's.
    let db = state_db(s);
    db.execute_batch(&kv("authProfiles.state", &state()))
        .unwrap();
    drop(db);
    let (report, _, _) = json_sweep(s, &[]);
    assert_eq!(listed(&report), []);

    let main = agent_db(s, "main");
    main.execute_batch(&agent_rows(&store(&[(DEAD, "openai-codex")]), &state()))
        .unwrap();
    drop(main);
    let (report, _, run) = json_sweep(s, &[]);
    assert_eq!(listed(&report).len(), 4, "{}", run.stderr);
    assert_eq!(
        report["profiles"][1]["source"],
        "agents/main/agent/openclaw-agent.sqlite"
    );
}

#[test]
fn another_agents_profile_names_its_agent_and_its_provider_comes_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let ops = agent_db(s, "ops");
    // An id that names no provider: the store's provider field does.
    let state_json = json!({"usageStats": {"work": {"disabledReason": "auth_permanent",
        "disabledUntil": AT, "lastFailureAt": AT}}})
    .to_string();
    ops.execute_batch(&agent_rows(
        &store(&[("work", "github-copilot")]),
        &state_json,
    ))
    .unwrap();
    drop(ops);
    let db = s.join("agents/ops/agent/openclaw-agent.sqlite");
    assert!(!exists(format!("{}-wal", db.display())));
    let before = snapshot(&db);
    let (report, _, run) = json_sweep(s, &[]);
    let work = &report["profiles"][0];
    assert_eq!(work["provider"], "github-copilot", "{}", run.stderr);
    assert_eq!(
        work["hint"],
        "run `openclaw models auth login --provider github-copilot --profile-id 'work' --agent 'ops'`; \
         the sweep cannot fix this"
    );
    assert!(!run.stdout.contains(SENTINEL) && !run.stderr.contains(SENTINEL));
    assert_eq!(snapshot(&db), before, "no -wal nor -shm created");
}

#[test]
fn an_older_installs_auth_state_json_is_read_but_never_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(
        s.join("agents/main/agent/auth-state.json"),
        state().as_bytes(),
    );
    let (report, _, _) = json_sweep(s, &[]);
    assert_eq!(listed(&report).len(), 4);
    assert_eq!(
        report["profiles"][0]["source"],
        "agents/main/agent/auth-state.json"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    write(elsewhere.path().join("auth-state.json"), state().as_bytes());
    fs::create_dir_all(s.join("agents/ops/agent")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("auth-state.json"),
        s.join("agents/ops/agent/auth-state.json"),
    )
    .unwrap();
    let (report, _, _) = json_sweep(s, &[]);
    assert!(
        listed(&report).len() == 4
            && report["profiles"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["source"] == "agents/main/agent/auth-state.json"),
        "{report}"
    );
}

#[test]
fn the_stale_refresh_lock_this_sweep_removed_is_named_as_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let db = state_db(s);
    db.execute_batch(&format!(
        "{};{}",
        kv("auth.sharedStore", r#"{"location":"state-db"}"#),
        kv("authProfiles.state", &state())
    ))
    .unwrap();
    drop(db);
    // OpenClaw's resolveOAuthRefreshLockPath("anthropic", COOL), Node 26.
    let lock = "locks/oauth-refresh/lock-61d0c0c7d41e1f5c699e2fae251adacc.lock";
    stale(s.join(lock));
    let cause = |dry: &str| {
        format!(
            "no re-login needed: the stale refresh lock this sweep {dry} ({}) was the cause; \
             the cooldown ends by itself",
            lock.trim_end_matches(".lock")
        )
    };
    let (report, _, _) = json_sweep(s, &["--dry-run"]);
    assert_eq!(report["profiles"][0]["hint"], cause("would remove"));
    let (report, _, _) = json_sweep(s, &[]);
    assert_eq!(report["swept_paths"][0]["path"], lock);
    assert_eq!(report["profiles"][0]["hint"], cause("removed"));
    assert_eq!(
        report["profiles"][3]["hint"],
        "no re-login needed: a stale refresh lock this sweep removed was the likely cause; \
         the cooldown ends by itself",
        "another profile's lock"
    );
    let (report, _, _) = json_sweep(s, &[]);
    assert_eq!(
        report["profiles"][0]["hint"],
        "no re-login needed: the cooldown ends by itself"
    );
}

#[test]
fn a_watch_logs_a_profile_again_only_when_its_state_changes() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let main = agent_db(s, "main");
    let one = |reason: &str| {
        json!({"usageStats": {DEAD: {"cooldownReason": reason, "lastFailureAt": AT}}}).to_string()
    };
    main.execute_batch(&agent_rows(&store(&[]), &one("auth")))
        .unwrap();
    let child = sweeper()
        .args(["--state-dir", s.to_str().unwrap(), "--watch", "100ms"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    sleep(Duration::from_millis(450));
    main.execute(
        "UPDATE auth_profile_state SET state_json = ?1",
        [json!({"usageStats": {DEAD: {"disabledReason": "auth_permanent", "lastFailureAt": AT + 1}}})
            .to_string()],
    )
    .unwrap();
    sleep(Duration::from_millis(450));
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8(out.stderr).unwrap();
    let passes = log.matches("watch pass").count();
    let cooling = log.matches("transient cooldown").count();
    let dead = log.matches("needs a re-login").count();
    assert_eq!((cooling, dead), (1, 1), "{passes} passes: {log}");
}

/// Without a `-wal` the database is read immutable (no lock, nothing
/// created); what was read is trusted only until a writer shows up.
#[test]
fn an_immutable_read_is_trusted_only_while_no_writer_came() {
    use openclaw_lock_sweeper::database::sqlite;
    use std::os::fd::AsFd;
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let db = state_db(s);
    db.execute_batch(&kv("authProfiles.state", &state()))
        .unwrap();
    drop(db);
    let state_dir = rustix::fs::open(
        s.join("state"),
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let name = c"openclaw.sqlite";
    let read = sqlite::open_read_only(state_dir.as_fd(), name, STATE_DB, sqlite::Deadline::start())
        .unwrap()
        .unwrap();
    assert!(read.read_still_valid(state_dir.as_fd(), name));
    assert!(!exists(s.join("state/openclaw.sqlite-shm")));
    let writer = Connection::open(s.join(STATE_DB)).unwrap();
    writer
        .execute_batch(&kv("auth.sharedStore", r#"{"location":"state-db"}"#))
        .unwrap();
    assert!(
        !read.read_still_valid(state_dir.as_fd(), name),
        "a -wal appeared: the immutable read may have missed it"
    );
    drop(writer);
    assert!(!exists(s.join("state/openclaw.sqlite-wal")));
    assert!(
        !read.read_still_valid(state_dir.as_fd(), name),
        "checkpointed into the file: it changed under the read"
    );
}

/// The raw text of each `key` value in `out` as printed (escapes and all),
/// up to its closing quote: what an operator copies.
fn printed<'a>(out: &'a str, key: &str) -> Vec<&'a str> {
    out.match_indices(key)
        .map(|(i, _)| {
            let rest = &out[i + key.len()..];
            let mut escaped = false;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    let end = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    end
                })
                .map_or(rest.len(), |(j, _)| j);
            &rest[..end]
        })
        .collect()
}

/// Profile ids and agent dir names are written by whoever writes the volume,
/// and the operator who pastes a hint is often root. Every hint printed (text
/// log, JSON log, JSON report) is run in a shell with a stub `openclaw` on
/// PATH: none may run anything else, and each command printed passes the stub
/// exactly the names it was meant for. A name a shell would interpret gets no
/// command at all.
#[test]
fn a_printed_hint_is_safe_to_paste_into_a_shell_whatever_the_names() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path();
    let (s, sandbox, bin, record) = (
        t.join("s"),
        t.join("sandbox"),
        t.join("bin"),
        t.join("record"),
    );
    fs::create_dir_all(&sandbox).unwrap();
    // The stub: its argument count, then each argument, NUL-terminated.
    write(
        bin.join("openclaw"),
        b"#!/bin/sh\nprintf '%s\\0' \"$#\" \"$@\" >> \"$RECORD\"\n",
    );
    fs::set_permissions(
        bin.join("openclaw"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let hostile = [
        "x'; touch pwned #",
        "x'\\''; touch pwned #",
        "x\\'; touch pwned #",
        "x\\\\'; touch pwned #",
        "$(touch pwned)",
        "`touch pwned`",
        "x\"; touch pwned; \"",
        "x\ntouch pwned\n",
        "x\\\ntouch pwned",
        "x' \"$(touch pwned)\" '",
    ];
    let dead = json!({"disabledReason": "auth_permanent", "lastFailureAt": AT});
    let agent_state = |ids: &[String]| {
        let stats: serde_json::Map<String, Value> =
            ids.iter().map(|id| (id.clone(), dead.clone())).collect();
        json!({"usageStats": stats}).to_string()
    };
    let safe = ["openai-codex:dead@example.com", "google:a=b,c/d_e+f"];
    let mut main: Vec<String> = safe.iter().map(|id| id.to_string()).collect();
    main.extend(hostile.iter().map(|h| format!("openai-codex:{h}")));
    write(
        s.join("agents/main/agent/auth-state.json"),
        agent_state(&main).as_bytes(),
    );
    let other = "anthropic:first.last@example.com".to_owned();
    write(
        s.join("agents/ops-2/agent/auth-state.json"),
        agent_state(std::slice::from_ref(&other)).as_bytes(),
    );
    for agent in hostile {
        write(
            s.join("agents").join(agent).join("agent/auth-state.json"),
            agent_state(std::slice::from_ref(&other)).as_bytes(),
        );
    }
    let login = |provider: &str, id: &str, agent: Option<&str>| {
        let mut args = vec![
            "models",
            "auth",
            "login",
            "--provider",
            provider,
            "--profile-id",
            id,
        ];
        args.extend(agent.map(|a| ["--agent", a]).into_iter().flatten());
        let mut bytes = format!("{}\0", args.len()).into_bytes();
        for a in args {
            bytes.extend_from_slice(a.as_bytes());
            bytes.push(0);
        }
        bytes
    };
    let intended = [
        login("openai-codex", safe[0], None),
        login("google", safe[1], None),
        login("anthropic", &other, Some("ops-2")),
    ];
    let profiles = main.len() + 1 + hostile.len();

    let text = sweep(&s, &["--report", "json"]);
    let json = sweep(&s, &["--log-format", "json"]);
    assert_eq!(
        (text.code, json.code),
        (0, 0),
        "{}{}",
        text.stderr,
        json.stderr
    );
    let report: Value = serde_json::from_str(&text.stdout).unwrap();
    assert_eq!(report["profiles"].as_array().unwrap().len(), profiles);
    let shells: Vec<&str> = ["sh", "bash"]
        .into_iter()
        .filter(|sh| Path::new("/bin").join(sh).exists())
        .collect();
    for (channel, hints) in [
        ("text log", printed(&text.stderr, "hint=\"")),
        ("JSON log", printed(&json.stderr, "\"hint\":\"")),
        ("JSON report", printed(&text.stdout, "\"hint\":\"")),
    ] {
        assert_eq!(hints.len(), profiles, "{channel}: {hints:#?}");
        let mut commands = Vec::new();
        for hint in hints {
            // The command between the backticks, as an operator copies it;
            // and the whole hint, pasted by mistake.
            let command = hint
                .split('`')
                .nth(1)
                .filter(|_| hint.matches('`').count() == 2);
            for (script, is_command) in [(Some(hint), false), (command, true)] {
                let Some(script) = script else { continue };
                for sh in &shells {
                    let _ = fs::remove_file(&record);
                    let status = std::process::Command::new(sh)
                        .args(["-c", script])
                        .current_dir(&sandbox)
                        .env_clear()
                        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                        .env("RECORD", &record)
                        .stderr(Stdio::null())
                        .status()
                        .unwrap();
                    assert_eq!(
                        fs::read_dir(&sandbox).unwrap().count(),
                        0,
                        "{channel}, {sh}: {script:?} ran more than openclaw"
                    );
                    if is_command {
                        assert!(status.success(), "{channel}, {sh}: {script:?}");
                        commands.push(fs::read(&record).unwrap_or_default());
                    }
                }
            }
        }
        commands.sort();
        let mut once_per_shell: Vec<_> = intended
            .iter()
            .flat_map(|c| shells.iter().map(move |_| c.clone()))
            .collect();
        once_per_shell.sort();
        assert_eq!(
            commands, once_per_shell,
            "{channel}: the commands printed are those of the safe names, exactly"
        );
    }
    for p in report["profiles"].as_array().unwrap() {
        let hint = p["hint"].as_str().unwrap();
        if hint.contains('`') {
            continue;
        }
        assert!(hint.contains("characters a shell would interpret"), "{p}");
    }
}
