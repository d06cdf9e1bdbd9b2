//! What the operator sees: logging set-up, the summary, and paths made safe
//! to print.

use std::fmt::Write as _;
use std::io::{BufWriter, Stderr, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{self, FormatTime};
use tracing_subscriber::layer::SubscriberExt;

use crate::cli::{LogFormat, LogLevel};
use crate::error::Error;

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
    const ALL: [Kept; 11] = [
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
    /// `scope/key` of the row.
    pub key: String,
    /// The owner it names.
    pub pid: Option<i64>,
    pub host: Option<String>,
    /// Milliseconds since the epoch, when the row has an expiry.
    pub expires_at: Option<i64>,
    pub action: RowAction,
    /// Why, in one word (`dead-gateway`, `unproven`, `same-host`, ...).
    pub reason: &'static str,
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
    pub profiles: Vec<crate::profiles::Profile>,
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
        tracing::info!(
            scanned = self.scanned,
            swept = self.swept,
            kept = %self.kept_line(),
            errors = self.errors,
            elapsed_us = micros(elapsed),
            dry_run,
            exit_code,
            rows_swept = self.rows_swept(),
            rows_kept = self.rows.len() - self.rows_swept(),
            "sweep finished"
        );
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
                })
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "state_dir": shown(state_dir),
            "state_dir_source": source,
            "dry_run": dry_run,
            "liveness": self.liveness,
            "attached_by": self.attached_by,
            "scanned": self.scanned,
            "swept": self.swept,
            "removed": removed,
            "kept": kept,
            "errors": self.errors,
            "swept_paths": swept_paths,
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

// === Logging ===

/// The crate's own log target: every event of the sweeper has it, or a
/// `openclaw_lock_sweeper::module` target under it.
const OWN_TARGET: &str = env!("CARGO_CRATE_NAME");

/// Parses a log filter (`info`, `debug`, `warn,openclaw_lock_sweeper::walk=trace`)
/// and widens it so the sweeper's own INFO lines always show: what it removed
/// is the one thing an operator must be able to read afterwards. `true` when
/// it was widened. A word without `=` must be a level: `loud` is a typo, not
/// a target to enable.
pub fn log_filter(filter: &str) -> Result<(Targets, bool), String> {
    for part in filter.split(',').map(str::trim) {
        let level = match part.split_once('=') {
            _ if part.is_empty() => continue,
            None => part,
            Some((target, _)) if target.trim().is_empty() => {
                return Err(format!("{part:?} names no target before '='"));
            }
            Some((_, level)) => level.trim(),
        };
        // (An empty level would parse as `error`.)
        if level.is_empty() || level.parse::<LevelFilter>().is_err() {
            return Err(format!(
                "{level:?} is not a level (error, warn, info, debug, trace, off); \
                 a per-target level is written TARGET=LEVEL"
            ));
        }
    }
    let given: Targets = filter.trim().parse().map_err(|e| format!("{e}"))?;
    let ours = |target: &str| {
        target == OWN_TARGET
            || target
                .strip_prefix(OWN_TARGET)
                .is_some_and(|rest| rest.starts_with("::"))
    };
    let mut widened = false;
    let mut filter = match given.default_level() {
        Some(level) => Targets::new().with_default(level),
        None => Targets::new(),
    };
    for (target, level) in given.iter() {
        if ours(target) && level < LevelFilter::INFO {
            widened = true;
            filter = filter.with_target(target, LevelFilter::INFO);
        } else {
            filter = filter.with_target(target, level);
        }
    }
    if !filter.would_enable(OWN_TARGET, &tracing::Level::INFO) {
        widened = true;
        filter = filter.with_target(OWN_TARGET, LevelFilter::INFO);
    }
    Ok((filter, widened))
}

/// Logs go to stderr, so stdout carries only the report an operator asks for.
pub fn init_logging(format: LogFormat, level: &LogLevel) {
    let builder = tracing_subscriber::fmt()
        .with_writer(|| LogWriter(LOG.lock().unwrap_or_else(|e| e.into_inner())))
        .with_ansi(false)
        .with_target(false)
        .with_timer(Timestamp::default())
        // The filter below decides; the builder's own default stops at info.
        .with_max_level(LevelFilter::TRACE);
    let targets = level.filter.clone();
    let subscriber: Box<dyn tracing::Subscriber + Send + Sync> = match format {
        LogFormat::Text => Box::new(builder.fmt_fields(Fields).finish().with(targets)),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish().with(targets)),
    };
    tracing::subscriber::set_global_default(subscriber).expect("logging is set up once");
    if let Some((given, source)) = &level.widened {
        tracing::warn!(
            filter = %given,
            from = %source,
            "the log filter would hide the sweeper's own info lines; they are logged anyway"
        );
    }
}

/// The timestamps of tracing-subscriber's own `SystemTime` timer (UTC,
/// microseconds, `2026-11-25T14:36:21.106410Z`), with the date and time of
/// day turned from the clock once a second rather than for every line: that
/// was 8% of the sweep's user-space instructions at 10k locks.
#[derive(Default)]
struct Timestamp(Mutex<(u64, String)>);

impl FormatTime for Timestamp {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let Ok(now) = SystemTime::now().duration_since(UNIX_EPOCH) else {
            // A clock before 1970 (tracing's timer writes a negative year).
            return time::SystemTime.format_time(w);
        };
        let secs = now.as_secs();
        let mut cached = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (second, text) = &mut *cached;
        if text.is_empty() || *second != secs {
            let (year, month, day) = civil_from_days(secs / 86_400);
            if year > 9999 {
                return time::SystemTime.format_time(w);
            }
            let t = secs % 86_400;
            text.clear();
            write!(
                text,
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
                t / 3600,
                t / 60 % 60,
                t % 60
            )?;
            *second = secs;
        }
        write!(w, "{text}.{:06}Z", now.subsec_micros())
    }
}

/// tracing-subscriber's `DefaultFields`, byte for byte (no ANSI colours), but
/// with printable text written out whole: its `Debug` quoting of string
/// fields and its ANSI-escaping of messages go a character at a time, and
/// through `write!` for every piece: 13% of the sweep's user-space
/// instructions at 10k locks. Text that needs escaping goes through `Debug`
/// and `AnsiEscaping` a character at a time, as tracing's does; a test holds
/// the two formatters to the same bytes.
struct Fields;

impl<'w> MakeVisitor<Writer<'w>> for Fields {
    type Visitor = FieldsVisitor<'w>;

    fn make_visitor(&self, writer: Writer<'w>) -> FieldsVisitor<'w> {
        FieldsVisitor {
            writer,
            first: true,
            result: Ok(()),
        }
    }
}

struct FieldsVisitor<'w> {
    writer: Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl FieldsVisitor<'_> {
    fn write(&mut self, field: &Field, value: impl FnOnce(&mut Writer) -> std::fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let pad = if std::mem::take(&mut self.first) {
            ""
        } else {
            " "
        };
        let name = field.name();
        self.result = match name {
            // The message goes first, unnamed, and its control characters
            // that drive terminals are escaped.
            "message" => self.writer.write_str(pad).and_then(|()| {
                let mut escaping = AnsiEscaping(&mut self.writer);
                value(&mut Writer::new(&mut escaping))
            }),
            name => {
                let w = &mut self.writer;
                let name = name.strip_prefix("r#").unwrap_or(name);
                (w.write_str(pad))
                    .and_then(|()| w.write_str(name))
                    .and_then(|()| w.write_char('='))
                    .and_then(|()| value(w))
            }
        };
    }
}

impl Visit for FieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // What `Debug` writes, a quote on each side, when nothing needs
        // escaping in between.
        let plain = |s: &str| {
            s.bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
        };
        match field.name() {
            "message" if !value.chars().any(breaks_a_line) => {
                self.write(field, |w| w.write_str(value))
            }
            "message" => self.write(field, |w| escaped(w, value)),
            _ if plain(value) => self.write(field, |w| {
                (w.write_char('"'))
                    .and_then(|()| w.write_str(value))
                    .and_then(|()| w.write_char('"'))
            }),
            _ => self.write(field, |w| write!(w, "{value:?}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%` fields (a path's display, an error) arrive here as written by
        // their Display: escaped like every other value before they reach
        // the line.
        let text = format!("{value:?}");
        if !text.chars().any(breaks_a_line) {
            return self.write(field, |w| w.write_str(&text));
        }
        self.write(field, |w| escaped(w, &text));
    }
}

impl VisitOutput<std::fmt::Result> for FieldsVisitor<'_> {
    fn finish(self) -> std::fmt::Result {
        self.result
    }
}

impl VisitFmt for FieldsVisitor<'_> {
    fn writer(&mut self) -> &mut dyn std::fmt::Write {
        &mut self.writer
    }
}

/// tracing-subscriber's escaping of a message: ESC, BEL, BS, FF, DEL and
/// the C1 controls (U+0080 to U+009F, which start with the byte 0xC2 in
/// UTF-8) are written as escapes, everything else as it is.
struct AnsiEscaping<'a, 'w>(&'a mut Writer<'w>);

impl std::fmt::Write for AnsiEscaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if !s
            .bytes()
            .any(|b| matches!(b, 0x07 | 0x08 | 0x0c | 0x1b | 0x7f | 0xc2))
        {
            return self.0.write_str(s);
        }
        for c in s.chars() {
            match c {
                '\x07' | '\x08' | '\x0c' | '\x1b' | '\x7f' => {
                    write!(self.0, "\\x{:02x}", c as u32)?
                }
                '\u{80}'..='\u{9f}' => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01: counted in 400-year
/// eras (146,097 days each) of years that start on 1 March, so that the
/// leap day ends a year.
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // month from March: 0..=11
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// Log lines are buffered and written when the buffer fills, when a pass
/// ends and at exit: one write for dozens of events instead of one each, so
/// a swept lock costs 8 system calls, not 9. A sweep takes milliseconds, so
/// the lines still reach `kubectl logs` at once.
static LOG: LazyLock<Mutex<BufWriter<Stderr>>> =
    LazyLock::new(|| Mutex::new(BufWriter::with_capacity(16 * 1024, std::io::stderr())));

struct LogWriter(MutexGuard<'static, BufWriter<Stderr>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Writes out buffered log lines (end of a pass, exit).
pub fn flush_logs() {
    // Nowhere left to report a failing stderr.
    let _ = LOG.lock().unwrap_or_else(|e| e.into_inner()).flush();
}

/// A path as it is safe to print on one log line: control characters,
/// backslashes and bytes that are not UTF-8 are escaped, so a hostile file
/// name cannot forge or break a log line.
/// What could forge or hide a log line if written raw: control characters,
/// the Unicode line and paragraph separators, and the bidirectional
/// controls, which reorder what a terminal shows.
fn breaks_a_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with what `breaks_a_line` escaped, the rest as is.
fn escaped(w: &mut Writer<'_>, text: &str) -> std::fmt::Result {
    text.chars().try_for_each(|c| {
        if breaks_a_line(c) {
            write!(w, "{}", c.escape_default())
        } else {
            w.write_char(c)
        }
    })
}

pub fn shown(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return ".".into();
    }
    // Nearly every path: printable ASCII without a backslash, shown as is.
    if bytes
        .iter()
        .all(|&b| (b' '..=b'~').contains(&b) && b != b'\\')
    {
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

    /// One event of each kind of field, formatted with the given fields
    /// formatter.
    fn formatted<F>(fields: F, s: &str) -> String
    where
        F: for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static,
    {
        let out = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .with_ansi(false)
            .with_target(false)
            .without_time()
            .fmt_fields(fields)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(path = s, n = 7u64, shown = %s, r#type = s, "msg {s}");
            tracing::info!(
                zero = 0u64,
                max = u64::MAX,
                len = s.len() as u64,
                "{}",
                s.len()
            );
            tracing::warn!(message = s, path = "plain/path.lock");
            tracing::error!(error = ?s, "{}", s);
        });
        String::from_utf8(out.lock().unwrap().clone()).unwrap()
    }

    struct Sink(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    proptest::proptest! {
        #[test]
        fn fields_are_written_as_tracing_writes_them(
            s in proptest::prop_oneof![
                proptest::arbitrary::any::<String>(),
                "[\\x00-\\x1f\\x7f-\\u{a0}\"\\\\' a-z]{0,12}",
            ]
        ) {
            // Where nothing needs escaping beyond what tracing escapes; the
            // rest is below.
            let s: String = s.chars().filter(|&c| !breaks_a_line(c)).collect();
            let theirs = formatted(tracing_subscriber::fmt::format::DefaultFields::new(), &s);
            proptest::prop_assert_eq!(theirs.matches(" n=7 ").count(), 1, "{}", theirs);
            proptest::prop_assert_eq!(formatted(Fields, &s), theirs);
        }
    }

    /// Display fields (`%path`, `%error`) and formatted messages are escaped
    /// too, where tracing writes them raw: nothing a file name holds can end
    /// a line, forge one, or reorder what a terminal shows.
    #[test]
    fn display_fields_and_messages_cannot_break_a_line() {
        let hostile = "a\nb\u{1b}[31mc\u{2028}d\u{2029}e\u{202e}f\u{2066}g\u{7f}";
        let out = formatted(Fields, hostile);
        let lines: Vec<&str> = out.split_terminator('\n').collect();
        assert_eq!(lines.len(), 4, "{out:?}");
        for c in [
            '\u{1b}', '\u{2028}', '\u{2029}', '\u{202e}', '\u{2066}', '\u{7f}',
        ] {
            assert!(!out.contains(c), "{c:?} raw in {out:?}");
        }
        assert!(out.contains("shown=a\\nb\\u{1b}[31mc\\u{2028}d"), "{out:?}");
        assert_eq!(
            shown(Path::new(hostile)),
            "a\\nb\\u{1b}[31mc\\u{2028}d\\u{2029}e\\u{202e}f\\u{2066}g\\u{7f}"
        );
    }

    #[test]
    fn civil_dates_at_known_days() {
        for (days, date) in [
            (0, (1970, 1, 1)),
            (789, (1972, 2, 29)),
            (11_016, (2000, 2, 29)),
            (11_017, (2000, 3, 1)),
            (47_540, (2100, 2, 28)),
            (47_541, (2100, 3, 1)),
            (20_782, (2026, 11, 25)),
            (2_932_896, (9999, 12, 31)),
        ] {
            assert_eq!(civil_from_days(days), date, "day {days}");
        }
    }

    proptest::proptest! {
        /// From 1970-01-01 on, each day is the calendar's next one: with the
        /// anchor above, every date to 9999 is right.
        #[test]
        fn civil_dates_follow_the_calendar(days in 0u64..2_932_896) {
            let (y, m, d) = civil_from_days(days);
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let length = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            let next = if d < length {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            proptest::prop_assert_eq!(civil_from_days(days + 1), next);
        }
    }

    #[test]
    fn timestamps_are_tracings_own() {
        let ours = Timestamp::default();
        for _ in 0..3 {
            let (mut a, mut b, mut c) = (String::new(), String::new(), String::new());
            time::SystemTime
                .format_time(&mut Writer::new(&mut a))
                .unwrap();
            ours.format_time(&mut Writer::new(&mut b)).unwrap();
            time::SystemTime
                .format_time(&mut Writer::new(&mut c))
                .unwrap();
            // Up to the second, unless the clock crossed one meanwhile.
            if a[..19] == c[..19] {
                assert_eq!(b.len(), a.len(), "{b} vs {a}");
                assert_eq!(b[..20], a[..20], "{b} vs {a}");
                assert!(b[20..26].bytes().all(|c| c.is_ascii_digit()) && b.ends_with('Z'));
                return;
            }
        }
        panic!("the clock crossed a second three times in a row");
    }

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
        let report = |s: &Summary| -> serde_json::Value {
            let dir = (Path::new("/s"), "--state-dir");
            serde_json::from_str(&s.to_json(dir, true, Duration::from_micros(3_456), 0)).unwrap()
        };
        let json = report(&s);
        assert_eq!(json["kept"]["other-holder"], 2);
        assert_eq!(json["kept"]["too-young"], 0);
        assert_eq!(json["removed"]["lock"], 1);
        assert_eq!(json["swept"], 1);
        assert_eq!(json["dry_run"], true);
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

    #[test]
    fn log_filter_refuses_words_that_are_not_levels() {
        for bad in [
            "loud",
            "info,verbose",
            "warn,[bad",
            "info=",
            "=info",
            "myapp=loud",
        ] {
            assert!(log_filter(bad).is_err(), "{bad:?} should be refused");
        }
        let msg = log_filter("loud").unwrap_err();
        assert!(msg.contains("\"loud\" is not a level"), "{msg}");
    }

    #[test]
    fn log_filter_never_hides_the_sweepers_info_lines() {
        let info = tracing::Level::INFO;
        let debug = tracing::Level::DEBUG;
        let sweep = "openclaw_lock_sweeper::sweep";
        // Filters that keep info for the sweeper are taken as they are.
        for keep in [
            "info",
            "debug",
            "trace",
            " info ",
            "warn,openclaw_lock_sweeper=debug",
        ] {
            let (f, widened) = log_filter(keep).unwrap();
            assert!(!widened, "{keep:?}");
            assert!(
                f.would_enable(OWN_TARGET, &info) && f.would_enable(sweep, &info),
                "{keep:?}"
            );
        }
        let (f, _) = log_filter("debug").unwrap();
        assert!(f.would_enable(sweep, &debug), "debug stays debug");
        // Filters that would hide it are widened to info, for the sweeper only.
        for hide in [
            "warn",
            "error",
            "off",
            "myapp=debug",
            "info,openclaw_lock_sweeper::sweep=warn",
            "openclaw_lock_sweeper=off",
        ] {
            let (f, widened) = log_filter(hide).unwrap();
            assert!(widened, "{hide:?}");
            assert!(f.would_enable(OWN_TARGET, &info), "{hide:?}");
            assert!(f.would_enable(sweep, &info), "{hide:?}");
            assert!(
                !f.would_enable(sweep, &debug),
                "{hide:?}: widened to info, no further"
            );
        }
        let (f, _) = log_filter("myapp=debug").unwrap();
        assert!(
            f.would_enable("myapp", &debug),
            "the rest of the filter is kept"
        );
        let (f, _) = log_filter("warn").unwrap();
        assert!(
            !f.would_enable("other", &info),
            "other targets keep their level"
        );
    }

    /// The schema names every reason and kind the report can carry, and no other.
    #[test]
    fn schema_lists_every_reason_and_kind() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../schema/report.schema.json")).unwrap();
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
    }
}
