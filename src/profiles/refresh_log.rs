//! The sub-reason of a profile's failed refresh, from the gateway's own log
//! (issue 25): the state on the volume says only `auth_permanent` or `auth`;
//! the line OpenClaw logged when it recorded that failure says why
//! (`refresh_token_reused`, `invalid_grant`, `refresh_contention`, ...).
//!
//! OpenClaw 2026.9.x writes JSON lines (tslog) to `logging.file` of its config
//! or, by default, `/tmp/openclaw/openclaw[-<profile>]-YYYY-MM-DD.log`, falling
//! back to `$TMPDIR/openclaw-<uid>` when `/tmp/openclaw` is not a private dir
//! of its own. The line is `auth profile "<id>" failed for provider "<p>":
//! <error>`, logged just before `markAuthProfileFailure` stamps
//! `lastFailureAt`. Where such a line is reachable (wrapper mode with `/tmp`
//! an emptyDir; a `logging.file` on the volume), it is matched to the profile
//! by id and time. Reading a log is a hint only: bounded, read-only, never
//! through a symlink (the file or any dir on its path), a `logging.file` only
//! when the state dir's owner owns it, and nothing about it fails the sweep.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, Stat};
use serde_json::Value;
use tracing::debug;

use crate::operator::report::{Logged, Profile, shown};

/// Only a log's last MiB is read: the lines of interest were written just
/// before the gateway stopped.
const TAIL_BYTES: u64 = 1 << 20;
/// The newest day files of each log dir that are read.
const FILES_PER_DIR: usize = 2;
/// How far a logged line may be from the profile's `lastFailureAt`: the line
/// and the stamp come from the same failure, milliseconds apart.
const WINDOW_MS: i64 = 60_000;
/// `openclaw.json` larger than this is not read for `logging.file`.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

struct Line {
    id: String,
    at: i64,
    logged: Logged,
}

/// Gives each profile the sub-reason logged for its last failure, where a
/// log holds one.
pub fn attach(root: BorrowedFd, profiles: &mut [Profile]) {
    if profiles.iter().all(|p| p.at.is_none()) {
        return;
    }
    let lines = read(root);
    for profile in profiles.iter_mut() {
        let Some(at) = profile.at else { continue };
        profile.logged = lines
            .iter()
            .filter(|l| l.id == profile.id && (l.at - at).abs() <= WINDOW_MS)
            .min_by_key(|l| (l.at - at).abs())
            .map(|l| l.logged.clone());
    }
}

/// The failed-refresh lines of every reachable log.
fn read(root: BorrowedFd) -> Vec<Line> {
    let mut logs = Logs::default();
    // Whoever can write the config names `logging.file`, and the sweeper may
    // run as root: only a file of the state dir's owner is read.
    let owner = rustix::fs::fstat(root).map(|stat| Trust::Owner(stat.st_uid));
    if let (Some(configured), Ok(owner)) = (configured_file(root), owner) {
        let dir = configured.parent().unwrap_or(Path::new("/"));
        match rolling_family(&configured) {
            Some(family) => logs.newest_in(dir, Some(family), owner),
            None => {
                if let (Some(fd), Some(name)) = (open_log_dir(dir), configured.file_name()) {
                    logs.read_file(fd.as_fd(), name, &configured, owner);
                }
            }
        }
    }
    // OpenClaw's default dirs, trusted only as OpenClaw trusts them.
    logs.newest_in(Path::new("/tmp/openclaw"), None, Trust::PrivateDir);
    let tmp = std::env::var_os("TMPDIR")
        .filter(|t| !t.is_empty())
        .map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let uid = rustix::process::getuid().as_raw();
    logs.newest_in(
        &tmp.join(format!("openclaw-{uid}")),
        None,
        Trust::PrivateDir,
    );
    logs.lines
}

/// Whose logs are read.
#[derive(Clone, Copy)]
enum Trust {
    /// `logging.file`'s: only a file of this uid, the state dir's owner.
    Owner(u32),
    /// OpenClaw's temp dirs: any file of a dir as OpenClaw requires of them,
    /// a real directory of this user (or root's), not writable by group or
    /// others.
    PrivateDir,
}

#[derive(Default)]
struct Logs {
    /// (device, inode) of each file read: a file reached twice is read once.
    seen: Vec<(u64, u64)>,
    lines: Vec<Line>,
}

impl Logs {
    /// The newest rolling logs of `dir` (of `family` only, when given), those
    /// that `trust` allows.
    fn newest_in(&mut self, dir: &Path, family: Option<&[u8]>, trust: Trust) {
        let Some(fd) = open_log_dir(dir) else {
            return;
        };
        if let Trust::PrivateDir = trust {
            let Ok(stat) = rustix::fs::fstat(&fd) else {
                return;
            };
            let euid = rustix::process::geteuid().as_raw();
            if !(stat.st_uid == euid || stat.st_uid == 0) || stat.st_mode & 0o022 != 0 {
                debug!(
                    dir = &*shown(dir),
                    "not a private dir of this user; its logs are not read"
                );
                return;
            }
        }
        let Ok(entries) = rustix::fs::Dir::read_from(&fd) else {
            return;
        };
        let mut names: Vec<(Vec<u8>, Vec<u8>)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_bytes();
                let own = rolling_family(Path::new(OsStr::from_bytes(name)))?;
                if family.is_some_and(|f| f != own) {
                    return None;
                }
                let date = name[name.len() - 14..name.len() - 4].to_vec();
                Some((date, name.to_vec()))
            })
            .collect();
        names.sort_unstable_by(|a, b| b.cmp(a));
        for (_, name) in names.into_iter().take(FILES_PER_DIR) {
            let name = OsStr::from_bytes(&name);
            self.read_file(fd.as_fd(), name, &dir.join(name), trust);
        }
    }

    /// The failed-refresh lines of the last TAIL_BYTES of `name` in `dir`
    /// (shown as `path`), when it is a regular file not read yet, of the
    /// owner `trust` names.
    fn read_file(&mut self, dir: BorrowedFd, name: &OsStr, path: &Path, trust: Trust) {
        let Ok(name) = CString::new(name.as_bytes()) else {
            return;
        };
        let shown = shown(path);
        let Some((fd, stat)) = open_regular(dir, &name) else {
            debug!(
                log = &*shown,
                "log missing, a symlink (never followed) or not a regular file; not read"
            );
            return;
        };
        if let Trust::Owner(uid) = trust
            && stat.st_uid != uid
        {
            debug!(
                log = &*shown,
                owner = stat.st_uid,
                state_dir_owner = uid,
                "log not owned by the state dir's owner; not read"
            );
            return;
        }
        if self.seen.contains(&(stat.st_dev, stat.st_ino)) {
            return;
        }
        self.seen.push((stat.st_dev, stat.st_ino));
        let Some(text) = tail(&fd, stat.st_size as u64) else {
            return;
        };
        let before = self.lines.len();
        parse(&text, &shown, &mut self.lines);
        debug!(
            log = &*shown,
            bytes = text.len(),
            failed_refreshes = self.lines.len() - before,
            "read OpenClaw's log for the sub-reason of failed refreshes"
        );
    }
}

/// `dir`, reached one component at a time from `/` (or from the current
/// dir, for a relative path) without following a symlink at any of them:
/// `O_NOFOLLOW` on the whole path would check its last component only.
fn open_dir(dir: &Path) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let start = if dir.has_root() { "/" } else { "." };
    let mut fd = rustix::fs::open(start, flags, Mode::empty())?;
    for part in dir.components().filter(|c| *c != Component::RootDir) {
        fd = rustix::fs::openat(&fd, part.as_os_str(), flags, Mode::empty())?;
    }
    Ok(fd)
}

/// `open_dir`, saying at debug level why a dir that is there was not opened.
fn open_log_dir(dir: &Path) -> Option<OwnedFd> {
    match open_dir(dir) {
        Ok(fd) => Some(fd),
        Err(rustix::io::Errno::NOENT) => None,
        // A symlink opened with O_DIRECTORY | O_NOFOLLOW gives ENOTDIR, as a
        // file does.
        Err(rustix::io::Errno::NOTDIR) => {
            debug!(
                dir = &*shown(dir),
                "a symlink (never followed) or a file on the path of this log dir; its logs are not read"
            );
            None
        }
        Err(e) => {
            debug!(dir = &*shown(dir), reason = %e, "cannot open this log dir; its logs are not read");
            None
        }
    }
}

/// `logging.file` of OpenClaw's config, when that is plain JSON and the path
/// absolute. The config is `$OPENCLAW_CONFIG_PATH` where that is set (in
/// wrapper mode the sweeper has the gateway's environment), else
/// `<state>/openclaw.json`. OpenClaw reads the file as JSON5; one that needs
/// JSON5 (or `$include`) is not followed, and the default dirs still are.
fn configured_file(root: BorrowedFd) -> Option<PathBuf> {
    let (fd, _) = match std::env::var_os("OPENCLAW_CONFIG_PATH")
        .map(|p| PathBuf::from(OsStr::from_bytes(p.as_bytes().trim_ascii())))
        .filter(|p| !p.as_os_str().is_empty())
    {
        Some(config) if config.is_absolute() => {
            let dir = open_dir(config.parent()?).ok()?;
            open_regular(
                dir.as_fd(),
                &CString::new(config.file_name()?.as_bytes()).ok()?,
            )?
        }
        Some(config) => {
            debug!(
                config = &*shown(&config),
                "OPENCLAW_CONFIG_PATH is not absolute; its logging.file is not followed"
            );
            return None;
        }
        None => open_regular(root, c"openclaw.json")?,
    };
    let text = read_to_end(fd, MAX_CONFIG_BYTES)?;
    let Ok(config) = serde_json::from_slice::<Value>(&text) else {
        debug!("openclaw.json is not plain JSON; its logging.file is not followed");
        return None;
    };
    let file = config.get("logging")?.get("file")?.as_str()?;
    let path = PathBuf::from(file);
    if !path.is_absolute() {
        debug!(
            logging_file = file,
            "logging.file is not absolute; not followed"
        );
        return None;
    }
    Some(path)
}

/// The family of a rolling log name (`openclaw[-<profile>]-YYYY-MM-DD.log`):
/// OpenClaw writes such a path under the current day's name instead.
fn rolling_family(path: &Path) -> Option<&[u8]> {
    let name = path.file_name()?.as_bytes();
    let stem = name.strip_suffix(b".log")?;
    let (family, date) = stem.split_at_checked(stem.len().checked_sub(11)?)?;
    let rolling = is_date(&date[1..])
        && date[0] == b'-'
        && (family == b"openclaw"
            || family.strip_prefix(b"openclaw-").is_some_and(|seg| {
                !seg.is_empty()
                    && seg
                        .iter()
                        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            }));
    rolling.then_some(family)
}

fn is_date(s: &[u8]) -> bool {
    s.len() == 10
        && s.iter().enumerate().all(|(i, &b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// The last TAIL_BYTES of a file of `size` bytes, from its first whole line.
fn tail(fd: &OwnedFd, size: u64) -> Option<Vec<u8>> {
    let start = size.saturating_sub(TAIL_BYTES);
    let mut text = vec![0; (size - start) as usize];
    let mut done = 0;
    while done < text.len() {
        match rustix::io::pread(fd, &mut text[done..], start + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
    text.truncate(done);
    if start > 0 {
        let first = text
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |i| i + 1);
        text.drain(..first);
    }
    Some(text)
}

/// `name` in `dir`, not through a symlink, when it is a regular file; with
/// its stat.
fn open_regular(dir: BorrowedFd, name: &CStr) -> Option<(OwnedFd, Stat)> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let stat = rustix::fs::fstat(&fd).ok()?;
    (FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile).then_some((fd, stat))
}

fn read_to_end(fd: OwnedFd, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut text = Vec::new();
    let mut file = std::fs::File::from(fd);
    file.by_ref().take(max + 1).read_to_end(&mut text).ok()?;
    (text.len() as u64 <= max).then_some(text)
}

/// The failed-refresh lines of one log's text.
fn parse(text: &[u8], file: &str, lines: &mut Vec<Line>) {
    for raw in text.split(|&b| b == b'\n') {
        // Most lines are something else: no JSON parse for them (str's
        // search, unlike a byte-window scan, skips ahead).
        let Some(raw) = std::str::from_utf8(raw)
            .ok()
            .filter(|l| l.contains("failed for provider"))
        else {
            continue;
        };
        let Ok(line) = serde_json::from_str::<Value>(raw) else {
            continue;
        };
        let Some((id, error)) = message(&line).and_then(failed_refresh) else {
            continue;
        };
        let at = line
            .get("_meta")
            .and_then(|m| m.get("date"))
            .or_else(|| line.get("time"))
            .and_then(Value::as_str)
            .and_then(epoch_ms);
        let (Some(at), Some(reason)) = (at, sub_reason(error)) else {
            continue;
        };
        lines.push(Line {
            id: id.to_owned(),
            at,
            logged: Logged {
                reason,
                file: file.to_owned(),
            },
        });
    }
}

/// The logged text: tslog's `message`, else its first string argument.
fn message(line: &Value) -> Option<&str> {
    line.get("message").and_then(Value::as_str).or_else(|| {
        (0..4).find_map(|i| {
            line.get(i.to_string())
                .and_then(Value::as_str)
                .filter(|s| s.starts_with("auth profile \""))
        })
    })
}

/// The profile id and the error text of `auth profile "<id>" failed for
/// provider "<p>": <error>`.
fn failed_refresh(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("auth profile \"")?;
    let (id, rest) = rest.split_once("\" failed for provider \"")?;
    let (_, error) = rest.split_once("\": ")?;
    (!id.is_empty() && id != "(unknown)").then_some((id, error))
}

/// OpenClaw's own names for an OAuth refresh failure's text, in its order:
/// lock contention and the hard timeout first (embedded-agent-helpers'
/// `classifyProviderRuntimeFailureKind`), then the provider's reason
/// (`classifyOAuthRefreshFailureReason`).
fn sub_reason(error: &str) -> Option<&'static str> {
    let lower = error.to_lowercase();
    let has = |s: &str| lower.contains(s);
    let lock_timeout = has_word(&lower, "file lock timeout")
        && (lower.contains("/oauth-refresh") || lower.contains("/openclaw-oauth-refresh"));
    if has_word(&lower, "refresh_contention") || lock_timeout {
        return Some("refresh_contention");
    }
    if lower
        .find("oauth refresh call")
        .is_some_and(|i| has_word(&lower[i..], "exceeded hard timeout"))
    {
        return Some("refresh_timeout");
    }
    let reason = if has("refresh_token_reused") {
        "refresh_token_reused"
    } else if has("refresh_token_expired") {
        "expired"
    } else if has("invalid_grant") {
        "invalid_grant"
    } else if has("token_invalidated") {
        "token_invalidated"
    } else if [
        "sign_in_again",
        "signing in again",
        "sign in again",
        "log in again",
    ]
    .iter()
    .any(|s| has(s))
    {
        "sign_in_again"
    } else if has("invalid_refresh_token") || has("invalid refresh token") {
        "invalid_refresh_token"
    } else if has("revoked") {
        "revoked"
    } else {
        return None;
    };
    Some(reason)
}

/// `word` in `text` with a word boundary (`\b`) on each side.
fn has_word(text: &str, word: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(word).any(|(i, _)| {
        !is_word(text[..i].chars().next_back()) && !is_word(text[i + word.len()..].chars().next())
    })
}

/// `2026-12-06T18:42:42.508Z` or `...+01:00` as milliseconds since the epoch,
/// parsed as a lock's `createdAt` is. Only a time with its zone: OpenClaw's
/// `time` is the gateway's local time, so one without an offset could be any
/// hour here.
fn epoch_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let zoned = b.len() > 19 && (b.ends_with(b"Z") || matches!(b[b.len() - 6], b'+' | b'-'));
    let time = crate::lockfile::lock::parse_timestamp(s).filter(|_| zoned)?;
    i64::try_from(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_openclaws_two_forms() {
        // `_meta.date` and `time` of one line OpenClaw 2026.9.6 wrote.
        assert_eq!(
            epoch_ms("2026-12-06T18:42:42.508Z"),
            Some(1_796_582_562_508)
        );
        assert_eq!(
            epoch_ms("2026-12-06T18:42:42.508+00:00"),
            Some(1_796_582_562_508)
        );
        assert_eq!(
            epoch_ms("2026-12-06T19:42:42.508+01:00"),
            Some(1_796_582_562_508)
        );
        assert_eq!(epoch_ms("2026-12-06T18:42:42Z"), Some(1_796_582_562_000));
        for bad in [
            "",
            "2026-12-06",
            "2026-13-06T18:42:42Z",
            "2026-12-06T18:42:42",
            "x026-12-06T18:42:42Z",
        ] {
            assert_eq!(epoch_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn rolling_names_are_openclaws() {
        let family =
            |n: &str| rolling_family(Path::new(n)).map(|f| String::from_utf8_lossy(f).into_owned());
        assert_eq!(
            family("openclaw-2026-12-06.log").as_deref(),
            Some("openclaw")
        );
        assert_eq!(
            family("/v/openclaw-work-2026-12-06.log").as_deref(),
            Some("openclaw-work")
        );
        for not in [
            "openclaw.log",
            "openclaw-Work-2026-12-06.log",
            "other-2026-12-06.log",
            "openclaw-2026-12-6.log",
            "openclaw--2026-12-06.log",
        ] {
            assert_eq!(family(not), None, "{not}");
        }
    }

    #[test]
    fn sub_reasons_in_openclaws_order() {
        let r = sub_reason;
        assert_eq!(
            r(
                "OAuth token refresh failed for openai-codex: OpenAI Codex token refresh failed (HTTP 401; code=refresh_token_reused)"
            ),
            Some("refresh_token_reused")
        );
        assert_eq!(
            r("invalid_grant: the token has been Revoked"),
            Some("invalid_grant")
        );
        assert_eq!(r("Please sign in again"), Some("sign_in_again"));
        assert_eq!(
            r("OAuth refresh failed (refresh_contention): another process is already refreshing"),
            Some("refresh_contention")
        );
        assert_eq!(
            r("file lock timeout for /s/locks/oauth-refresh/lock-ab"),
            Some("refresh_contention")
        );
        assert_eq!(
            r("file lock timeout for /s/agents/main/agent/auth-profiles.json"),
            None
        );
        assert_eq!(
            r("OAuth refresh call for x exceeded hard timeout (60000ms)"),
            Some("refresh_timeout")
        );
        assert_eq!(r("not_refresh_contention_x"), None);
        assert_eq!(r("HTTP 500"), None);
    }
}
