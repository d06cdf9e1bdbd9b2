//! The logging set-up: the filter (which never hides the sweeper's own INFO
//! lines), the text and JSON formats, the field formatter that escapes what
//! could break a line, timestamps, and the buffered stderr writer. One home,
//! so the modules depend one way: cli and report use it, it uses neither.

use std::fmt::Write as _;
use std::io::{BufWriter, Stderr, Write};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{self, FormatTime};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The log filter, already widened so that the sweeper's own INFO lines are
/// never hidden (see `log_filter`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogLevel {
    pub filter: Targets,
    /// The filter as given, and where it came from, when it was widened:
    /// for the WARN line that says so.
    pub widened: Option<(String, String)>,
}

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
        w.write_str(text)?;
        w.write_str(std::str::from_utf8(&fraction(now.subsec_micros())).expect("ASCII"))
    }
}

/// `.{micros:06}Z`, the end of a timestamp.
fn fraction(micros: u32) -> [u8; 8] {
    let mut out = *b".000000Z";
    let mut digits = [0; 20];
    let digits = decimal(micros.into(), &mut digits).as_bytes();
    out[7 - digits.len()..7].copy_from_slice(digits);
    out
}

/// `n` in decimal, as `{n}` writes it, without the formatting machinery: a
/// sweep writes numbers for every lock it logs, and `write!` with a width
/// took 1,100 instructions a line.
pub(crate) fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}

/// tracing-subscriber's `DefaultFields`, byte for byte (no ANSI colours) but
/// for a backslash in a string value, written once (see `record_str`), and
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
        let plain = |s: &str| !any_byte(s.as_bytes(), NOT_PLAIN);
        match field.name() {
            "message" => self.write(field, |w| escaped(w, value)),
            _ if plain(value) => self.write(field, |w| {
                (w.write_char('"'))
                    .and_then(|()| w.write_str(value))
                    .and_then(|()| w.write_char('"'))
            }),
            // As `Debug` writes it, but a backslash as it is: the paths
            // logged are `report::shown`'s, which already wrote a newline as
            // `\n` and a backslash as `\\`; escaped again, a newline would
            // show as `\\n`. (`Debug` escapes each character on its own, so
            // the pieces between backslashes come out as in the whole.)
            _ => self.write(field, |w| {
                w.write_char('"')?;
                for (i, piece) in value.split('\\').enumerate() {
                    if i > 0 {
                        w.write_char('\\')?;
                    }
                    let debug = format!("{piece:?}");
                    w.write_str(&debug[1..debug.len() - 1])?;
                }
                w.write_char('"')
            }),
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        // Digits need no escaping.
        self.write(field, |w| w.write_str(decimal(value, &mut [0; 20])));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // `%` fields (a path's display, an error) arrive here as written by
        // their Display: escaped like every other value before they reach
        // the line.
        // Written through `LineEscaping` as it is formatted: no copy.
        self.write(field, |w| write!(LineEscaping(w), "{value:?}"));
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
        // Every byte escaped here is one `BREAKS_A_LINE` looks for: text
        // without any goes through whole.
        if !any_byte(s.as_bytes(), BREAKS_A_LINE) {
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

/// What could forge or hide a log line if written raw: control characters,
/// the Unicode line and paragraph separators, and the bidirectional
/// controls, which reorder what a terminal shows.
pub(crate) fn breaks_a_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with what `breaks_a_line` escaped, the rest as is.
fn escaped(w: &mut Writer<'_>, text: &str) -> std::fmt::Result {
    LineEscaping(w).write_str(text)
}

/// A byte class tested on eight bytes at once and on one: every line of the
/// log is scanned for what needs escaping, and byte by byte that scan cost
/// more than half the instructions a sweep of 10,000 locks spent on its log.
#[derive(Clone, Copy)]
pub(crate) struct ByteClass {
    /// Non-zero when a byte of the little-endian word is in the class.
    word: fn(u64) -> u64,
    byte: fn(u8) -> bool,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of the bytes of `w` below `n` (`n` at most 0x80; exact as a
/// test for "any", which is all it is used for).
const fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * n as u64) & !w & HIGHS
}

/// Non-zero when a byte of `w` is `b`.
const fn equal(w: u64, b: u8) -> u64 {
    below(w ^ (ONES * b as u64), 1)
}

/// Every character `breaks_a_line` names is below U+0020, U+007F, or starts
/// with the byte 0xC2 (C1) or 0xE2 (U+2028.., U+2066..); the message
/// escaping's bytes are among them.
const BREAKS_A_LINE: ByteClass = ByteClass {
    word: |w| below(w, 0x20) | equal(w, 0x7f) | equal(w, 0xc2) | equal(w, 0xe2),
    byte: |b| b < 0x20 || matches!(b, 0x7f | 0xc2 | 0xe2),
};

/// What `Debug` would not write as it is: a control, non-ASCII, `"`, `\`.
const NOT_PLAIN: ByteClass = ByteClass {
    word: |w| below(w, 0x20) | (w & HIGHS) | equal(w, 0x7f) | equal(w, b'"') | equal(w, b'\\'),
    byte: |b| !(b' '..=b'~').contains(&b) || b == b'"' || b == b'\\',
};

/// What `report::shown` passes through as it is: printable ASCII but `\\`.
pub(crate) const NOT_SHOWN_AS_IS: ByteClass = ByteClass {
    word: |w| below(w, 0x20) | (w & HIGHS) | equal(w, 0x7f) | equal(w, b'\\'),
    byte: |b| !(b' '..=b'~').contains(&b) || b == b'\\',
};

pub(crate) fn any_byte(s: &[u8], class: ByteClass) -> bool {
    let mut words = s.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        if (class.word)(word) != 0 {
            return true;
        }
    }
    words.remainder().iter().any(|&b| (class.byte)(b))
}

/// Passes text on with what `breaks_a_line` escaped.
struct LineEscaping<'a, 'w>(&'a mut Writer<'w>);

impl std::fmt::Write for LineEscaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if !any_byte(s.as_bytes(), BREAKS_A_LINE) {
            return self.0.write_str(s);
        }
        s.chars().try_for_each(|c| {
            if breaks_a_line(c) {
                write!(self.0, "{}", c.escape_default())
            } else {
                self.0.write_char(c)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        /// Eight bytes at a time, each class finds what the byte test finds.
        #[test]
        fn byte_classes_agree_word_and_byte(
            bytes in proptest::collection::vec(proptest::prop_oneof![
                proptest::arbitrary::any::<u8>(),
                proptest::sample::select(vec![0u8, 0x1f, 0x20, 0x21, 0x22, 0x5c, 0x7e, 0x7f, 0x80, 0xc2, 0xe2, 0xff]),
            ], 0..40)
        ) {
            for class in [BREAKS_A_LINE, NOT_PLAIN, NOT_SHOWN_AS_IS] {
                let by_byte = bytes.iter().any(|&b| (class.byte)(b));
                proptest::prop_assert_eq!(any_byte(&bytes, class), by_byte);
                // Each byte alone in every position of a word of plain bytes.
                for i in 0..bytes.len().min(8) {
                    let mut word = *b"abcdefgh";
                    word[i] = bytes[i];
                    proptest::prop_assert_eq!(any_byte(&word, class), (class.byte)(bytes[i]));
                }
            }
        }

        #[test]
        fn fields_are_written_as_tracing_writes_them(
            s in proptest::prop_oneof![
                proptest::arbitrary::any::<String>(),
                "[\\x00-\\x1f\\x7f-\\u{a0}\"\\\\' a-z]{0,12}",
            ]
        ) {
            // Where nothing needs escaping beyond what tracing escapes, and
            // no backslash, which tracing escapes again; the rest is below.
            let s: String = s.chars().filter(|&c| !breaks_a_line(c) && c != '\\').collect();
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
    }

    /// A path is `report::shown`'s, escaped already: a line escapes it no
    /// further, so a newline in a file name reads `\n`, as in the README.
    #[test]
    fn a_shown_path_is_escaped_once() {
        let out = formatted(Fields, r"evil\nx\\y.lock");
        assert!(out.contains(r#" path="evil\nx\\y.lock" "#), "{out}");
        // The rest is escaped as tracing escapes it, backslash or not.
        let out = formatted(Fields, "a\"b\u{1b}\\c");
        assert!(out.contains(r#" path="a\"b\u{1b}\c" "#), "{out}");
    }

    #[test]
    fn the_byte_prefilter_misses_no_character_that_breaks_a_line() {
        let mut buf = [0u8; 4];
        for c in (0..=0x10_ffff)
            .filter_map(char::from_u32)
            .filter(|&c| breaks_a_line(c))
        {
            let first = c.encode_utf8(&mut buf).as_bytes()[0];
            assert!(first < 0x20 || matches!(first, 0x7f | 0xc2 | 0xe2), "{c:?}");
        }
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
    fn a_timestamp_ends_in_six_digits_of_microseconds() {
        for micros in [0, 7, 12, 100_000, 999_999] {
            assert_eq!(fraction(micros), format!(".{micros:06}Z").as_bytes());
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
}
