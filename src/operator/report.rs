//! What the operator sees: the summary, the JSON report, and paths made safe
//! to print (the logging set-up is `log.rs`).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tracing::{info, warn};

use crate::error::Error;
use crate::operator::log::{NOT_SHOWN_AS_IS, any_byte, breaks_a_line};

/// Why a candidate was left in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    NotRegularFile,
    TooLarge,
    NotALock,
    OtherHolder,
    TooYoung,
    /// Replaced or rewritten between the judgement and the removal.
    Changed,
    /// Removed by someone else first.
    Vanished,
    /// Moved aside by an interrupted sweep.
    Leftover,
    /// A directory named like a lock that holds something.
    NotEmpty,
    /// A live gateway holds the state dir (the kernel says so).
    LiveGateway,
    /// Unfinished, but a live process holds a lock on it (the kernel says so).
    Locked,
}

/// What a removal removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// A signed lock whose holder cannot be alive.
    Lock,
    /// An empty or cut-short lock file.
    Torn,
    /// An empty `<lock>.reclaim` directory (or a reclaim guard file).
    ReclaimGuard,
    /// An empty directory lock of releases before 2026.9 (proper-lockfile).
    DirectoryLock,
}

impl Removed {
    pub const ALL: [Removed; 4] = [
        Removed::Lock,
        Removed::Torn,
        Removed::ReclaimGuard,
        Removed::DirectoryLock,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Removed::Lock => "lock",
            Removed::Torn => "torn-lock",
            Removed::ReclaimGuard => "reclaim-guard",
            Removed::DirectoryLock => "directory-lock",
        }
    }
}

impl Kept {
    pub const ALL: [Kept; 11] = [
        Kept::NotRegularFile,
        Kept::TooLarge,
        Kept::NotALock,
        Kept::OtherHolder,
        Kept::TooYoung,
        Kept::Changed,
        Kept::Vanished,
        Kept::Leftover,
        Kept::NotEmpty,
        Kept::LiveGateway,
        Kept::Locked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kept::NotRegularFile => "not-regular-file",
            Kept::TooLarge => "too-large",
            Kept::NotALock => "not-a-lock",
            Kept::OtherHolder => "other-holder",
            Kept::TooYoung => "too-young",
            Kept::Changed => "changed",
            Kept::Vanished => "vanished",
            Kept::Leftover => "leftover",
            Kept::NotEmpty => "not-empty",
            Kept::LiveGateway => "live-gateway",
            Kept::Locked => "locked",
        }
    }
}

/// A row of OpenClaw's SQLite databases that holds a lock, as judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The database, relative to the state dir.
    pub database: String,
    pub table: &'static str,
    /// `scope/key` of the row; `None` for a database or table whose rows
    /// were not read.
    pub key: Option<String>,
    /// The owner it names.
    pub pid: Option<i64>,
    pub host: Option<String>,
    /// Milliseconds since the epoch, when the row has an expiry.
    pub expires_at: Option<i64>,
    pub action: RowAction,
    /// Why, in one word (`dead-gateway`, `unproven`, `same-host`, ...).
    pub reason: &'static str,
    /// What was wrong with a database or table that was not read.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowAction {
    Removed,
    WouldRemove,
    Kept,
    Failed,
}

impl RowAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RowAction::Removed => "removed",
            RowAction::WouldRemove => "would-remove",
            RowAction::Kept => "kept",
            RowAction::Failed => "failed",
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Paths that matched a pattern and were judged.
    pub scanned: u64,
    /// Stale locks removed (in a dry run: that would have been removed).
    pub swept: u64,
    /// `swept` by what was removed.
    removed: [u64; Removed::ALL.len()],
    kept: [u64; Kept::ALL.len()],
    pub errors: u64,
    /// What the kernel said about a live gateway (`attached`, `free`,
    /// `unknown`); `None` when not asked (watch mode, `--liveness pids`).
    pub liveness: Option<&'static str>,
    /// Who holds the gateway lock when attached: `openclaw` (a POSIX record
    /// lock, SQLite's) or `sweeper` (an open-file-description lock).
    pub attached_by: Option<&'static str>,
    /// The paths themselves (as shown in the log), only when the JSON report
    /// asks for them: memory then grows with the number of candidates.
    paths: Option<Paths>,
    /// The lock rows found in OpenClaw's databases (a few at most).
    pub rows: Vec<Row>,
    /// Swept paths under `locks/oauth-refresh/`, whatever the report.
    pub refresh_locks: Vec<String>,
    /// The auth profiles with a failure recorded, after the sweep.
    pub profiles: Vec<Profile>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Paths {
    swept: Vec<(String, Removed)>,
    kept: Vec<(String, Kept)>,
    /// Each error with the path it names.
    failed: Vec<(String, String)>,
}

impl Summary {
    /// A summary that also records every swept and kept path.
    pub fn with_paths() -> Summary {
        Summary {
            paths: Some(Paths::default()),
            ..Summary::default()
        }
    }

    pub fn keep(&mut self, why: Kept, path: &str) {
        self.kept[why as usize] += 1;
        if let Some(paths) = &mut self.paths {
            paths.kept.push((path.to_owned(), why));
        }
    }

    /// A stale lock removed (in a dry run: that would have been removed).
    pub fn add_swept(&mut self, what: Removed, path: &str) {
        self.swept += 1;
        self.removed[what as usize] += 1;
        if path.starts_with("locks/oauth-refresh/") {
            self.refresh_locks.push(path.to_owned());
        }
        if let Some(paths) = &mut self.paths {
            paths.swept.push((path.to_owned(), what));
        }
    }

    /// An error of the sweep: counted, and listed in the JSON report.
    pub fn fail(&mut self, path: &str, error: &dyn std::fmt::Display) {
        self.errors += 1;
        if let Some(paths) = &mut self.paths {
            paths.failed.push((path.to_owned(), error.to_string()));
        }
    }

    pub fn add_row(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Rows removed (in a dry run: that would have been removed).
    fn rows_swept(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r.action, RowAction::Removed | RowAction::WouldRemove))
            .count()
    }

    /// Adds the counts of `other` (a watch pass); its paths are not kept.
    pub fn add(&mut self, other: &Summary) {
        self.scanned += other.scanned;
        self.swept += other.swept;
        for (total, n) in self.removed.iter_mut().zip(other.removed) {
            *total += n;
        }
        for (total, n) in self.kept.iter_mut().zip(other.kept) {
            *total += n;
        }
        self.errors += other.errors;
    }

    pub fn kept(&self, why: Kept) -> u64 {
        self.kept[why as usize]
    }

    pub fn removed(&self, what: Removed) -> u64 {
        self.removed[what as usize]
    }

    /// `other-holder:2 not-a-lock:1`, non-zero reasons only.
    fn kept_line(&self) -> String {
        let parts: Vec<String> = Kept::ALL
            .iter()
            .filter(|&&k| self.kept(k) > 0)
            .map(|&k| format!("{}:{}", k.as_str(), self.kept(k)))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(" ")
        }
    }

    pub fn log(&self, elapsed: Duration, dry_run: bool, exit_code: i32) {
        let rows_kept = self.rows.len() - self.rows_swept();
        // A dry run removes nothing: its counts say "would".
        if dry_run {
            info!(
                scanned = self.scanned,
                would_sweep = self.swept,
                kept = %self.kept_line(),
                errors = self.errors,
                elapsed_us = micros(elapsed),
                dry_run,
                exit_code,
                rows_would_remove = self.rows_swept(),
                rows_kept,
                "dry run finished: nothing was removed"
            );
        } else {
            info!(
                scanned = self.scanned,
                swept = self.swept,
                kept = %self.kept_line(),
                errors = self.errors,
                elapsed_us = micros(elapsed),
                dry_run,
                exit_code,
                rows_swept = self.rows_swept(),
                rows_kept,
                "sweep finished"
            );
        }
    }

    /// The JSON report (`--report json`) of a sweep that ran; see
    /// `schema/report.schema.json`.
    pub fn to_json(
        &self,
        (state_dir, source): (&Path, &str),
        dry_run: bool,
        elapsed: Duration,
        exit_code: i32,
    ) -> String {
        let kept: serde_json::Map<String, serde_json::Value> = Kept::ALL
            .iter()
            .map(|&k| (k.as_str().to_owned(), self.kept(k).into()))
            .collect();
        let removed: serde_json::Map<String, serde_json::Value> = Removed::ALL
            .iter()
            .map(|&r| (r.as_str().to_owned(), self.removed(r).into()))
            .collect();
        let paths = self.paths.as_ref();
        let swept_paths: Vec<serde_json::Value> = paths
            .map_or(&[][..], |p| &p.swept)
            .iter()
            .map(|(path, what)| json!({"path": path, "kind": what.as_str()}))
            .collect();
        let kept_paths: Vec<serde_json::Value> = paths
            .map_or(&[][..], |p| &p.kept)
            .iter()
            .map(|(path, why)| json!({"path": path, "reason": why.as_str()}))
            .collect();
        let error_paths: Vec<serde_json::Value> = paths
            .map_or(&[][..], |p| &p.failed)
            .iter()
            .map(|(path, error)| json!({"path": path, "error": error}))
            .collect();
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "database": r.database,
                    "table": r.table,
                    "key": r.key,
                    "owner_pid": r.pid,
                    "owner_host": r.host,
                    "expires_at": r.expires_at,
                    "action": r.action.as_str(),
                    "reason": r.reason,
                    "detail": r.detail,
                })
            })
            .collect();
        // A dry run removes nothing: what it found goes under `would_*`,
        // and the fields that say what was removed stay zero.
        let none: serde_json::Map<String, serde_json::Value> = Removed::ALL
            .iter()
            .map(|&r| (r.as_str().to_owned(), 0.into()))
            .collect();
        let (done, would) = if dry_run {
            ((0, none, Vec::new()), (self.swept, removed, swept_paths))
        } else {
            ((self.swept, removed, swept_paths), (0, none, Vec::new()))
        };
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "state_dir": shown(state_dir),
            "state_dir_source": source,
            "dry_run": dry_run,
            "liveness": self.liveness,
            "attached_by": self.attached_by,
            "scanned": self.scanned,
            "swept": done.0,
            "removed": done.1,
            "would_sweep": would.0,
            "would_remove": would.1,
            "kept": kept,
            "errors": self.errors,
            "swept_paths": done.2,
            "would_remove_paths": would.2,
            "kept_paths": kept_paths,
            "error_paths": error_paths,
            "rows": rows,
            "profiles": self.profiles.iter().map(|p| p.to_json()).collect::<Vec<_>>(),
            "elapsed_us": micros(elapsed),
            "exit_code": exit_code,
        })
        .to_string()
    }
}

/// The JSON report when nothing was swept: a usage error (exit 2), or a
/// state dir that could not be used. `state_dir` when it was resolved.
pub fn error_json(error: &Error, exit_code: i32, state_dir: Option<(&Path, &str)>) -> String {
    let mut report = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "error": error.to_string(),
        "exit_code": exit_code,
    });
    if let Some((dir, source)) = state_dir {
        report["state_dir"] = shown(dir).into();
        report["state_dir_source"] = source.into();
    }
    report.to_string()
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

// === The auth profiles' state, as profiles/ reads it ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Only `openclaw models auth login` cures it.
    Permanent,
    /// A cooldown that ends by itself.
    Transient,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Permanent => "permanent",
            State::Transient => "transient",
        }
    }
}

/// One auth profile with a failure recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: String,
    pub provider: Option<String>,
    pub state: State,
    /// As OpenClaw recorded it: `auth_permanent`, `wham_account_dead`,
    /// `auth`, `timeout`.
    pub reason: String,
    /// `lastFailureAt`, milliseconds since the epoch.
    pub at: Option<i64>,
    /// Where it was read, relative to the state dir.
    pub source: String,
    /// What to do: the re-login command, or why none is needed.
    pub hint: String,
    /// Why, as the gateway's log told it, where a log was reachable.
    pub logged: Option<Logged>,
}

impl Profile {
    /// The same failure as `other` (a watch pass logs only what changed).
    pub fn same_failure(&self, other: &Profile) -> bool {
        (&self.source, &self.id, self.state, &self.reason, self.at)
            == (
                &other.source,
                &other.id,
                other.state,
                &other.reason,
                other.at,
            )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "provider": self.provider,
            "state": self.state.as_str(),
            "reason": self.reason,
            "at": self.at,
            "source": self.source,
            "hint": self.hint,
            "logged_reason": self.logged.as_ref().map(|l| l.reason),
            "logged_in": self.logged.as_ref().map(|l| &l.file),
        })
    }

    /// Logs the profile: WARN for a dead token, INFO for a cooldown.
    pub fn log(&self) {
        let failed_at = self.at.map(utc);
        let logged = self.logged.as_ref().map(|l| l.reason);
        let logged_in = self.logged.as_ref().map(|l| &*l.file);
        match self.state {
            State::Permanent => warn!(
                profile = &*self.id,
                provider = self.provider.as_deref(),
                reason = &*self.reason,
                logged,
                logged_in,
                failed_at = failed_at.as_deref(),
                source = &*self.source,
                hint = &*self.hint,
                "auth profile needs a re-login: its refresh token is dead, and no sweep can fix that"
            ),
            State::Transient => info!(
                profile = &*self.id,
                provider = self.provider.as_deref(),
                reason = &*self.reason,
                logged,
                logged_in,
                failed_at = failed_at.as_deref(),
                source = &*self.source,
                hint = &*self.hint,
                "auth profile in a transient cooldown: no re-login needed"
            ),
        }
    }
}

/// What OpenClaw logged of one failed refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// OpenClaw's own name for it: `refresh_contention`, `refresh_timeout`, or
    /// one of `classifyOAuthRefreshFailureReason`'s.
    pub reason: &'static str,
    /// The log file it was read from.
    pub file: String,
}

/// Milliseconds since the epoch as `2026-12-06T04:38:15Z`.
fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = crate::operator::log::civil_from_days(secs.div_euclid(86_400).max(0) as u64);
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// A path as it is safe to print on one log line: control characters,
/// backslashes and bytes that are not UTF-8 are escaped, so a hostile file
/// name cannot forge or break a log line.
pub fn shown(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return ".".into();
    }
    // Nearly every path: printable ASCII without a backslash, shown as is.
    if !any_byte(bytes, NOT_SHOWN_AS_IS) {
        return String::from_utf8(bytes.to_vec()).expect("ASCII");
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if breaks_a_line(c) || c == '\\' {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn shown_escapes_what_could_break_a_log_line() {
        let p = |b: &[u8]| shown(Path::new(OsStr::from_bytes(b)));
        assert_eq!(p(b"locks/a.lock"), "locks/a.lock");
        assert_eq!(p(b"a\nINFO fake.lock"), "a\\nINFO fake.lock");
        assert_eq!(p(b"\xff\xfe.lock"), "\\xff\\xfe.lock");
        assert_eq!(p(b"a\\b\x1b[31m"), "a\\\\b\\u{1b}[31m");
        assert_eq!(p(b"caf\xc3\xa9.lock"), "caf\u{e9}.lock");
        assert_eq!(p(b""), ".");
        assert_eq!(p(b"a b~/!.lock"), "a b~/!.lock");
        assert_eq!(p(b"a\x7f.lock"), "a\\u{7f}.lock");
        // The line and paragraph separators and the bidi controls too.
        let hostile = "a\nb\u{1b}[31mc\u{2028}d\u{2029}e\u{202e}f\u{2066}g\u{7f}";
        assert_eq!(
            shown(Path::new(hostile)),
            "a\\nb\\u{1b}[31mc\\u{2028}d\\u{2029}e\\u{202e}f\\u{2066}g\\u{7f}"
        );
    }

    #[test]
    fn summary_counts_and_reports() {
        let mut s = Summary::default();
        s.keep(Kept::OtherHolder, "locks/a.lock");
        s.keep(Kept::OtherHolder, "locks/b.lock");
        s.keep(Kept::NotALock, "locks/c.lock");
        s.add_swept(Removed::Lock, "locks/d.lock");
        assert_eq!(s.kept(Kept::OtherHolder), 2);
        assert_eq!(s.kept_line(), "not-a-lock:1 other-holder:2");
        let dry_report = |s: &Summary, dry: bool| -> serde_json::Value {
            let dir = (Path::new("/s"), "--state-dir");
            serde_json::from_str(&s.to_json(dir, dry, Duration::from_micros(3_456), 0)).unwrap()
        };
        let report = |s: &Summary| dry_report(s, false);
        let json = report(&s);
        assert_eq!(json["kept"]["other-holder"], 2);
        assert_eq!(json["kept"]["too-young"], 0);
        assert_eq!(json["removed"]["lock"], 1);
        assert_eq!(json["swept"], 1);
        assert_eq!(json["would_sweep"], 0);
        assert_eq!(json["dry_run"], false);
        // A dry run removed nothing, and says what it would have.
        let json = dry_report(&s, true);
        assert_eq!(
            (&json["swept"], &json["removed"]["lock"]),
            (&json!(0), &json!(0))
        );
        assert_eq!(
            (&json["would_sweep"], &json["would_remove"]["lock"]),
            (&json!(1), &json!(1))
        );
        assert_eq!(json["elapsed_us"], 3_456);
        assert_eq!(json["state_dir_source"], "--state-dir");
        assert_eq!(json["kept_paths"], serde_json::json!([]), "not collected");
        assert_eq!(Summary::default().kept_line(), "none");

        let mut s = Summary::with_paths();
        s.keep(Kept::NotALock, "locks/c.lock");
        s.add_swept(Removed::Torn, "locks/d.lock");
        let json = report(&s);
        assert_eq!(
            json["kept_paths"],
            serde_json::json!([{"path": "locks/c.lock", "reason": "not-a-lock"}])
        );
        assert_eq!(
            json["swept_paths"],
            serde_json::json!([{"path": "locks/d.lock", "kind": "torn-lock"}])
        );
    }

    #[test]
    fn error_report_carries_the_message() {
        let e = Error::Usage("--min-age: invalid duration \"5\"".into());
        let json: serde_json::Value = serde_json::from_str(&error_json(&e, 2, None)).unwrap();
        assert_eq!(json["error"], "--min-age: invalid duration \"5\"");
        assert_eq!(json["exit_code"], 2);
        assert!(json.get("state_dir").is_none());
        let dir = Some((Path::new("/s"), "HOME"));
        let json: serde_json::Value = serde_json::from_str(&error_json(&e, 1, dir)).unwrap();
        assert_eq!(
            (&json["state_dir"], &json["state_dir_source"]),
            (&"/s".into(), &"HOME".into())
        );
    }

    /// The schema names every reason and kind the report can carry, and no other.
    #[test]
    fn schema_lists_every_reason_and_kind() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/report.schema.json")).unwrap();
        let sweep = &schema["$defs"]["sweep"]["properties"];
        let kept: Vec<&str> = Kept::ALL.iter().map(|k| k.as_str()).collect();
        let removed: Vec<&str> = Removed::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(sweep["kept"]["required"], json!(kept));
        assert_eq!(
            sweep["kept_paths"]["items"]["properties"]["reason"]["enum"],
            json!(kept)
        );
        assert_eq!(sweep["removed"]["required"], json!(removed));
        assert_eq!(
            sweep["swept_paths"]["items"]["properties"]["kind"]["enum"],
            json!(removed)
        );
        assert_eq!(sweep["would_remove"]["required"], json!(removed));
        assert_eq!(
            sweep["would_remove_paths"]["items"]["properties"]["kind"]["enum"],
            json!(removed)
        );
    }
}
