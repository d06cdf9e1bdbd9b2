//! What the operator sees: logging set-up, the summary, and paths made safe
//! to print.

use std::io::{BufWriter, Stderr, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;

use crate::cli::LogFormat;
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
}

impl Kept {
    const ALL: [Kept; 8] = [
        Kept::NotRegularFile,
        Kept::TooLarge,
        Kept::NotALock,
        Kept::OtherHolder,
        Kept::TooYoung,
        Kept::Changed,
        Kept::Vanished,
        Kept::Leftover,
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
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Paths that matched a pattern and were judged.
    pub scanned: u64,
    /// Stale locks removed (in a dry run: that would have been removed).
    pub swept: u64,
    kept: [u64; Kept::ALL.len()],
    pub errors: u64,
}

impl Summary {
    pub fn keep(&mut self, why: Kept) {
        self.kept[why as usize] += 1;
    }

    pub fn add(&mut self, other: &Summary) {
        self.scanned += other.scanned;
        self.swept += other.swept;
        for (total, n) in self.kept.iter_mut().zip(other.kept) {
            *total += n;
        }
        self.errors += other.errors;
    }

    pub fn kept(&self, why: Kept) -> u64 {
        self.kept[why as usize]
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
            elapsed_ms = elapsed.as_secs_f64() * 1e3,
            dry_run,
            exit_code,
            "sweep finished"
        );
    }

    pub fn to_json(
        &self,
        state_dir: &Path,
        elapsed: Duration,
        dry_run: bool,
        exit_code: i32,
    ) -> String {
        let kept: serde_json::Map<String, serde_json::Value> = Kept::ALL
            .iter()
            .map(|&k| (k.as_str().to_owned(), self.kept(k).into()))
            .collect();
        serde_json::json!({
            "state_dir": state_dir.to_string_lossy(),
            "dry_run": dry_run,
            "scanned": self.scanned,
            "swept": self.swept,
            "kept": kept,
            "errors": self.errors,
            "elapsed_ms": elapsed.as_secs_f64() * 1e3,
            "exit_code": exit_code,
        })
        .to_string()
    }
}

/// Logs go to stderr, so stdout carries only the report an operator asks for.
pub fn init_logging(format: LogFormat, filter: &str) -> Result<(), Error> {
    let targets: Targets =
        filter
            .trim()
            .parse()
            .map_err(
                |e: tracing_subscriber::filter::ParseError| Error::LogFilter {
                    filter: filter.to_owned(),
                    reason: e.to_string(),
                },
            )?;
    let builder = tracing_subscriber::fmt()
        .with_writer(|| LogWriter(LOG.lock().unwrap_or_else(|e| e.into_inner())))
        .with_ansi(false)
        .with_target(false)
        // The filter below decides; the builder's own default stops at info.
        .with_max_level(tracing::level_filters::LevelFilter::TRACE);
    let subscriber: Box<dyn tracing::Subscriber + Send + Sync> = match format {
        LogFormat::Text => Box::new(builder.finish().with(targets)),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish().with(targets)),
    };
    tracing::subscriber::set_global_default(subscriber).expect("logging is set up once");
    Ok(())
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
pub fn shown(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return ".".into();
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
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
    }

    #[test]
    fn summary_counts_and_reports() {
        let mut s = Summary::default();
        s.keep(Kept::OtherHolder);
        s.keep(Kept::OtherHolder);
        s.keep(Kept::NotALock);
        assert_eq!(s.kept(Kept::OtherHolder), 2);
        assert_eq!(s.kept_line(), "not-a-lock:1 other-holder:2");
        let json: serde_json::Value =
            serde_json::from_str(&s.to_json(Path::new("/s"), Duration::from_millis(3), true, 0))
                .unwrap();
        assert_eq!(json["kept"]["other-holder"], 2);
        assert_eq!(json["kept"]["too-young"], 0);
        assert_eq!(json["dry_run"], true);
        assert_eq!(Summary::default().kept_line(), "none");
    }
}
