//! OpenClaw's SQLite-held leftovers (2026.9.x) on real databases made with
//! SQLite here, in WAL mode as OpenClaw keeps them: what is removed under the
//! free verdict (a coordinator nobody holds), what is only reported, and that
//! judging never changes a database. `tests/openclaw/rows.test.mjs` proves the
//! same with OpenClaw's own code.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use rusqlite::Connection;
use serde_json::Value;

const COORDINATOR: &str = "tmp/openclaw-1000/gateway.state.lock.sqlite";
const STATE_DB: &str = "state/openclaw.sqlite";
const AGENT_DB: &str = "agents/main/agent/openclaw-agent.sqlite";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The tables as OpenClaw 2026.9.6 creates them (same columns and keys).
fn create(path: &Path, sql: &str) -> Connection {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let db = Connection::open(path).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.execute_batch(sql).unwrap();
    db
}

fn state_db(path: &Path) -> Connection {
    create(
        path,
        "CREATE TABLE state_leases (scope TEXT NOT NULL, lease_key TEXT NOT NULL, \
         owner TEXT NOT NULL, expires_at INTEGER, heartbeat_at INTEGER, payload_json TEXT, \
         created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, \
         PRIMARY KEY (scope, lease_key)) STRICT",
    )
}

fn agent_db(path: &Path) -> Connection {
    create(
        path,
        "CREATE TABLE cache_entries (scope TEXT NOT NULL, key TEXT NOT NULL, value_json TEXT, \
         blob BLOB, expires_at INTEGER, updated_at INTEGER NOT NULL, \
         PRIMARY KEY (scope, key)) STRICT",
    )
}

/// An `INSERT` of a lease row as OpenClaw's gateway writes it, by a gateway
/// that started a minute ago (past its start window) and renewed it now.
fn lease(scope: &str, host: &str, expires_in_ms: i64) -> String {
    lease_written(scope, host, expires_in_ms, 60_000)
}

/// `lease`, written by a start `created_ms_ago`.
fn lease_written(scope: &str, host: &str, expires_in_ms: i64, created_ms_ago: i64) -> String {
    let now = now_ms();
    let expires = now + expires_in_ms;
    let created = now - created_ms_ago;
    format!(
        "INSERT INTO state_leases VALUES ('{scope}', 'global', 'owner-uuid', {expires}, {now}, \
         '{{\"owner\":{{\"pid\":1,\"host\":\"{host}\",\"startedAt\":3309949}},\"port\":18789,\
         \"mode\":\"foreground\",\"supervisor\":null}}', {created}, {now})"
    )
}

/// An `INSERT` of the usage refresh lock as OpenClaw writes it.
fn usage_lock(pid: i64, started_ms_ago: i64) -> String {
    let started = now_ms() - started_ms_ago;
    format!(
        "INSERT INTO cache_entries VALUES ('session-cost-usage', 'refresh-lock', \
         '{{\"pid\":{pid},\"startedAt\":{started},\"ownerNonce\":\"{pid}:{started}:1\"}}', \
         NULL, NULL, {started})"
    )
}

/// Runs `sql` and closes cleanly (checkpointed: no `-wal`, no `-shm`).
fn insert(db: Connection, sql: &str) {
    db.execute_batch(sql).unwrap();
    drop(db);
}

/// Runs `sql` in another process that then dies as a SIGKILLed gateway
/// would: the row only in the `-wal`, `-wal` and `-shm` left behind.
fn insert_and_die(db: Connection, path: &Path, sql: &str) {
    drop(db);
    let script = "import sqlite3, os, sys\n\
        db = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
        db.execute(sys.argv[2])\n\
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

/// The rows the report lists, as (database, key, action, reason).
fn rows(run: &Run) -> Vec<(String, String, String, String)> {
    let report: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {:?} {}", run.stdout, run.stderr));
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            // A database whose rows were not read has no key.
            let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
            (s("database"), s("key"), s("action"), s("reason"))
        })
        .collect()
}

fn row(db: &str, key: &str, action: &str, reason: &str) -> (String, String, String, String) {
    (db.into(), key.into(), action.into(), reason.into())
}

fn count(path: &Path, sql: &str) -> i64 {
    count_on(&Connection::open(path).unwrap(), sql)
}

fn count_on(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The database file and its `-wal`, bytes and mtime, and whether a `-shm`
/// is there (its owner, its size): what a sweep that removes nothing must
/// leave as it was. The `-shm` is SQLite's shared memory, not the database:
/// every reader, OpenClaw's own too, writes its read marks there.
fn snapshot(db: &Path) -> Vec<(String, Vec<u8>, i64, i64)> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| format!("{}{suffix}", db.display()))
        .filter(|p| exists(p))
        .map(|p| {
            let m = fs::metadata(&p).unwrap();
            if p.ends_with("-shm") {
                return (p, Vec::new(), i64::from(m.uid()), m.size() as i64);
            }
            (p.clone(), fs::read(&p).unwrap(), m.mtime(), m.mtime_nsec())
        })
        .collect()
}

#[test]
fn under_free_the_dead_gateways_lease_and_a_pid_1_usage_lock_go_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    let state = state_db(&s.join(STATE_DB));
    state
        .execute_batch(&lease("shared", "pod-a", 250_000))
        .unwrap();
    insert_and_die(
        state,
        &s.join(STATE_DB),
        &lease("gateway-owner", "pod-a", 250_000),
    );
    let main = agent_db(&s.join(AGENT_DB));
    main.execute_batch(
        "INSERT INTO cache_entries VALUES ('session-cost-usage', 'rollup', '{}', NULL, NULL, 1)",
    )
    .unwrap();
    insert_and_die(main, &s.join(AGENT_DB), &usage_lock(1, 60_000));
    let other = agent_db(&s.join("agents/ops/agent/openclaw-agent.sqlite"));
    insert(other, &usage_lock(4242, 60_000));

    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        rows(&run),
        [
            row(STATE_DB, "gateway-owner/global", "removed", "dead-gateway"),
            row(
                AGENT_DB,
                "session-cost-usage/refresh-lock",
                "removed",
                "dead-holder"
            ),
            row(
                "agents/ops/agent/openclaw-agent.sqlite",
                "session-cost-usage/refresh-lock",
                "kept",
                "other-holder"
            ),
        ]
    );
    let leases = s.join(STATE_DB);
    assert_eq!(
        count(
            &leases,
            "SELECT count(*) FROM state_leases WHERE scope = 'gateway-owner'"
        ),
        0
    );
    assert_eq!(
        count(
            &leases,
            "SELECT count(*) FROM state_leases WHERE scope = 'shared'"
        ),
        1
    );
    let agent = s.join(AGENT_DB);
    assert_eq!(
        count(&agent, "SELECT count(*) FROM cache_entries"),
        1,
        "the rollup stays"
    );
    let ops = s.join("agents/ops/agent/openclaw-agent.sqlite");
    assert_eq!(count(&ops, "SELECT count(*) FROM cache_entries"), 1);
}

/// Every other lease OpenClaw 2026.9.6 writes to `state_leases` (the rows of
/// docs/locks.md's "Every lease a kill can leave"), as a kill leaves it: the
/// shared lease API's rows name a random owner and no process, the others a
/// pid but no host or one taken outside the gateway lock, so no kernel
/// verdict vouches for their owner; each ends at its own expiry. Under free,
/// only the dead gateway's own lease goes.
#[test]
fn under_free_only_the_gateway_owner_goes_of_every_lease_96_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    let state = state_db(&s.join(STATE_DB));
    let now = now_ms();
    let owner = r#"{"pid":1,"host":"pod-a","startedAt":3309949}"#;
    // (scope, key, lease ms or none, payload or none)
    let others = [
        (
            "startup-migrations",
            "global",
            Some(300_000),
            Some(format!(r#"{{"version":1,"owner":{owner}}}"#)),
        ),
        ("core:plugin-lifecycle", "global", Some(300_000), None),
        ("core:claw-mcp-lifecycle", "github", Some(300_000), None),
        ("core:mcp-oauth", "store-1", Some(60_000), None),
        ("core:agent-deletion", "ops", Some(60_000), None),
        (
            "core:agent-database-maintenance",
            "global",
            Some(60_000),
            None,
        ),
        ("core:onboarding", "global", Some(300_000), None),
        (
            "core:managed-worktrees:create",
            "capacity",
            Some(60_000),
            None,
        ),
        ("workspace.local-reconciliation", "wt-1", Some(60_000), None),
        ("session-workspace-action", "s-1", Some(60_000), None),
        (
            "session-workspace-personal-publication",
            "s-1",
            Some(60_000),
            None,
        ),
        ("personal-github-profile", "p-1", Some(60_000), None),
        ("projects.clone", "0123456789abcdef", Some(30_000), None),
        ("projects.checkout", "/repo", Some(30_000), None),
        (
            "migration.legacy-audit",
            "filesystem-sqlite-boundary",
            Some(60_000),
            None,
        ),
        ("meeting-transcript.export", "s-1", Some(60_000), None),
        ("skill-collection", "main", Some(600_000), None),
        ("skill-workshop-target", "main:abc", Some(60_000), None),
        (
            "claw-package-lifecycle",
            "plugin:clawhub:demo",
            Some(300_000),
            Some(r#"{"kind":"plugin","source":"clawhub","ref":"demo"}"#.to_owned()),
        ),
        (
            "fleet-cell-operation",
            "tenant-1",
            Some(300_000),
            Some(r#"{"operation":"upgrade"}"#.to_owned()),
        ),
        ("skill-upload-install", "up-1", Some(900_000), None),
        (
            "worktree-run:wt-1",
            "tok-1",
            None,
            Some(r#"{"pid":1,"starttime":3309949}"#.to_owned()),
        ),
        (
            "doctor-session-key-migration",
            "reserved-incognito-v1",
            None,
            Some("{}".to_owned()),
        ),
    ];
    for (scope, key, lease_ms, payload) in &others {
        state
            .execute(
                "INSERT INTO state_leases VALUES (?1, ?2, 'owner', ?3, ?4, ?5, ?6, ?4)",
                rusqlite::params![
                    scope,
                    key,
                    lease_ms.map(|ms| now + ms),
                    now,
                    payload,
                    now - 60_000
                ],
            )
            .unwrap();
    }
    insert_and_die(
        state,
        &s.join(STATE_DB),
        &lease("gateway-owner", "pod-a", 250_000),
    );
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let removed: Vec<_> = rows(&run)
        .into_iter()
        .filter(|r| r.2 == "removed")
        .collect();
    assert_eq!(
        removed,
        [row(
            STATE_DB,
            "gateway-owner/global",
            "removed",
            "dead-gateway"
        )]
    );
    assert_eq!(
        count(
            &s.join(STATE_DB),
            "SELECT count(*) FROM state_leases WHERE scope <> 'gateway-owner'"
        ),
        others.len() as i64
    );
}

/// Boots that never finished (SIGKILLed gateways) within OpenClaw's 5
/// minutes: at 3 the next start runs without its channels. The sweep says
/// so under free, and changes nothing of the table.
#[test]
fn boots_that_would_trip_openclaws_restart_loop_breaker_are_named_and_left() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    let state = state_db(&s.join(STATE_DB));
    state
        .execute_batch(
            "CREATE TABLE gateway_boot_lifecycle (boot_id TEXT NOT NULL PRIMARY KEY, \
             pid INTEGER NOT NULL, started_at_ms INTEGER NOT NULL, completed_at_ms INTEGER, \
             outcome TEXT, startup_reason TEXT, reason TEXT) STRICT",
        )
        .unwrap();
    let now = now_ms();
    let boot = |id: &str, started_ago: i64, completed_ago: Option<i64>, outcome: Option<&str>| {
        state
            .execute(
                "INSERT INTO gateway_boot_lifecycle VALUES (?1, 1, ?2, ?3, ?4, NULL, NULL)",
                rusqlite::params![
                    id,
                    now - started_ago,
                    completed_ago.map(|a| now - a),
                    outcome
                ],
            )
            .unwrap();
    };
    boot("killed-long-ago", 900_000, None, None);
    boot("clean", 200_000, Some(190_000), Some("clean_stop"));
    boot("killed-1", 120_000, None, None);
    boot("failed", 60_000, Some(59_000), Some("startup_failed"));
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stderr.contains("restart-loop breaker"),
        "two count, not three:\n{}",
        run.stderr
    );
    boot("killed-2", 30_000, None, None);
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let warning = run
        .stderr
        .lines()
        .find(|l| l.contains("restart-loop breaker will trip"))
        .unwrap_or_else(|| panic!("no warning:\n{}", run.stderr));
    assert!(
        warning.contains("WARN") && warning.contains("unclean_boots=3"),
        "{warning}"
    );
    assert_eq!(
        count(
            &s.join(STATE_DB),
            "SELECT count(*) FROM gateway_boot_lifecycle"
        ),
        5
    );
}

#[test]
fn judging_alone_leaves_every_database_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    // No coordinator: unknown, so the rows are only judged and reported.
    let state = state_db(&s.join(STATE_DB));
    insert_and_die(
        state,
        &s.join(STATE_DB),
        &lease("gateway-owner", "pod-a", 250_000),
    );
    // Closed cleanly: no -wal, no -shm.
    insert(agent_db(&s.join(AGENT_DB)), &usage_lock(1, 60_000));
    let before = [snapshot(&s.join(STATE_DB)), snapshot(&s.join(AGENT_DB))];
    assert_eq!(
        before[0].len(),
        3,
        "the state database has its -wal and -shm"
    );
    assert_eq!(before[1].len(), 1, "the agent database is one file");

    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        rows(&run),
        [
            row(STATE_DB, "gateway-owner/global", "kept", "unproven"),
            row(
                AGENT_DB,
                "session-cost-usage/refresh-lock",
                "kept",
                "unproven"
            ),
        ]
    );
    assert!(
        run.stderr
            .contains("run the sweep before the gateway starts"),
        "{}",
        run.stderr
    );
    let after = [snapshot(&s.join(STATE_DB)), snapshot(&s.join(AGENT_DB))];
    assert!(
        before == after,
        "a database was changed by a sweep that removed nothing"
    );
}

#[test]
fn a_dry_run_under_free_lists_the_rows_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    let state = state_db(&s.join(STATE_DB));
    insert_and_die(
        state,
        &s.join(STATE_DB),
        &lease("gateway-owner", "pod-a", 250_000),
    );
    let before = snapshot(&s.join(STATE_DB));
    let run = sweep(s, &["--report", "json", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        rows(&run),
        [row(
            STATE_DB,
            "gateway-owner/global",
            "would-remove",
            "dead-gateway"
        )]
    );
    assert!(before == snapshot(&s.join(STATE_DB)));
}

#[test]
fn expired_same_host_and_migration_leases_are_left_to_openclaw() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    let host = rustix::system::uname()
        .nodename()
        .to_str()
        .unwrap()
        .to_owned();
    // Taken by `openclaw doctor` outside the gateway lock: free proves
    // nothing about its owner.
    insert(
        state_db(&s.join(STATE_DB)),
        &lease("startup-migrations", "pod-a", 250_000),
    );
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(
        rows(&run),
        [row(
            STATE_DB,
            "startup-migrations/global",
            "kept",
            "owner-not-under-gateway-lock"
        )]
    );
    let state = Connection::open(s.join(STATE_DB)).unwrap();
    state.execute("DELETE FROM state_leases", []).unwrap();
    insert(state, &lease("startup-migrations", &host, 250_000));
    let run = sweep(s, &["--report", "json", "--liveness", "pids"]);
    assert_eq!(
        rows(&run),
        [row(
            STATE_DB,
            "startup-migrations/global",
            "kept",
            "same-host"
        )]
    );
    let state = Connection::open(s.join(STATE_DB)).unwrap();
    state.execute("DELETE FROM state_leases", []).unwrap();
    insert(state, &lease("gateway-owner", "pod-a", -1_000));
    let run = sweep(s, &["--report", "json", "--liveness", "pids"]);
    assert_eq!(
        rows(&run),
        [row(STATE_DB, "gateway-owner/global", "kept", "expired")]
    );
    assert_eq!(leases_left(s), 1);
}

#[test]
fn a_database_another_process_writes_is_kept_within_the_sweeps_budget() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    let state = state_db(&s.join(STATE_DB));
    state
        .execute_batch(&lease("gateway-owner", "pod-a", 250_000))
        .unwrap();
    // An OpenClaw CLI mid-write: it holds SQLite's write lock.
    state.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let run = sweep(s, &["--report", "json"]);
    let waited = started.elapsed();
    assert_eq!(
        run.code, 0,
        "busy is kept and reported, not an error: {}",
        run.stderr
    );
    assert_eq!(
        rows(&run),
        [row(STATE_DB, "gateway-owner/global", "kept", "busy")]
    );
    // It waited for the write lock, within the sweep's one budget.
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    state.execute_batch("COMMIT").unwrap();
    assert_eq!(leases_left(s), 1);
}

#[test]
fn a_wal_without_its_shm_a_symlinked_database_and_another_schema_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    // The state database is a symlink to one elsewhere: never opened.
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("openclaw.sqlite");
    insert(state_db(&target), &lease("gateway-owner", "pod-a", 250_000));
    fs::create_dir_all(s.join("state")).unwrap();
    std::os::unix::fs::symlink(&target, s.join(STATE_DB)).unwrap();
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Reported, not only logged: monitoring reads the report.
    assert_eq!(rows(&run), [row(STATE_DB, "", "kept", "unreadable")]);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    assert_eq!(count(&target, "SELECT count(*) FROM state_leases"), 1);

    // A -wal whose -shm is gone: reading would create a -shm.
    fs::remove_file(s.join(STATE_DB)).unwrap();
    let state = state_db(&s.join(STATE_DB));
    insert_and_die(
        state,
        &s.join(STATE_DB),
        &lease("gateway-owner", "pod-a", 250_000),
    );
    fs::remove_file(s.join("state/openclaw.sqlite-shm")).unwrap();
    let before = snapshot(&s.join(STATE_DB));
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(rows(&run), [row(STATE_DB, "", "kept", "unreadable")]);
    assert!(run.stderr.contains("has no -shm"), "{}", run.stderr);
    assert!(before == snapshot(&s.join(STATE_DB)), "no -shm created");

    // A table of the same name with other columns: not OpenClaw's.
    for suffix in ["", "-wal"] {
        fs::remove_file(format!("{}{suffix}", s.join(STATE_DB).display())).unwrap();
    }
    create(
        &s.join(STATE_DB),
        "CREATE TABLE state_leases (scope TEXT, what TEXT)",
    );
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(rows(&run), [row(STATE_DB, "", "kept", "not-openclaws")]);
    // In words, no SQL at WARN.
    let warn = run
        .stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("not judged"))
        .unwrap();
    assert!(
        warn.contains("not judged") && warn.contains("state_leases has no column lease_key"),
        "{warn}"
    );
    assert!(!warn.contains("SELECT"), "{warn}");
}

#[test]
fn a_write_as_root_leaves_its_wal_and_shm_to_the_databases_owner() {
    if !is_root() {
        eprintln!("skipped: chown needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    // No -wal, no -shm: the write creates them.
    insert(
        state_db(&s.join(STATE_DB)),
        &lease("gateway-owner", "pod-a", 250_000),
    );
    std::os::unix::fs::chown(s.join(STATE_DB), Some(1000), Some(1000)).unwrap();
    // A reader open meanwhile (its -wal and -shm made by root) keeps SQLite
    // from removing them when the sweep's connection closes.
    let reader = Connection::open(s.join(STATE_DB)).unwrap();
    assert_eq!(count_on(&reader, "SELECT count(*) FROM state_leases"), 1);
    assert!(exists(format!("{}-shm", s.join(STATE_DB).display())));
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        rows(&run),
        [row(
            STATE_DB,
            "gateway-owner/global",
            "removed",
            "dead-gateway"
        )]
    );
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", s.join(STATE_DB).display());
        let m = fs::symlink_metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (1000, 1000), "{p}");
    }
    drop(reader);
}

#[test]
fn a_write_that_would_leave_a_wal_of_another_owner_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root to run the sweeper as another uid");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    insert(
        state_db(&s.join(STATE_DB)),
        &lease("gateway-owner", "pod-a", 250_000),
    );
    // The sweeper (nobody) may write the database and its directory, but
    // the database is root's: a -wal it created would be nobody's.
    give_to_nobody(s, &["tmp", "tmp/openclaw-1000", COORDINATOR, "state"]);
    let mut perms = fs::metadata(s.join(STATE_DB)).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o666);
    fs::set_permissions(s.join(STATE_DB), perms).unwrap();
    let run = sweep_unprivileged(s, &["--report", "json"]);
    assert_eq!(
        run.code, 1,
        "a needed removal that failed is an error: {}",
        run.stderr
    );
    assert_eq!(
        rows(&run),
        [row(
            STATE_DB,
            "gateway-owner/global",
            "failed",
            "dead-gateway"
        )]
    );
    assert!(run.stderr.contains("owned by uid 0"), "{}", run.stderr);
    assert!(!exists(format!("{}-wal", s.join(STATE_DB).display())));
    assert_eq!(leases_left(s), 1);
}

// === The start window: a row a starting gateway wrote before its coordinator ===

/// OpenClaw's start window as the sweeper bounds it (src/database/rows.rs).
const WINDOW_MS: i64 = 15_000;

/// A state dir whose coordinator is free, holding pod-b's owner lease row
/// written `created_ms_ago`.
fn owner_row_written(created_ms_ago: i64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path().join(COORDINATOR), b"");
    insert(
        state_db(&dir.path().join(STATE_DB)),
        &lease_written("gateway-owner", "pod-b", 250_000, created_ms_ago),
    );
    dir
}

/// The rows of `state_leases` left.
fn leases_left(s: &Path) -> i64 {
    count(&s.join(STATE_DB), "SELECT count(*) FROM state_leases")
}

/// The sweep, started in the background with a JSON report.
fn sweep_in_background(s: &Path) -> std::process::Child {
    sweeper()
        .arg("--state-dir")
        .arg(s)
        .args(["--report", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Takes the coordinator as a starting gateway would, retrying while the
/// sweep's first look holds it (up to 3 s).
fn take_coordinator_when_free(path: &Path) -> SqliteHolder {
    let script = "import sqlite3, sys, time\n\
        end = time.time() + 3\n\
        while True:\n\
        \x20   try:\n\
        \x20       db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)\n\
        \x20       db.execute('PRAGMA journal_mode = MEMORY')\n\
        \x20       db.execute('BEGIN EXCLUSIVE')\n\
        \x20       break\n\
        \x20   except sqlite3.OperationalError:\n\
        \x20       if time.time() > end: raise\n\
        \x20       time.sleep(0.01)\n\
        print('held', flush=True)\n\
        sys.stdin.read()\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "held\n", "the coordinator was never let go");
    let stdin = child.stdin.take().unwrap();
    SqliteHolder {
        child,
        _stdin: stdin,
    }
}

#[test]
fn a_starting_gateway_keeps_its_row_the_sweep_lets_the_coordinators_go_and_waits() {
    // Written 2 s before the end of the window: the sweep waits 2 s.
    let dir = owner_row_written(WINDOW_MS - 2_000);
    let s = dir.path();
    let started = Instant::now();
    let child = sweep_in_background(s);
    std::thread::sleep(Duration::from_millis(300));
    // The gateway takes its coordinator meanwhile: the sweep must have let
    // it go, and must then see it attached.
    let gateway = take_coordinator_when_free(&s.join(COORDINATOR));
    let run = finish(child);
    let waited = started.elapsed();
    drop(gateway);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        rows(&run),
        [row(STATE_DB, "gateway-owner/global", "kept", "attached")]
    );
    assert_eq!(leases_left(s), 1, "the starting gateway's row stays");
    assert!(
        run.stderr.contains("its gateway may be starting"),
        "{}",
        run.stderr
    );
    assert!(waited >= Duration::from_millis(1_500), "{waited:?}");
}

#[test]
fn a_young_lease_of_this_hostname_is_left_to_openclaw_without_a_wait() {
    // A gateway restarted in place after an early crash: its pod's hostname
    // is this one, and OpenClaw reclaims a same-host lease whose owner is gone.
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    insert(
        state_db(&s.join(STATE_DB)),
        &lease_written("gateway-owner", &host, 250_000, 1_000),
    );
    let started = Instant::now();
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        rows(&run),
        [row(STATE_DB, "gateway-owner/global", "kept", "same-host")]
    );
    assert_eq!(leases_left(s), 1);
}

#[test]
fn a_gateway_killed_inside_its_start_window_is_cured_one_window_later() {
    let dir = owner_row_written(WINDOW_MS - 1_500);
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/sha256-ab.lock"));
    let started = Instant::now();
    let run = sweep(s, &["--report", "json"]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        rows(&run),
        [row(
            STATE_DB,
            "gateway-owner/global",
            "removed",
            "dead-gateway"
        )]
    );
    assert!(!exists(s.join("locks/oauth-refresh/sha256-ab.lock")));
    assert!(took >= Duration::from_millis(1_000), "{took:?}");
    assert!(took < Duration::from_millis(6_000), "{took:?}");
    // The verdict was asked twice: before and after the window.
    assert_eq!(
        run.stderr.matches("liveness=\"free\"").count(),
        2,
        "{}",
        run.stderr
    );
}

#[test]
fn a_row_rewritten_while_every_coordinator_was_free_is_kept() {
    let dir = owner_row_written(WINDOW_MS - 2_000);
    let s = dir.path();
    let child = sweep_in_background(s);
    std::thread::sleep(Duration::from_millis(800));
    // Another owner takes the row over without holding a coordinator:
    // something alive the kernel cannot see.
    let db = Connection::open(s.join(STATE_DB)).unwrap();
    db.execute("UPDATE state_leases SET owner = 'another-owner'", [])
        .unwrap();
    drop(db);
    let run = finish(child);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        rows(&run),
        [row(STATE_DB, "gateway-owner/global", "kept", "changed")]
    );
    assert_eq!(leases_left(s), 1);
}

#[test]
fn a_gateway_killed_after_its_first_heartbeat_inside_the_window_is_still_cured() {
    let dir = owner_row_written(WINDOW_MS - 2_000);
    let s = dir.path();
    let child = sweep_in_background(s);
    std::thread::sleep(Duration::from_millis(500));
    // OpenClaw's first heartbeat, before the coordinator: expiry, heartbeat
    // and update times move, the lease stays the same. Then the gateway dies.
    let db = Connection::open(s.join(STATE_DB)).unwrap();
    db.execute(
        "UPDATE state_leases SET heartbeat_at = heartbeat_at + 300, \
         updated_at = updated_at + 300, expires_at = expires_at + 300",
        [],
    )
    .unwrap();
    drop(db);
    let run = finish(child);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        rows(&run),
        [row(
            STATE_DB,
            "gateway-owner/global",
            "removed",
            "dead-gateway"
        )]
    );
}

#[test]
fn a_stop_signal_ends_the_wait_at_once_and_the_log_is_flushed() {
    let dir = owner_row_written(1_000);
    let s = dir.path();
    let child = sweep_in_background(s);
    std::thread::sleep(Duration::from_millis(500));
    let stopped = Instant::now();
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let run = finish(child);
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopped.elapsed()
    );
    assert_eq!(run.code, 128 + libc::SIGTERM, "{}", run.stderr);
    assert!(
        run.stderr.contains("its gateway may be starting")
            && run.stderr.contains("stop signal received"),
        "{}",
        run.stderr
    );
    assert_eq!(leases_left(s), 1);
}

#[test]
fn a_symlinked_owner_directory_proves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    // The gateway holds its coordinator through tmp/openclaw-1000, a
    // symlink to a directory elsewhere; another owner dir is free.
    let elsewhere = tempfile::tempdir().unwrap();
    let real = elsewhere.path().join("gateway.state.lock.sqlite");
    write(&real, b"");
    fs::create_dir_all(s.join("tmp")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), s.join("tmp/openclaw-1000")).unwrap();
    write(s.join("tmp/openclaw-0/gateway.state.lock.sqlite"), b"");
    let _gateway = hold_exclusive(&real);
    insert(
        state_db(&s.join(STATE_DB)),
        &lease("gateway-owner", "pod-b", 250_000),
    );
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("liveness=\"unknown\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("tmp/openclaw-1000 is not a directory"),
        "{}",
        run.stderr
    );
    assert_eq!(
        rows(&run),
        [row(STATE_DB, "gateway-owner/global", "kept", "unproven")]
    );
}

// === Databases that try to steer the sweep ===

/// The sweep, killed if it runs past `limit`: `None` then.
fn sweep_within(s: &Path, limit: Duration) -> Option<Run> {
    let mut child = sweep_in_background(s);
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if child.try_wait().unwrap().is_some() {
            return Some(finish(child));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_view_trigger_or_foreign_key_makes_the_table_not_openclaws() {
    let cases = [
        // An endless view under OpenClaw's table name.
        "CREATE VIEW state_leases AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
         SELECT 'gateway-owner' AS scope, 'global' AS lease_key, 'o' AS owner, NULL AS expires_at, \
         NULL AS heartbeat_at, NULL AS payload_json, 0 AS created_at, 0 AS updated_at FROM n",
        // A trigger that writes elsewhere and puts the row back.
        "CREATE TABLE audit (what TEXT); \
         CREATE TRIGGER keep AFTER DELETE ON state_leases BEGIN \
         INSERT INTO audit VALUES ('deleted'); \
         INSERT INTO state_leases SELECT old.scope, old.lease_key, old.owner, old.expires_at, \
         old.heartbeat_at, old.payload_json, old.created_at, old.updated_at; END",
        // A child row that ON DELETE CASCADE would take along.
        "CREATE TABLE audit (scope TEXT, lease_key TEXT, \
         FOREIGN KEY (scope, lease_key) REFERENCES state_leases (scope, lease_key) ON DELETE CASCADE); \
         INSERT INTO audit VALUES ('gateway-owner', 'global')",
    ];
    for (i, extra) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path();
        write(s.join(COORDINATOR), b"");
        stale(s.join("locks/oauth-refresh/sha256-ab.lock"));
        let db = if i == 0 {
            create(&s.join(STATE_DB), extra)
        } else {
            let db = state_db(&s.join(STATE_DB));
            db.execute_batch(&lease("gateway-owner", "pod-b", 250_000))
                .unwrap();
            db.execute_batch(extra).unwrap();
            db
        };
        drop(db);
        let run = sweep_within(s, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("case {i}: the sweep hung on the database"));
        assert_eq!(run.code, 0, "case {i}: {}", run.stderr);
        assert_eq!(
            rows(&run),
            [row(STATE_DB, "", "kept", "not-openclaws")],
            "case {i}: {}",
            run.stderr
        );
        assert!(
            !exists(s.join("locks/oauth-refresh/sha256-ab.lock")),
            "case {i}: the file sweep ran"
        );
        if i > 0 {
            let p = s.join(STATE_DB);
            assert_eq!(
                count(&p, "SELECT count(*) FROM state_leases"),
                1,
                "case {i}"
            );
            let audit = if i == 1 { 0 } else { 1 };
            assert_eq!(count(&p, "SELECT count(*) FROM audit"), audit, "case {i}");
        }
    }
}

#[test]
fn all_sqlite_waiting_in_a_sweep_shares_one_budget() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    insert(
        state_db(&s.join(STATE_DB)),
        &lease("gateway-owner", "pod-a", 250_000),
    );
    // Five agents' databases, each mid-write by another process.
    let mut writers = Vec::new();
    for agent in ["a", "b", "c", "d", "e"] {
        let path = s.join(format!("agents/{agent}/agent/openclaw-agent.sqlite"));
        let db = agent_db(&path);
        db.execute_batch(&usage_lock(1, 60_000)).unwrap();
        db.execute_batch("BEGIN IMMEDIATE").unwrap();
        writers.push(db);
    }
    let started = Instant::now();
    let run = sweep(s, &["--report", "json"]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(took < Duration::from_secs(1), "{took:?}");
    let reported = rows(&run);
    assert_eq!(reported.len(), 6, "{reported:?}");
    assert_eq!(reported[0].2, "removed");
    for r in &reported[1..] {
        assert_eq!(r.2, "kept", "{r:?}");
        assert!(["busy", "deadline"].contains(&&*r.3), "{r:?}");
    }
    drop(writers);
}

#[test]
fn a_database_with_a_rollback_journal_is_not_touched() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join(COORDINATOR), b"");
    insert(
        state_db(&s.join(STATE_DB)),
        &lease("gateway-owner", "pod-a", 250_000),
    );
    // A journal as an interrupted write leaves it (its content is not ours
    // to judge: any -journal keeps the database as it is).
    let journal = format!("{}-journal", s.join(STATE_DB).display());
    write(&journal, &[0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
    let before = snapshot(&s.join(STATE_DB));
    let journal_before = fs::read(&journal).unwrap();
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(rows(&run), [row(STATE_DB, "", "kept", "unreadable")]);
    assert!(run.stderr.contains("rollback journal"), "{}", run.stderr);
    assert!(before == snapshot(&s.join(STATE_DB)));
    assert_eq!(fs::read(&journal).unwrap(), journal_before);
}

#[test]
fn sweepers_waiting_on_the_same_row_do_not_take_each_other_for_a_gateway() {
    let dir = owner_row_written(WINDOW_MS - 1_500);
    let s = dir.path();
    // Four pods' sweeps defer on the same row and wake at the same moment.
    let children: Vec<_> = (0..4).map(|_| sweep_in_background(s)).collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    let reasons: Vec<String> = runs
        .iter()
        .flat_map(|run| {
            assert_eq!(run.code, 0, "{}", run.stderr);
            rows(run).into_iter().map(|r| r.3)
        })
        .collect();
    assert!(
        !reasons.iter().any(|r| r == "attached"),
        "{reasons:?}\n{}",
        runs[0].stderr
    );
    assert!(reasons.iter().any(|r| r == "dead-gateway"), "{reasons:?}");
    assert_eq!(leases_left(s), 0);
}
