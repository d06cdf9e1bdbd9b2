//! Leftovers OpenClaw keeps in SQLite rows rather than files (2026.9.x):
//!
//! - `state/openclaw.sqlite`, `state_leases`: the `gateway-owner` lease. A
//!   gateway publishes it only while it holds the gateway coordinator and
//!   deletes it before it lets the coordinator go (also across an
//!   in-process restart), so under the **free** verdict any such row is a
//!   dead gateway's. OpenClaw reclaims a dead owner's row only from the same
//!   hostname: a gateway in a new pod cannot start until it expires (5 min).
//! - the same table's `startup-migrations` lease, which `openclaw doctor` and
//!   the gateway's preflight take *without* the coordinator: even free does
//!   not prove its owner dead, so it is reported, never removed.
//! - `agents/<id>/agent/openclaw-agent.sqlite`, `cache_entries`: the usage
//!   refresh lock (`session-cost-usage`/`refresh-lock`), stale only when its
//!   pid is dead: a pid-1 row blocks every later usage refresh, forever.
//!
//! Rows are written only under free (no OpenClaw process can be using the
//! databases); otherwise a row that would stop the gateway is reported with
//! what cures it.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::TransactionBehavior;
use rusqlite::types::Value;
use tracing::{debug, error, info, warn};

use crate::config::Holders;
use crate::error::Error;
use crate::report::{Row, RowAction, Summary, shown};
use crate::sqlite::{self, Database};

/// What the kernel proved about the state dir, for the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// This sweep holds every gateway coordinator: no gateway nor embedded
    /// writer runs, and none can start.
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
}

/// The lease rows of `state_leases` that stop a gateway start from another
/// hostname until they expire.
const LEASES: [&str; 2] = ["gateway-owner", "startup-migrations"];
const USAGE_SCOPE: &str = "session-cost-usage";
const USAGE_KEY: &str = "refresh-lock";

/// Judges (and under free, removes) the rows of the state dir at `root`.
pub fn sweep(root: BorrowedFd, rules: &Rules, summary: &mut Summary) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut sweeper = Rows {
        rules,
        summary,
        now_ms,
        host: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
    };
    // Releases before 2026.9 have no state database, nor these rows: one
    // lookup and done.
    let Some(state) = sqlite::open_dir(root, c"state") else {
        return;
    };
    if !sweeper.leases(state.as_fd()) {
        return;
    }
    let Some(agents) = sqlite::open_dir(root, c"agents") else {
        return;
    };
    let Ok(mut entries) = rustix::fs::Dir::read_from(&agents) else {
        return;
    };
    let mut ids: Vec<_> = entries
        .by_ref()
        .filter_map(Result::ok)
        .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
        .map(|e| e.file_name().to_owned())
        .collect();
    ids.sort();
    for id in ids {
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
}

struct Rows<'a, 'r> {
    rules: &'a Rules<'r>,
    summary: &'a mut Summary,
    now_ms: i64,
    host: String,
}

/// One row as it was read: the values the `DELETE` repeats.
struct Judged {
    table: &'static str,
    columns: &'static [&'static str],
    values: Vec<Value>,
}

impl Rows<'_, '_> {
    /// The state database's lease rows; false when there is no state
    /// database (then no agent database is looked for either).
    fn leases(&mut self, dir: BorrowedFd) -> bool {
        const NAME: &CStr = c"openclaw.sqlite";
        const PATH: &str = "state/openclaw.sqlite";
        let Some(db) = self.open(dir, NAME, PATH) else {
            return sqlite_exists(dir, NAME);
        };
        const COLUMNS: &[&str] = &[
            "scope",
            "lease_key",
            "owner",
            "expires_at",
            "heartbeat_at",
            "payload_json",
            "created_at",
            "updated_at",
        ];
        let sql = format!(
            "SELECT {} FROM state_leases WHERE lease_key = 'global' AND scope IN ('{}', '{}') \
             ORDER BY scope",
            COLUMNS.join(", "),
            LEASES[0],
            LEASES[1]
        );
        let Some(rows) = self.select(&db, "state_leases", &sql, COLUMNS.len()) else {
            return true;
        };
        for values in rows {
            let scope = text(&values[0]).unwrap_or_default().to_owned();
            let expires_at = integer(&values[3]);
            let owner = text(&values[5]).and_then(lease_owner);
            let mut row = Row {
                database: PATH.to_owned(),
                table: "state_leases",
                key: format!("{scope}/global"),
                pid: owner.as_ref().map(|o| o.0),
                host: owner.as_ref().map(|o| o.1.clone()),
                expires_at,
                action: RowAction::Kept,
                reason: "",
            };
            let judged = Judged {
                table: "state_leases",
                columns: COLUMNS,
                values,
            };
            let same_host = row.host.as_deref() == Some(&*self.host);
            let expires_in_s = expires_at.map(|t| (t - self.now_ms) / 1000);
            if expires_at.is_some_and(|t| t <= self.now_ms) {
                // OpenClaw deletes an expired lease before it takes one.
                row.reason = "expired";
                debug!(
                    path = PATH,
                    key = &*row.key,
                    "kept: an expired lease; OpenClaw drops it itself"
                );
            } else if scope == "gateway-owner" && self.rules.proof == Proof::Free {
                row.reason = "dead-gateway";
                self.remove(dir, NAME, &db, &judged, &mut row);
            } else if same_host {
                // OpenClaw reclaims a same-host owner whose process is gone,
                // and a new container's pid has another start time.
                row.reason = "same-host";
                info!(
                    path = PATH,
                    key = &*row.key,
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
                    path = PATH,
                    key = &*row.key,
                    owner_pid = row.pid,
                    owner_host = row.host.as_deref(),
                    expires_in_s,
                    reason = row.reason,
                    hint = "a gateway under another hostname cannot start until this lease expires, \
                            unless its owner is alive: pin the gateway's hostname (the pod's \
                            spec.hostname, compose `hostname:`) so OpenClaw reclaims its own lease",
                    "kept: a lease of another hostname that the kernel cannot prove dead"
                );
            }
            self.summary.add_row(row);
        }
        true
    }

    /// The usage refresh lock of one agent's database, judged like a lock
    /// file: its pid in the holder set, old enough.
    fn usage_lock(&mut self, dir: BorrowedFd, path: &str) {
        const NAME: &CStr = c"openclaw-agent.sqlite";
        let Some(db) = self.open(dir, NAME, path) else {
            return;
        };
        const COLUMNS: &[&str] = &["scope", "key", "value_json", "expires_at", "updated_at"];
        let sql = format!(
            "SELECT {} FROM cache_entries WHERE scope = '{USAGE_SCOPE}' AND key = '{USAGE_KEY}'",
            COLUMNS.join(", ")
        );
        let Some(rows) = self.select(&db, "cache_entries", &sql, COLUMNS.len()) else {
            return;
        };
        for values in rows {
            let lock = text(&values[2]).and_then(usage_owner);
            let mut row = Row {
                database: path.to_owned(),
                table: "cache_entries",
                key: format!("{USAGE_SCOPE}/{USAGE_KEY}"),
                pid: lock.map(|l| l.0),
                host: None,
                expires_at: integer(&values[3]),
                action: RowAction::Kept,
                reason: "",
            };
            let judged = Judged {
                table: "cache_entries",
                columns: COLUMNS,
                values,
            };
            let Some((pid, started_at)) = lock else {
                // OpenClaw itself reads such a value as no lock at all.
                row.reason = "not-a-lock";
                debug!(
                    path,
                    key = &*row.key,
                    "kept: not a usage refresh lock OpenClaw honours"
                );
                self.summary.add_row(row);
                continue;
            };
            let age_s = (self.now_ms - started_at) / 1000;
            if !self.rules.holders.contains(pid as u64) {
                row.reason = "other-holder";
                info!(path, key = &*row.key, pid, age_s, holders = %self.rules.holders,
                    "kept: a usage refresh lock held by a pid outside the holder set");
            } else if let Some(min) = self.rules.min_age.filter(|m| age_s < m.as_secs() as i64) {
                row.reason = "too-young";
                info!(
                    path,
                    key = &*row.key,
                    pid,
                    age_s,
                    min_age_s = min.as_secs(),
                    "kept: a usage refresh lock younger than --min-age"
                );
            } else if self.rules.proof == Proof::Free {
                row.reason = "dead-holder";
                self.remove(dir, NAME, &db, &judged, &mut row);
            } else {
                row.reason = "unproven";
                warn!(
                    path,
                    key = &*row.key,
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

    fn open(&mut self, dir: BorrowedFd, name: &CStr, path: &str) -> Option<Database> {
        match sqlite::open_read_only(dir, name, path) {
            Ok(db) => db,
            Err(refused) => {
                warn!(path, reason = %refused, "kept: cannot read this OpenClaw database; its rows are not judged");
                None
            }
        }
    }

    /// The rows `sql` selects; `None` (logged) when the table is not there
    /// (a release without it) or cannot be read.
    fn select(
        &mut self,
        db: &Database,
        table: &str,
        sql: &str,
        width: usize,
    ) -> Option<Vec<Vec<Value>>> {
        let result = db.conn.prepare(sql).and_then(|mut statement| {
            statement
                .query_map([], |r| (0..width).map(|i| r.get::<_, Value>(i)).collect())?
                .collect::<Result<Vec<Vec<Value>>, _>>()
        });
        match result {
            Ok(rows) => Some(rows),
            Err(e) if e.to_string().starts_with("no such table") => {
                debug!(path = &*db.path, table, "no such table; nothing to judge");
                None
            }
            Err(e) => {
                warn!(path = &*db.path, table, reason = %e, "kept: cannot read this OpenClaw table; its rows are not judged");
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
        judged: &Judged,
        row: &mut Row,
    ) {
        let path = &*read.path;
        let key = &*row.key;
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
            error!(error = %e, key = &*row.key, "cannot remove stale row");
        };
        let mut db = match sqlite::open_read_write(dir, name, read) {
            Ok(db) => db,
            Err(refused) => {
                let e = Error::Database {
                    path: path.to_owned(),
                    reason: refused.to_string(),
                };
                return failed(self.summary, row, e);
            }
        };
        match delete(&mut db.conn, judged) {
            Ok(true) => row.action = RowAction::Removed,
            Ok(false) => row.reason = "changed",
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
                row.reason = "busy";
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
            _ => warn!(
                path,
                key, "kept: the row changed after it was judged; left in place"
            ),
        }
    }
}

/// `BEGIN IMMEDIATE`, the `DELETE` of exactly the judged row, commit; true
/// when it deleted that one row.
fn delete(conn: &mut rusqlite::Connection, judged: &Judged) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let predicate: Vec<String> = judged
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} IS ?{}", i + 1))
        .collect();
    let sql = format!(
        "DELETE FROM {} WHERE {}",
        judged.table,
        predicate.join(" AND ")
    );
    if tx.execute(&sql, rusqlite::params_from_iter(&judged.values))? != 1 {
        // Rolled back on drop: nothing is written.
        return Ok(false);
    }
    tx.commit()?;
    Ok(true)
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
