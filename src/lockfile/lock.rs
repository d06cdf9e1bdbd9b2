//! Reading a candidate and recognising OpenClaw's lock signature.
//!
//! OpenClaw (`@openclaw/fs-safe`, `serializeSidecarLockPayload`) writes a lock
//! as pretty-printed JSON, a newline, and a whitespace ownership token:
//! `{"pid": 1, "createdAt": "<ISO-8601>", "starttime": 123}` plus a tail of
//! tabs and spaces. Its stale rules (`readLockFileOwnerPayload`) take a
//! positive integer `pid`, a string `createdAt` and an optional `starttime`.

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Real locks are about 200 bytes; anything past this is not one of ours,
/// and is never read further, whatever its size.
pub const MAX_LOCK_BYTES: usize = 4096;

/// What reading a candidate found.
#[derive(Debug)]
pub enum Candidate {
    /// A small regular file, still open (the removal re-reads it through this
    /// descriptor to prove it is unchanged).
    File {
        fd: OwnedFd,
        stat: Stat,
        bytes: Vec<u8>,
    },
    /// A directory named like a lock: a reclaim guard, or a legacy
    /// directory lock (proper-lockfile). Still open, for the removal to prove
    /// it is the same directory.
    Directory {
        fd: OwnedFd,
        stat: Stat,
        empty: bool,
    },
    NotRegular(&'static str),
    TooLarge(u64),
    /// Gone between the directory listing and the open.
    Vanished,
}

/// Opens and reads a candidate without ever following a symlink or blocking:
/// anything but a regular file is judged from its directory entry (or an
/// lstat) and never opened, so a FIFO or device named `*.lock` is harmless.
pub fn read_candidate(dir: BorrowedFd, name: &CStr, kind: FileType) -> Result<Candidate, Errno> {
    let kind = match kind {
        FileType::Unknown => match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => FileType::from_raw_mode(st.st_mode),
            Err(Errno::NOENT) => return Ok(Candidate::Vanished),
            Err(e) => return Err(e),
        },
        known => known,
    };
    if kind == FileType::Directory {
        return read_directory(dir, name);
    }
    if kind != FileType::RegularFile {
        return Ok(Candidate::NotRegular(type_name(kind)));
    }
    // O_NONBLOCK and O_NOCTTY in case the entry was swapped for a FIFO or a
    // terminal after it was listed; O_NOFOLLOW in case it became a symlink.
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let opened = open_noatime(flags, |flags| {
        rustix::fs::openat(dir, name, flags, Mode::empty())
    });
    let fd = match opened {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(Candidate::Vanished),
        Err(Errno::LOOP) => return Ok(Candidate::NotRegular("symlink")),
        Err(e) => return Err(e),
    };
    let stat = rustix::fs::fstat(&fd)?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::RegularFile {
        return Ok(Candidate::NotRegular(type_name(kind)));
    }
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    if size > MAX_LOCK_BYTES as u64 {
        return Ok(Candidate::TooLarge(size));
    }
    // Read what fstat promised and no more: no extra read just to see EOF.
    // A file that grows meanwhile is caught by the removal's re-read.
    let mut bytes = vec![0u8; size as usize];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::io::read(&fd, &mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(Candidate::File { fd, stat, bytes })
}

/// Whether a live process holds a lock on the open file, as the kernel
/// says: a `flock(2)` (tried non-blocking, and given back at once) or a
/// record lock over any byte. A file nobody wrote yet (empty, cut short) is
/// a dead writer's only if nobody holds it.
pub fn held(fd: BorrowedFd) -> bool {
    use std::os::fd::AsRawFd;
    let raw = fd.as_raw_fd();
    // SAFETY: flock and fcntl on a descriptor this function borrows; the
    // flock struct is zeroed (l_pid 0, as F_OFD_GETLK requires), then set.
    unsafe {
        if libc::flock(raw, libc::LOCK_EX | libc::LOCK_NB) == -1 {
            return std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK);
        }
        libc::flock(raw, libc::LOCK_UN);
        let mut query: libc::flock = std::mem::zeroed();
        query.l_type = libc::F_WRLCK as libc::c_short;
        query.l_whence = libc::SEEK_SET as libc::c_short;
        libc::fcntl(raw, libc::F_OFD_GETLK, &mut query) == 0
            && i32::from(query.l_type) != libc::F_UNLCK
    }
}

/// Opens with `O_NOATIME`: reading a lock or listing a directory need not
/// journal an access-time update of its inode, a write to the user's volume.
/// Only the inode's owner (or CAP_FOWNER) may ask: after the first EPERM,
/// everything is opened without it.
pub fn open_noatime(
    flags: OFlags,
    open: impl Fn(OFlags) -> Result<OwnedFd, Errno>,
) -> Result<OwnedFd, Errno> {
    static NOATIME: AtomicBool = AtomicBool::new(true);
    if !NOATIME.load(Ordering::Relaxed) {
        return open(flags);
    }
    match open(flags | OFlags::NOATIME) {
        Err(Errno::PERM) => {
            NOATIME.store(false, Ordering::Relaxed);
            open(flags)
        }
        other => other,
    }
}

/// Opens a directory candidate (never through a symlink) and tells whether
/// it holds anything: OpenClaw's reclaim guards and proper-lockfile's
/// directory locks are empty, anything else in one is not ours to judge.
fn read_directory(dir: BorrowedFd, name: &CStr) -> Result<Candidate, Errno> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let opened = open_noatime(flags, |flags| {
        rustix::fs::openat(dir, name, flags, Mode::empty())
    });
    let fd = match opened {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(Candidate::Vanished),
        Err(Errno::LOOP) => return Ok(Candidate::NotRegular("symlink")),
        Err(Errno::NOTDIR) => return Ok(Candidate::NotRegular("not a directory any more")),
        Err(e) => return Err(e),
    };
    let stat = rustix::fs::fstat(&fd)?;
    let mut empty = true;
    // `.`, `..` and one more name fit; read from this descriptor (rustix's
    // `Dir` would reopen it).
    let mut buf = [std::mem::MaybeUninit::uninit(); 1024];
    let mut entries = rustix::fs::RawDir::new(&fd, &mut buf);
    while let Some(entry) = entries.next() {
        let entry = match entry {
            Ok(entry) => entry,
            // Removed since it was opened: the removal finds it gone.
            Err(Errno::NOENT) => break,
            Err(e) => return Err(e),
        };
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            empty = false;
            break;
        }
    }
    Ok(Candidate::Directory { fd, stat, empty })
}

pub fn type_name(kind: FileType) -> &'static str {
    match kind {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "unknown file type",
    }
}

pub fn mtime(stat: &Stat) -> SystemTime {
    let secs = stat.st_mtime;
    let nanos = u32::try_from(stat.st_mtime_nsec).unwrap_or(0);
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
            + Duration::from_nanos(u64::from(nanos))
    }
}

// === The signature ===

/// The holder facts of a lock, as OpenClaw reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct Lock {
    pub pid: u64,
    /// The raw `createdAt` string, for the logs.
    pub created_at: Option<String>,
    /// `createdAt` parsed, when it is a valid ISO-8601 timestamp.
    pub created_at_time: Option<SystemTime>,
    pub starttime: Option<u64>,
}

/// Why a file is not a signed lock. A torn lock is judged by its age; any
/// other file is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotALock {
    /// Empty, or a JSON object cut short: OpenClaw creates a lock file and
    /// writes its payload in a second call, so a holder killed in between
    /// leaves this, and no release of OpenClaw ever reclaims it.
    #[error("torn: empty, or a JSON object cut short")]
    Torn,
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("JSON but not an object")]
    NotAnObject,
    #[error("no \"pid\" field")]
    NoPid,
    #[error("\"pid\" is not a positive integer")]
    BadPid,
}

pub fn parse(bytes: &[u8]) -> Result<Lock, NotALock> {
    // serde_json accepts surrounding whitespace, which covers the ownership
    // token tail.
    let fields = match serde_json::from_slice(bytes) {
        Ok(Top::Object(fields)) => fields,
        Ok(Top::Other) => return Err(NotALock::NotAnObject),
        // A prefix of what OpenClaw writes: nothing, or `{` and then the
        // input ends (not a syntax error) before the object closes.
        Err(e)
            if e.classify() == serde_json::error::Category::Eof && bytes.first() == Some(&b'{') =>
        {
            return Err(NotALock::Torn);
        }
        Err(_) if bytes.is_empty() => return Err(NotALock::Torn),
        Err(e) => return Err(NotALock::NotJson(e.to_string())),
    };
    let pid = fields.pid.ok_or(NotALock::NoPid)?;
    let pid = positive_integer(&pid).ok_or(NotALock::BadPid)?;
    let created_at = match fields.created_at {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    };
    let created_at_time = created_at.as_deref().and_then(parse_timestamp);
    let starttime = fields
        .starttime
        .as_ref()
        .and_then(serde_json::Value::as_u64);
    Ok(Lock {
        pid,
        created_at,
        created_at_time,
        starttime,
    })
}

/// A lock file's JSON as `parse` needs it: the three fields OpenClaw's
/// stale rules read, each the last one's value (JSON.parse keeps the last of
/// duplicate keys), or that it is not an object. Read straight from the
/// bytes: a whole `serde_json::Value` (a map, its keys as strings) was a
/// fifth of a sweep's user-space instructions at 10k locks. Every other
/// value is still read whole, as a `Value`, so that what is not valid JSON
/// (a string that is not UTF-8, say) is refused exactly as before.
enum Top {
    Object(Fields),
    Other,
}

#[derive(Default)]
struct Fields {
    pid: Option<serde_json::Value>,
    created_at: Option<serde_json::Value>,
    starttime: Option<serde_json::Value>,
}

impl<'de> serde::Deserialize<'de> for Top {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Top, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> serde::de::Visitor<'de> for TopVisitor {
    type Value = Top;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<serde_json::Value>()?;
            match key {
                Key::Pid => fields.pid = Some(value),
                Key::CreatedAt => fields.created_at = Some(value),
                Key::Starttime => fields.starttime = Some(value),
                Key::Other => {}
            }
        }
        Ok(Top::Object(fields))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        while seq.next_element::<serde_json::Value>()?.is_some() {}
        Ok(Top::Other)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Top, E> {
        Ok(Top::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Top, E> {
        Ok(Top::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Top, E> {
        Ok(Top::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Top, E> {
        Ok(Top::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Top, E> {
        Ok(Top::Other)
    }

    fn visit_unit<E>(self) -> Result<Top, E> {
        Ok(Top::Other)
    }
}

enum Key {
    Pid,
    CreatedAt,
    Starttime,
    Other,
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl serde::de::Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    // The key with its escapes undone, as a `Value` map's key is.
    fn visit_str<E>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "pid" => Key::Pid,
            "createdAt" => Key::CreatedAt,
            "starttime" => Key::Starttime,
            _ => Key::Other,
        })
    }
}

/// JavaScript's `Number.isInteger(pid) && pid > 0`: `1` and `1.0` are both
/// pid 1 to OpenClaw, so both are to us. Beyond 2^53 a JS number is no
/// longer an exact integer, so no real pid can be there.
fn positive_integer(value: &serde_json::Value) -> Option<u64> {
    const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
    let n = value.as_number()?;
    let int = match n.as_u64() {
        Some(int) => int,
        None => {
            let f = n.as_f64()?;
            if f.fract() != 0.0 || !(1.0..=MAX_SAFE_INTEGER as f64).contains(&f) {
                return None;
            }
            f as u64
        }
    };
    (1..=MAX_SAFE_INTEGER).contains(&int).then_some(int)
}

// === Timestamps ===

/// Parses the ISO-8601 forms `Date.parse` accepts from `toISOString` and
/// its relatives: `YYYY-MM-DD`, optionally `THH:MM`, `:SS`, `.fraction`, and
/// `Z` or `±HH:MM`. A missing zone is read as UTC (JS would use local time,
/// which in a container is UTC too).
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().all(u8::is_ascii_digit).then(|| {
            digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
        })
    };
    let year = num(0..4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (num(5..7)?, num(8..10)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&day) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    let mut nanos = 0u32;
    let mut i = 10;
    if i < b.len() {
        if b[i] != b'T' && b[i] != b't' {
            return None;
        }
        let (hour, minute) = (num(11..13)?, num(14..16)?);
        if b.get(13) != Some(&b':') || hour > 23 || minute > 59 {
            return None;
        }
        secs += hour * 3600 + minute * 60;
        i = 16;
        if b.get(i) == Some(&b':') {
            let second = num(17..19)?;
            if second > 59 {
                return None;
            }
            secs += second;
            i = 19;
            if b.get(i) == Some(&b'.') {
                let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return None;
                }
                let frac = &b[i + 1..i + 1 + digits.min(9)];
                let mut n = frac
                    .iter()
                    .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                for _ in frac.len()..9 {
                    n *= 10;
                }
                nanos = n;
                i += 1 + digits;
            }
        }
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
                let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
                if oh > 23 || om > 59 {
                    return None;
                }
                let offset = oh * 3600 + om * 60;
                secs += if sign == b'+' { -offset } else { offset };
            }
            _ => return None,
        }
    }
    let since_epoch = Duration::new(secs.unsigned_abs(), 0);
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(since_epoch)?
    } else {
        UNIX_EPOCH.checked_sub(since_epoch)?
    };
    whole.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The exact shape fs-safe writes: pretty JSON, newline, 8 tabs and a
    /// 128-character tab/space token, newline.
    fn openclaw_bytes(json: &str) -> Vec<u8> {
        let token: String = "\t".repeat(8) + &" \t".repeat(64);
        format!("{json}\n{token}\n").into_bytes()
    }

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn parse_rejects_what_is_not_a_lock() {
        let kind = |e: NotALock| match e {
            NotALock::Torn => "torn",
            NotALock::NotJson(_) => "not-json",
            NotALock::NotAnObject => "not-object",
            NotALock::NoPid => "no-pid",
            NotALock::BadPid => "bad-pid",
        };
        let cases: [(&[u8], &str); 21] = [
            (b"", "torn"),
            (b"{", "torn"),
            (b"{\n  \"pid\": 1", "torn"),
            (b"{\n  \"pid\": 1,\n  \"createdAt\": \"2026-11-", "torn"),
            // Whitespace, a cut-short array or string, a syntax error before
            // the end: not a prefix of an OpenClaw lock.
            (b"   \n\t", "not-json"),
            (b" {\"pid\": 1", "not-json"),
            (b"[1, 2", "not-json"),
            (b"{\"pid\": 1 x", "not-json"),
            (b"\xef\xbb\xbf{\"pid\": 1}", "not-json"),
            (b"{\"pid\": 1} x", "not-json"),
            (b"{\"pid\": 1, \"x\": \"\xff\"}", "not-json"),
            (b"[1]", "not-object"),
            (b"1", "not-object"),
            (b"{}", "no-pid"),
            (b"{\"pid\": \"1\"}", "bad-pid"),
            (b"{\"pid\": 0}", "bad-pid"),
            (b"{\"pid\": -1}", "bad-pid"),
            (b"{\"pid\": 1.5}", "bad-pid"),
            (b"{\"pid\": 9007199254740992}", "bad-pid"),
            (b"{\"pid\": null}", "bad-pid"),
            (b"{\"pid\": true}", "bad-pid"),
        ];
        for (bytes, expected) in cases {
            let got = parse(bytes).map(|l| l.pid).map_err(kind);
            assert_eq!(got, Err(expected), "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn parse_reads_openclaw_format() {
        let bytes = openclaw_bytes(
            "{\n  \"pid\": 1,\n  \"createdAt\": \"2026-11-24T22:24:28.123Z\",\n  \"starttime\": 4242\n}",
        );
        let lock = parse(&bytes).unwrap();
        assert_eq!(lock.pid, 1);
        assert_eq!(lock.created_at.as_deref(), Some("2026-11-24T22:24:28.123Z"));
        assert_eq!(lock.created_at_time, Some(at(1_795_559_068, 123)));
        assert_eq!(lock.starttime, Some(4242));
    }

    #[test]
    fn parse_accepts_extra_fields_and_js_number_forms() {
        let lock = parse(b"{\"pid\": 1.0, \"x\": [1], \"createdAt\": 5}").unwrap();
        assert_eq!((lock.pid, lock.created_at), (1, None));
        assert_eq!(parse(b"{\"pid\": 1e0}").unwrap().pid, 1);
        // Duplicate keys: the last one wins, as in JSON.parse.
        assert_eq!(parse(b"{\"pid\": 1, \"pid\": 7}").unwrap().pid, 7);
    }

    #[test]
    fn timestamps_reject_bad_input() {
        for s in [
            "",
            "2026",
            "2026-13-01",
            "2026-02-30",
            "2025-02-29",
            "2026-11-24T24:00Z",
            "2026-11-24T22:60Z",
            "2026-11-24T22:24:61Z",
            "2026-11-24 22:24:28Z",
            "2026-11-24T22:24:28.Z",
            "2026-11-24T22:24:28Zjunk",
            "2026-11-24T22:24:28+0100",
            "yesterday",
            "2026-11-24T22",
        ] {
            assert_eq!(parse_timestamp(s), None, "{s:?}");
        }
    }

    #[test]
    fn timestamps_parse_iso_forms() {
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:00.000Z"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(parse_timestamp("2026-11-24"), Some(at(1_795_478_400, 0)));
        assert_eq!(
            parse_timestamp("2026-11-24T22:24Z"),
            Some(at(1_795_559_040, 0))
        );
        assert_eq!(
            parse_timestamp("2024-02-29T12:00:00Z"),
            Some(at(1_709_208_000, 0))
        );
        assert_eq!(
            parse_timestamp("2026-11-24T23:24:28.5+01:00"),
            Some(at(1_795_559_068, 500))
        );
        assert_eq!(
            parse_timestamp("1969-12-31T23:59:59Z"),
            UNIX_EPOCH.checked_sub(Duration::from_secs(1))
        );
    }

    /// `parse` as it was before it read the fields straight from the bytes:
    /// the whole JSON read as a `serde_json::Value`. The two must agree on
    /// every input, errors and their messages included.
    fn parse_whole_value(bytes: &[u8]) -> Result<Lock, NotALock> {
        let value: serde_json::Value = match serde_json::from_slice(bytes) {
            Ok(value) => value,
            Err(e)
                if e.classify() == serde_json::error::Category::Eof
                    && bytes.first() == Some(&b'{') =>
            {
                return Err(NotALock::Torn);
            }
            Err(_) if bytes.is_empty() => return Err(NotALock::Torn),
            Err(e) => return Err(NotALock::NotJson(e.to_string())),
        };
        let object = value.as_object().ok_or(NotALock::NotAnObject)?;
        let pid = object.get("pid").ok_or(NotALock::NoPid)?;
        let pid = positive_integer(pid).ok_or(NotALock::BadPid)?;
        let created_at = object
            .get("createdAt")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let created_at_time = created_at.as_deref().and_then(parse_timestamp);
        let starttime = object.get("starttime").and_then(serde_json::Value::as_u64);
        Ok(Lock {
            pid,
            created_at,
            created_at_time,
            starttime,
        })
    }

    /// Pieces of JSON, valid and not, for texts near a lock's shape.
    fn json_piece() -> impl Strategy<Value = &'static [u8]> {
        prop::sample::select(vec![
            &b"\"pid\""[..],
            b"\"createdAt\"",
            b"\"starttime\"",
            b"\"p\\u0069d\"",
            b"\"x\"",
            b"1",
            b"1.0",
            b"0",
            b"-1",
            b"7e0",
            b"9007199254740992",
            b"18446744073709551616",
            b"null",
            b"true",
            b"\"2026-01-01T00:00:00.000Z\"",
            b"\"2026-13-01\"",
            b"\"\\u00ff\"",
            b"\"\xff\"",
            b"[1, {\"pid\": 1}]",
            b"{\"pid\": 1}",
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b" ",
            b"\n",
            b"\t",
            b"\"",
            b"x",
        ])
    }

    proptest! {
        #[test]
        fn parse_agrees_with_reading_the_whole_value(
            pieces in proptest::collection::vec(json_piece(), 0..24),
            object in proptest::collection::vec((json_piece(), json_piece()), 0..6),
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let members: Vec<Vec<u8>> = object.iter().map(|(k, v)| [*k, b": ", v].concat()).collect();
            let texts = [
                pieces.concat(),
                [&b"{"[..], &members.join(&b", "[..]), b"}"].concat(),
                [&b"{\n  "[..], &members.join(&b",\n  "[..]), b"\n}\n\t \t\n"].concat(),
                bytes,
            ];
            for text in texts {
                prop_assert_eq!(parse(&text), parse_whole_value(&text), "{:?}", String::from_utf8_lossy(&text));
            }
        }
    }

    /// Texts the generated ones rarely reach: cut short with whitespace
    /// after, every kind of top-level value, keys escaped or repeated.
    #[test]
    fn parse_agrees_with_reading_the_whole_value_on_edge_texts() {
        let texts: [&[u8]; 16] = [
            b"[1, 2\n  ",
            b"\"abc\n",
            b"{\"pid\": 1,\n\t ",
            b"   \n\t",
            b"\"pid\"",
            b"null",
            b"[{\"pid\": 1}]",
            b"[1, \"\xff\"]",
            b"{\"p\\u0069d\": 1}",
            b"{\"pid\": 1, \"pid\": null}",
            b"{\"pid\": 1, \"createdAt\": \"x\", \"createdAt\": 2}",
            b"{\"starttime\": -1, \"pid\": 1}",
            b"{\"starttime\": 18446744073709551615, \"pid\": 1}",
            b"{\"pid\": 1, \"x\": {\"y\": [\"\xff\"]}}",
            b"{\"pid\": 1}\n\t\t \t",
            b"{\"\xff\": 1, \"pid\": 1}",
        ];
        for text in texts {
            assert_eq!(
                parse(text),
                parse_whole_value(text),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_finds_any_positive_pid_whatever_the_whitespace(
            pid in 1u64..=(1 << 53) - 1,
            extra in "[a-z]{1,8}",
            ws in "[ \t\r\n]{0,8}",
        ) {
            let json = format!("{ws}{{{ws}\"{extra}x\":{ws}[]{ws},{ws}\"pid\"{ws}:{ws}{pid}{ws}}}{ws}");
            prop_assert_eq!(parse(json.as_bytes()).unwrap().pid, pid);
            prop_assert_eq!(parse(&openclaw_bytes(&json)).unwrap().pid, pid);
        }

        #[test]
        fn timestamps_round_trip(secs in 0u64..253_402_300_799, millis in 0u64..1000) {
            // Format with the same civil-date algebra run backwards, as
            // toISOString does, and parse it again.
            let days = secs / 86_400;
            let rem = secs % 86_400;
            let (y, m, d) = civil_from_days(days as i64);
            let s = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
                rem / 3600, rem / 60 % 60, rem % 60
            );
            prop_assert_eq!(parse_timestamp(&s), Some(at(secs, millis)));
        }
    }

    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }
}
