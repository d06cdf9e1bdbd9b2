//! Leftovers OpenClaw keeps in SQLite rows rather than files (2026.9.x):
//!
//! - `state/openclaw.sqlite`, `state_leases`: the `gateway-owner` lease.
//!   OpenClaw reclaims a dead owner's row only from the same hostname: a
//!   gateway in a new pod cannot start until it expires (5 min). A gateway
//!   writes this row while it *starts*, before it takes the coordinator the
//!   sweep probes (`acquireGatewayLock`: lifecycle lock in its own `/tmp`,
//!   then the row, then the coordinator on the volume), so a free verdict
//!   proves dead only the owner of a row older than [`START_WINDOW`]. A
//!   younger row is not judged in that pass: the sweep lets the
//!   coordinators go, waits out the window, and looks again. A gateway that
//!   took a coordinator meanwhile is attached; one that did not, with its
//!   row unchanged, is dead (docs/safety.md).
//! - the same table's `startup-migrations` lease, which `openclaw doctor` and
//!   the gateway's preflight take *without* the coordinator: even free does
//!   not prove its owner dead, so it is reported, never removed.
//! - the same database's `gateway_boot_lifecycle`, only read: boots that
//!   never finished, which make OpenClaw's restart-loop breaker start the
//!   next gateway without its channels. Not a lock: logged, never changed.
//! - `agents/<id>/agent/openclaw-agent.sqlite`, `cache_entries`: the usage
//!   refresh lock (`session-cost-usage`/`refresh-lock`), stale only when its
//!   pid is dead: a pid-1 row blocks every later usage refresh, forever.
//!
//! Rows are written only under free (no OpenClaw process can be using the
//! databases); otherwise a row that would stop the gateway is reported with
//! what cures it. Only tables as OpenClaw makes them are judged
//! (`Database::table_columns`), and all SQLite work of a pass shares one
//! deadline (`sqlite::Deadline`).

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::TransactionBehavior;
use rusqlite::types::Value;
use tracing::{debug, error, info, warn};

use crate::database::sqlite::{self, Database, Deadline};
use crate::error::Error;
use crate::operator::config::Holders;
use crate::operator::report::{Row, RowAction, Summary, shown};

/// How long after writing its owner lease a starting gateway may still be
/// without the coordinator: OpenClaw 2026.9.6 takes it a fraction of a
/// second later (docs/safety.md has the measurements); this bounds it with
/// a wide margin for a throttled container and a clock a node apart.
pub const START_WINDOW: Duration = Duration::from_secs(15);

/// What the kernel proved about the state dir, for the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// This sweep holds every gateway coordinator: no gateway nor embedded
    /// writer runs, and none can get past its start.
    Free,
    /// No proof either way (no coordinator, `--liveness pids`, ...).
    Unproven,
}

/// How the rows are judged: the file sweep's holder rules, and the proof.
pub struct Rules<'a> {
    pub proof: Proof,
    pub holders: &'a Holders,
    pub min_age: Option<Duration>,
    pub dry_run: bool,
    /// The pass after a wait: the owner row the first pass left unjudged.
    pub waited_for: Option<&'a Deferred>,
}

/// An owner row too young to judge under free: its gateway may be starting.
#[derive(Debug)]
pub struct Deferred {
    /// How long to wait, the coordinators let go, before looking again.
    pub wait: Duration,
    /// The row as read, every column, and the columns' names.
    pub row: Vec<Value>,
    pub columns: Vec<String>,
    pub host: Option<String>,
    pub pid: Option<i64>,
}

const OWNER_SCOPE: &str = "gateway-owner";
const MIGRATIONS_SCOPE: &str = "startup-migrations";
const USAGE_SCOPE: &str = "session-cost-usage";
const USAGE_KEY: &str = "refresh-lock";
const STATE_DB: &str = "state/openclaw.sqlite";

/// Judges (and under free, removes) the rows of the state dir at `root`.
/// `Some` when under free the owner row is too young to judge: then nothing
/// was judged, and the caller waits and calls again with `waited_for`.
/// `stores`: the agents' auth stores the walk saw.
pub fn sweep(
    root: BorrowedFd,
    rules: &Rules,
    stores: &[std::path::PathBuf],
    summary: &mut Summary,
) -> Option<Deferred> {
    let mut sweeper = Rows {
        rules,
        summary,
        now_ms: now_ms(),
        host: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        deadline: Deadline::start(),
        deferred: None,
    };
    // Releases before 2026.9 have no state database, nor these rows: one
    // lookup and done.
    let state = sqlite::open_dir(root, c"state")?;
    if !sweeper.leases(state.as_fd()) {
        return None;
    }
    if sweeper.deferred.is_some() {
        return sweeper.deferred;
    }
    let agents = sqlite::open_dir(root, c"agents")?;
    for id in sqlite::agents_with(stores, &["openclaw-agent.sqlite"]) {
        let Some(agent) = sqlite::open_dir(agents.as_fd(), &id)
            .and_then(|dir| sqlite::open_dir(dir.as_fd(), c"agent"))
        else {
            continue;
        };
        let path = format!(
            "agents/{}/agent/openclaw-agent.sqlite",
            shown(std::path::Path::new(std::ffi::OsStr::new(
                &*id.to_string_lossy()
            )))
        );
        sweeper.usage_lock(agent.as_fd(), &path);
    }
    None
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Rows<'a, 'r> {
    rules: &'a Rules<'r>,
    summary: &'a mut Summary,
    now_ms: i64,
    host: String,
    deadline: Deadline,
    deferred: Option<Deferred>,
}

/// A table's rows as read: every column, so that the `DELETE` repeats them
/// all and removes only the row that was judged.
struct Table {
    name: &'static str,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl Table {
    fn get<'v>(&self, row: &'v [Value], column: &str) -> &'v Value {
        let i = self.columns.iter().position(|c| c == column);
        i.map_or(&Value::Null, |i| &row[i])
    }
}

/// The judgement of one database or table that was not read, for the log
/// and the report: `unreadable`, `not-openclaws`, `deadline`, `busy`.
fn failure_reason(e: &rusqlite::Error) -> &'static str {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::OperationInterrupted) => "deadline",
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => "busy",
        _ => "unreadable",
    }
}

impl Rows<'_, '_> {
    /// The state database's lease rows; false when there is no state
    /// database (then no agent database is looked for either).
    fn leases(&mut self, dir: BorrowedFd) -> bool {
        const NAME: &CStr = c"openclaw.sqlite";
        let Some(db) = self.open(dir, NAME, STATE_DB, "state_leases") else {
            return sqlite_exists(dir, NAME);
        };
        if self.rules.proof == Proof::Free && self.rules.waited_for.is_none() {
            self.restart_loop(&db);
        }
        const NEEDED: &[&str] = &[
            "scope",
            "lease_key",
            "expires_at",
            "payload_json",
            "created_at",
        ];
        let filter = format!(
            "lease_key = 'global' AND scope IN ('{OWNER_SCOPE}', '{MIGRATIONS_SCOPE}') ORDER BY scope"
        );
        let Some(table) = self.select(&db, "state_leases", NEEDED, &filter) else {
            return true;
        };
        if self.rules.proof == Proof::Free && self.rules.waited_for.is_none() {
            // First look under free: an owner row young enough that its
            // gateway may be starting defers every row to the next look.
            if let Some(deferred) = self.young_owner(&table) {
                self.deferred = Some(deferred);
                return true;
            }
        }
        for values in &table.rows {
            let scope = text(table.get(values, "scope")).unwrap_or_default();
            let expires_at = integer(table.get(values, "expires_at"));
            let owner = text(table.get(values, "payload_json")).and_then(lease_owner);
            let mut row = Row {
                database: STATE_DB.to_owned(),
                table: "state_leases",
                key: Some(format!("{scope}/global")),
                pid: owner.as_ref().map(|o| o.0),
                host: owner.as_ref().map(|o| o.1.clone()),
                expires_at,
                action: RowAction::Kept,
                reason: "",
                detail: None,
            };
            let key = row.key.clone().unwrap_or_default();
            let same_host = row.host.as_deref() == Some(&*self.host);
            let expires_in_s = expires_at.map(|t| (t - self.now_ms) / 1000);
            let age_ms = self.age_ms(&table, values);
            // Under free, an owner row within its start window is never
            // removed: its gateway may be starting (a gateway started after
            // the first look, or clocks that disagree).
            let free_owner = scope == OWNER_SCOPE && self.rules.proof == Proof::Free;
            let starting = free_owner && within_window(age_ms);
            if expires_at.is_some_and(|t| t <= self.now_ms) {
                // OpenClaw deletes an expired lease before it takes one.
                row.reason = "expired";
                debug!(
                    path = STATE_DB,
                    key = &*key,
                    "kept: an expired lease; OpenClaw drops it itself"
                );
            } else if starting && !same_host {
                row.reason = "starting";
                info!(
                    path = STATE_DB,
                    key = &*key,
                    owner_pid = row.pid,
                    owner_host = row.host.as_deref(),
                    age_ms,
                    "kept: an owner lease written within the start window; its gateway may be starting"
                );
            } else if free_owner
                && !starting
                && self
                    .rules
                    .waited_for
                    .is_some_and(|w| !same_lease(w, &table, values))
            {
                // Another lease, or this one renewed after its start window
                // while every coordinator was free: something is alive that
                // the kernel cannot see.
                row.reason = "changed";
                warn!(
                    path = STATE_DB,
                    key = &*key,
                    owner_pid = row.pid,
                    owner_host = row.host.as_deref(),
                    "kept: the owner lease changed while the sweep waited with every coordinator free"
                );
            } else if free_owner && !starting {
                row.reason = "dead-gateway";
                self.remove(dir, NAME, &db, &table, values, &mut row);
            } else if same_host {
                // OpenClaw reclaims a same-host owner whose process is gone,
                // and a new container's pid has another start time (also a
                // gateway restarted in place after an early crash, whose
                // lease is within its window: no wait for it).
                row.reason = "same-host";
                info!(
                    path = STATE_DB,
                    key = &*key,
                    owner_pid = row.pid,
                    owner_host = row.host.as_deref(),
                    "kept: a lease from this hostname; OpenClaw reclaims it at start if its owner is gone"
                );
            } else {
                row.reason = if self.rules.proof == Proof::Free {
                    "owner-not-under-gateway-lock"
                } else {
                    "unproven"
                };
                warn!(
                    path = STATE_DB,
                    key = &*key,
                    owner_pid = row.pid,
                    owner_host = row.host.as_deref(),
                    expires_in_s,
                    reason = row.reason,
                    hint = "a gateway under another hostname cannot start until this lease expires, \
                            unless its owner is alive: run the sweep before the gateway starts \
                            (init or wrapper) on a file system with shared record locks, so the \
                            kernel can prove its owner dead",
                    "kept: a lease of another hostname that the kernel cannot prove dead"
                );
            }
            self.summary.add_row(row);
        }
        true
    }

    /// OpenClaw's restart-loop breaker (2026.9): at its start, a gateway
    /// counts the boots of the last 5 minutes that never finished or failed
    /// (its maintenance stops aside); at 3 it starts without its channels.
    /// Under free no gateway runs, so the count is the one the next start
    /// makes; a sweep cannot lower it (the kills were real), but the
    /// operator who sees a gateway up with its channels silent learns why.
    fn restart_loop(&mut self, db: &Database) {
        const BREAKER_WINDOW_MS: i64 = 300_000;
        const TRIPS_AT: usize = 3;
        const NEEDED: &[&str] = &[
            "started_at_ms",
            "completed_at_ms",
            "outcome",
            "startup_reason",
        ];
        let since = self.now_ms - BREAKER_WINDOW_MS;
        let filter = format!(
            "(startup_reason IS NULL OR startup_reason NOT IN \
             ('gateway.maintenance_required', 'gateway.agent_media_migration_required')) \
             AND ((completed_at_ms IS NULL AND started_at_ms >= {since}) \
             OR (outcome = 'startup_failed' AND completed_at_ms >= {since}))"
        );
        let Some(boots) = self.select(db, "gateway_boot_lifecycle", NEEDED, &filter) else {
            return;
        };
        if boots.rows.len() >= TRIPS_AT {
            warn!(
                path = STATE_DB,
                unclean_boots = boots.rows.len(),
                hint = "not a lock, nothing to sweep: the gateway starting now runs without its \
                        channels until 5 minutes pass with no unclean boot, or start one with \
                        `openclaw gateway call channels.start --params '{\"channel\":\"<id>\"}'`; \
                        find why the gateway died (kubectl describe pod: OOMKilled, probes)",
                "OpenClaw's restart-loop breaker will trip: boots of the last 5 minutes that did not finish"
            );
        }
    }

    /// How long ago the row's start wrote it (`created_at`), by this clock.
    fn age_ms(&self, table: &Table, values: &[Value]) -> Option<i64> {
        integer(table.get(values, "created_at")).map(|t| self.now_ms - t)
    }

    /// The owner row, when it is unexpired and was written less than
    /// `START_WINDOW` ago (or at a time this clock has not reached).
    fn young_owner(&self, table: &Table) -> Option<Deferred> {
        let values = table.rows.iter().find(|v| {
            text(table.get(v, "scope")) == Some(OWNER_SCOPE)
                && integer(table.get(v, "expires_at")).is_none_or(|t| t > self.now_ms)
        })?;
        let age = self.age_ms(table, values);
        let owner = text(table.get(values, "payload_json")).and_then(lease_owner);
        // A lease of this hostname is left to OpenClaw's own reclaim: no
        // wait (a gateway restarted in place after an early crash would
        // otherwise wait out the window at every restart).
        let same_host = owner.as_ref().is_some_and(|(_, host)| *host == self.host);
        if same_host || !within_window(age) {
            return None;
        }
        // A row without a time, or from the future, gets the whole window.
        let window = START_WINDOW.as_millis() as i64;
        let left = age.filter(|&a| a >= 0).map_or(window, |a| window - a);
        info!(
            path = STATE_DB,
            key = "gateway-owner/global",
            owner_pid = owner.as_ref().map(|o| o.0),
            owner_host = owner.as_ref().map(|o| &*o.1),
            age_ms = age,
            wait_ms = left,
            "an owner lease written within the start window: its gateway may be starting \
             (OpenClaw writes the lease before it takes the coordinator); the coordinators are \
             let go, and the rows judged after the window"
        );
        Some(Deferred {
            wait: Duration::from_millis(left as u64),
            row: values.clone(),
            columns: table.columns.clone(),
            pid: owner.as_ref().map(|o| o.0),
            host: owner.map(|o| o.1),
        })
    }

    /// The usage refresh lock of one agent's database, judged like a lock
    /// file: its pid in the holder set, old enough.
    fn usage_lock(&mut self, dir: BorrowedFd, path: &str) {
        const NAME: &CStr = c"openclaw-agent.sqlite";
        let Some(db) = self.open(dir, NAME, path, "cache_entries") else {
            return;
        };
        const NEEDED: &[&str] = &["scope", "key", "value_json", "expires_at"];
        let filter = format!("scope = '{USAGE_SCOPE}' AND key = '{USAGE_KEY}'");
        let Some(table) = self.select(&db, "cache_entries", NEEDED, &filter) else {
            return;
        };
        for values in &table.rows {
            let lock = text(table.get(values, "value_json")).and_then(usage_owner);
            let key = format!("{USAGE_SCOPE}/{USAGE_KEY}");
            let mut row = Row {
                database: path.to_owned(),
                table: "cache_entries",
                key: Some(key.clone()),
                pid: lock.map(|l| l.0),
                host: None,
                expires_at: integer(table.get(values, "expires_at")),
                action: RowAction::Kept,
                reason: "",
                detail: None,
            };
            let Some((pid, started_at)) = lock else {
                // OpenClaw itself reads such a value as no lock at all.
                row.reason = "not-a-lock";
                debug!(
                    path,
                    key = &*key,
                    "kept: not a usage refresh lock OpenClaw honours"
                );
                self.summary.add_row(row);
                continue;
            };
            let age_s = (self.now_ms - started_at) / 1000;
            if !self.rules.holders.contains(pid as u64) {
                row.reason = "other-holder";
                info!(path, key = &*key, pid, age_s, holders = %self.rules.holders,
                    "kept: a usage refresh lock held by a pid outside the holder set");
            } else if let Some(min) = self.rules.min_age.filter(|m| age_s < m.as_secs() as i64) {
                row.reason = "too-young";
                info!(
                    path,
                    key = &*key,
                    pid,
                    age_s,
                    min_age_s = min.as_secs(),
                    "kept: a usage refresh lock younger than --min-age"
                );
            } else if self.rules.proof == Proof::Free {
                row.reason = "dead-holder";
                self.remove(dir, NAME, &db, &table, values, &mut row);
            } else {
                row.reason = "unproven";
                warn!(
                    path,
                    key = &*key,
                    pid,
                    age_s,
                    hint = "OpenClaw refreshes no usage summary while this row exists; the sweeper \
                            writes to OpenClaw's databases only when the kernel proves no gateway \
                            runs (liveness free): stop the gateway and run the sweeper on a file \
                            system with shared record locks",
                    "kept: a pid-1 usage refresh lock, but no proof that no OpenClaw process uses the database"
                );
            }
            self.summary.add_row(row);
        }
    }

    /// A database or table whose rows are not judged: a WARN in words (the
    /// SQL, where there is some, at DEBUG) and a row of the report.
    fn not_judged(&mut self, path: &str, table: &'static str, reason: &'static str, why: String) {
        warn!(
            path,
            table,
            reason,
            detail = &*why,
            "kept: this OpenClaw database's rows are not judged"
        );
        self.summary.add_row(Row {
            database: path.to_owned(),
            table,
            key: None,
            pid: None,
            host: None,
            expires_at: None,
            action: RowAction::Kept,
            reason,
            detail: Some(why),
        });
    }

    fn open(
        &mut self,
        dir: BorrowedFd,
        name: &CStr,
        path: &str,
        table: &'static str,
    ) -> Option<Database> {
        match sqlite::open_read_only(dir, name, path, self.deadline) {
            Ok(db) => db,
            Err(refused) => {
                self.not_judged(path, table, "unreadable", refused.to_string());
                None
            }
        }
    }

    /// Every column of the rows of `table` that `filter` selects; `None`
    /// (logged, reported) when the table is not OpenClaw's or cannot be
    /// read, and when there is no such table (a release without it).
    fn select(
        &mut self,
        db: &Database,
        table: &'static str,
        needed: &[&str],
        filter: &str,
    ) -> Option<Table> {
        let columns = match db.table_columns(table) {
            Ok(Some(columns)) => columns,
            Ok(None) => {
                debug!(path = &*db.path, table, "no such table; nothing to judge");
                return None;
            }
            Err(why) => {
                self.not_judged(&db.path, table, "not-openclaws", why);
                return None;
            }
        };
        if let Some(missing) = needed.iter().find(|n| !columns.iter().any(|c| c == *n)) {
            let why = format!("{table} has no column {missing} (another schema)");
            self.not_judged(&db.path, table, "not-openclaws", why);
            return None;
        }
        let sql = format!("SELECT {} FROM {table} WHERE {filter}", columns.join(", "));
        let width = columns.len();
        let result = db.conn.prepare(&sql).and_then(|mut statement| {
            statement
                .query_map([], |r| (0..width).map(|i| r.get::<_, Value>(i)).collect())?
                .collect::<Result<Vec<Vec<Value>>, _>>()
        });
        match result {
            Ok(rows) => Some(Table {
                name: table,
                columns,
                rows,
            }),
            Err(e) => {
                debug!(path = &*db.path, sql = &*sql, error = %e, "the query failed");
                let reason = failure_reason(&e);
                self.not_judged(&db.path, table, reason, e.to_string());
                None
            }
        }
    }

    /// Deletes the judged row, and only it: its every column must still hold
    /// the value it was judged by.
    fn remove(
        &mut self,
        dir: BorrowedFd,
        name: &CStr,
        read: &Database,
        table: &Table,
        values: &[Value],
        row: &mut Row,
    ) {
        let path = &*read.path;
        let key = row.key.clone().unwrap_or_default();
        let key = &*key;
        if self.rules.dry_run {
            row.action = RowAction::WouldRemove;
            info!(
                path,
                key,
                owner_pid = row.pid,
                owner_host = row.host.as_deref(),
                reason = row.reason,
                "would remove stale row (dry run)"
            );
            return;
        }
        let failed = |summary: &mut Summary, row: &mut Row, e: Error| {
            summary.fail(e.path(), &e);
            row.action = RowAction::Failed;
            error!(error = %e, key, "cannot remove stale row");
        };
        let mut db = match sqlite::open_read_write(dir, name, read, self.deadline) {
            Ok(db) => db,
            Err(refused) => {
                let e = Error::Database {
                    path: path.to_owned(),
                    reason: refused.to_string(),
                };
                return failed(self.summary, row, e);
            }
        };
        match delete(&mut db.conn, table, values) {
            Ok(true) => row.action = RowAction::Removed,
            Ok(false) => row.reason = "changed",
            Err(e) if matches!(failure_reason(&e), "busy" | "deadline") => {
                row.reason = failure_reason(&e);
            }
            Err(e) => {
                let e = Error::Database {
                    path: path.to_owned(),
                    reason: e.to_string(),
                };
                let _ = sqlite::close_written(db);
                return failed(self.summary, row, e);
            }
        }
        if let Err(e) = sqlite::close_written(db) {
            return failed(self.summary, row, e);
        }
        match row.action {
            RowAction::Removed => info!(
                path,
                key,
                owner_pid = row.pid,
                owner_host = row.host.as_deref(),
                reason = row.reason,
                "removed stale row"
            ),
            _ if row.reason == "busy" => warn!(
                path,
                key,
                "kept: another process holds this database's write lock; an OpenClaw CLI may be using it"
            ),
            _ if row.reason == "deadline" => warn!(
                path,
                key,
                "kept: the sweep's time for OpenClaw's databases ran out; the next sweep judges it again"
            ),
            _ => warn!(
                path,
                key, "kept: the row changed after it was judged; left in place"
            ),
        }
    }
}

/// `BEGIN IMMEDIATE`, the `DELETE` of exactly the judged row, commit; true
/// when it deleted that one row.
fn delete(
    conn: &mut rusqlite::Connection,
    table: &Table,
    values: &[Value],
) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // The schema read before may have changed since: judged again under the
    // write lock, as the row is.
    if sqlite::table_columns(&tx, table.name)
        .ok()
        .flatten()
        .as_ref()
        != Some(&table.columns)
    {
        return Ok(false);
    }
    let predicate: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} IS ?{}", i + 1))
        .collect();
    let sql = format!(
        "DELETE FROM {} WHERE {}",
        table.name,
        predicate.join(" AND ")
    );
    if tx.execute(&sql, rusqlite::params_from_iter(values))? != 1 {
        // Rolled back on drop: nothing is written.
        return Ok(false);
    }
    tx.commit()?;
    Ok(true)
}

/// Whether a row of this age may be its gateway's start: younger than the
/// window, from a clock ahead of this one, or without a time.
fn within_window(age_ms: Option<i64>) -> bool {
    age_ms.is_none_or(|age| age < START_WINDOW.as_millis() as i64)
}

/// Whether the owner row read after the wait is the lease deferred before
/// it: the same owner, start and payload, renewed (if at all) only within
/// its start window. A starting gateway renews its lease once before it
/// takes the coordinator (its first heartbeat, 0.2 to 0.8 s after writing
/// it); a renewal after the window, with every coordinator free, is no
/// start.
fn same_lease(before: &Deferred, table: &Table, now: &[Value]) -> bool {
    let at = |columns: &[String], row: &[Value], name: &str| {
        columns
            .iter()
            .position(|c| c == name)
            .map(|i| row[i].clone())
    };
    let identity = ["scope", "lease_key", "owner", "payload_json", "created_at"];
    let unchanged = identity
        .iter()
        .all(|c| at(&before.columns, &before.row, c) == at(&table.columns, now, c));
    let window_end =
        integer(table.get(now, "created_at")).map(|t| t + START_WINDOW.as_millis() as i64);
    let renewed_late = ["heartbeat_at", "updated_at"].iter().any(|c| {
        match (integer(table.get(now, c)), window_end) {
            (Some(t), Some(end)) => t > end,
            _ => false,
        }
    });
    unchanged && !renewed_late
}

fn sqlite_exists(dir: BorrowedFd, name: &CStr) -> bool {
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::Text(s) => Some(s),
        _ => None,
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(n) => Some(*n),
        _ => None,
    }
}

/// `{"owner": {"pid", "host", ...}}`, as OpenClaw's own parser takes it.
fn lease_owner(payload: &str) -> Option<(i64, String)> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    let owner = value.get("owner")?;
    let pid = owner.get("pid")?.as_i64().filter(|&p| p > 0)?;
    let host = owner.get("host")?.as_str().filter(|h| !h.is_empty())?;
    Some((pid, host.to_owned()))
}

/// `{"pid", "startedAt", "ownerNonce"}`: pid and start (ms), or `None` for
/// what OpenClaw would not read as a lock.
fn usage_owner(value: &str) -> Option<(i64, i64)> {
    let value: serde_json::Value = serde_json::from_str(value).ok()?;
    let pid = value.get("pid")?.as_i64().filter(|&p| p > 0)?;
    let started_at = value.get("startedAt")?.as_f64()? as i64;
    value
        .get("ownerNonce")?
        .as_str()
        .filter(|n| !n.is_empty())?;
    Some((pid, started_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delete_repeats_every_column_the_blob_too() {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE cache_entries (scope TEXT NOT NULL, key TEXT NOT NULL, \
             value_json TEXT, blob BLOB, expires_at INTEGER, updated_at INTEGER NOT NULL, \
             PRIMARY KEY (scope, key)) STRICT; \
             INSERT INTO cache_entries VALUES ('session-cost-usage', 'refresh-lock', '{}', \
             x'01', NULL, 5)",
        )
        .unwrap();
        let columns = sqlite::table_columns(&conn, "cache_entries")
            .unwrap()
            .unwrap();
        assert_eq!(columns.len(), 6);
        let table = Table {
            name: "cache_entries",
            columns,
            rows: Vec::new(),
        };
        let judged = |blob: u8| {
            vec![
                Value::Text("session-cost-usage".into()),
                Value::Text("refresh-lock".into()),
                Value::Text("{}".into()),
                Value::Blob(vec![blob]),
                Value::Null,
                Value::Integer(5),
            ]
        };
        // Judged with another blob: the row is not the one judged.
        assert!(!delete(&mut conn, &table, &judged(2)).unwrap());
        let left: i64 = conn
            .query_row("SELECT count(*) FROM cache_entries", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1);
        assert!(delete(&mut conn, &table, &judged(1)).unwrap());
    }
}
