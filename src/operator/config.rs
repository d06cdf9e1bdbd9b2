//! The resolved settings the rest of the program reads: where the state dir
//! is, which paths are candidates, and which holders count as dead.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use rustix::fs::{AtFlags, FileType};

use crate::error::Error;
use crate::operator::cli::{Args, Liveness, Report};

/// Where OpenClaw (2026.5 to 2026.9) keeps the locks that a dead holder
/// leaves wedged: every lock under `locks/` (`oauth-refresh/lock-<hex>.lock`,
/// `provider-auth-persistence/`, `memory-promotion-<hex>.lock`, ...); each
/// agent's store locks (`openclaw-agent.sqlite.lock`, the older
/// `auth-profiles.json.lock`, and the directory locks of older releases);
/// the usage-cost refresh lock of 2026.5 and 2026.7 (a literal name: the
/// sessions themselves are never listed); the config, state database,
/// onboarding and memory-export locks at the state root. Each pattern but
/// the usage-cost lock also finds the `.reclaim` guard beside its locks
/// (`Pattern::guard_source`). OpenClaw's session locks
/// (`sessions/*.jsonl.lock`) are not here: it reclaims those itself.
pub const DEFAULT_PATTERNS: [&str; 7] = [
    "locks/**/*.lock",
    "agents/*/agent/*.lock",
    "agents/*/sessions/.usage-cost-cache.json.lock",
    "openclaw.json.lock",
    "state/*.lock",
    "migration/*.lock",
    ".memory-host-events-export-*.lock",
];

/// The usage-cost refresh lock's name: the one default lock that has no
/// reclaim guard.
const USAGE_COST_LOCK: &str = "/.usage-cost-cache.json.lock";

/// `--min-age` in watch mode unless set: OpenClaw's own stale window for its
/// OAuth refresh lock (`OAUTH_REFRESH_LOCK_OPTIONS.stale`, 180 s, in every
/// release from 2026.5 to 2026.9), which is longer than anything a healthy
/// holder does under the lock: the refresh call itself times out after 120 s
/// (`OAUTH_REFRESH_CALL_TIMEOUT_MS`), and a waiter gives up after about 150 s.
pub const WATCH_DEFAULT_MIN_AGE: Duration = Duration::from_secs(180);

#[derive(Debug)]
pub struct Config {
    pub state_dir: PathBuf,
    /// Where the state dir came from, for the start-up log line.
    pub state_dir_source: &'static str,
    pub patterns: Vec<Pattern>,
    pub holders: Holders,
    pub min_age: Option<Duration>,
    /// `--watch`: the interval between passes.
    pub watch: Option<Duration>,
    /// `--metrics-listen` (with `--watch` only), with the name it came from.
    pub metrics_listen: Option<(SocketAddr, &'static str)>,
    pub dry_run: bool,
    pub best_effort: bool,
    /// `--require-state`: a missing state dir, or one with none of `locks/`,
    /// `agents/` and `openclaw.json`, fails the sweep (exit 1) instead of a
    /// warning.
    pub require_state: bool,
    pub liveness: Liveness,
    pub report: Report,
}

/// Which holder pids cannot be alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holders {
    Pids(Vec<u32>),
    Any,
}

impl Holders {
    pub fn contains(&self, pid: u64) -> bool {
        match self {
            Holders::Any => true,
            Holders::Pids(pids) => pids.iter().any(|&p| u64::from(p) == pid),
        }
    }
}

impl std::fmt::Display for Holders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holders::Any => f.write_str("any"),
            Holders::Pids(pids) => {
                let list: Vec<String> = pids.iter().map(u32::to_string).collect();
                write!(f, "{{{}}}", list.join(","))
            }
        }
    }
}

impl Config {
    /// `wrapping`: wrapper mode (`-- CMD`), where this process's own pid is
    /// the one CMD will run as.
    pub fn from_args(args: Args, wrapping: bool) -> Result<Config, Error> {
        let env = |name: &str| std::env::var_os(name);
        let explicit = args
            .state_dir
            .as_ref()
            .map(|(dir, from)| (dir.as_path(), *from));
        let (state_dir, state_dir_source) = resolve_state_dir(explicit, env)?;
        let patterns = DEFAULT_PATTERNS
            .iter()
            .map(|p| p.to_string())
            .chain(args.include.iter().map(|p| p.trim().to_owned()))
            .map(|p| Pattern::parse(&p))
            .collect::<Result<_, _>>()?;
        if let Some(p) = args.include.iter().find(|p| reaches_tmp(p.trim())) {
            return Err(Error::Pattern {
                pattern: p.trim().to_owned(),
                reason:
                    "it reaches tmp/, where the gateway's own lock files are: the sweep judges \
                         those only when the kernel shows no gateway runs; start the pattern with \
                         the directory it is meant for (locks/, agents/, ...)"
                        .into(),
            });
        }
        let mut holders = if args.any_holder {
            Holders::Any
        } else if args.holder_pid.is_empty() {
            Holders::Pids(vec![1])
        } else {
            Holders::Pids(args.holder_pid)
        };
        // The wrapped command will run as this very pid, and nothing runs as
        // it yet: a lock naming it was left by an earlier run of the command
        // in this container (under `init: true`, say, where it is not pid 1).
        if let (true, Holders::Pids(pids)) = (wrapping, &mut holders) {
            let own = std::process::id();
            if !pids.contains(&own) {
                pids.push(own);
            }
        }
        // Beside a running gateway a young lock may be live: age is required
        // (cli.rs refuses a --min-age of 0 with --watch).
        let min_age = match args.watch {
            Some(_) => Some(args.min_age.unwrap_or(WATCH_DEFAULT_MIN_AGE)),
            None => args.min_age,
        };
        Ok(Config {
            state_dir,
            state_dir_source,
            patterns,
            holders,
            min_age,
            watch: args.watch,
            metrics_listen: args.metrics_listen,
            dry_run: args.dry_run,
            best_effort: args.best_effort,
            require_state: args.require_state,
            liveness: args.liveness,
            report: args.report,
        })
    }
}

// === State dir ===

/// Resolves the state dir the way OpenClaw does (`resolveStateDir`): an
/// explicit dir (`--state-dir` or `OPENCLAW_STATE_DIR`, named in `explicit`)
/// with a leading `~` expanded, else `.openclaw` in the effective home
/// (`OPENCLAW_HOME`, else `HOME`), falling back to the legacy `.clawdbot`
/// when only that one exists. Also returns the one name the dir came from:
/// `--state-dir`, `OPENCLAW_STATE_DIR`, `OPENCLAW_HOME`, `HOME` or
/// `legacy .clawdbot`.
pub fn resolve_state_dir(
    explicit: Option<(&Path, &'static str)>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<(PathBuf, &'static str), Error> {
    let non_empty = |v: Option<OsString>| v.map(trim).filter(|v| !v.is_empty());
    let os_home = || non_empty(env("HOME"));
    let home = || -> Option<(OsString, &'static str)> {
        match non_empty(env("OPENCLAW_HOME")) {
            Some(h) => expand_tilde(&h, os_home).map(|h| (h, "OPENCLAW_HOME")),
            None => os_home().map(|h| (h, "HOME")),
        }
    };
    if let Some((dir, from)) = explicit
        .map(|(p, from)| (trim(p.as_os_str().to_owned()), from))
        .filter(|(dir, _)| !dir.is_empty())
    {
        let expanded = expand_tilde(&dir, || home().map(|(h, _)| h)).ok_or(Error::NoHome(
            "the state dir starts with ~ but neither OPENCLAW_HOME nor HOME is set",
        ))?;
        return Ok((absolute(expanded)?, from));
    }
    let (home, from) = home().ok_or(Error::NoHome(
        "set --state-dir, OPENCLAW_STATE_DIR, OPENCLAW_HOME or HOME",
    ))?;
    let home = absolute(home)?;
    let current = home.join(".openclaw");
    let legacy = home.join(".clawdbot");
    // `exists` follows symlinks, as OpenClaw's `fs.existsSync` does.
    if !current.exists() && legacy.exists() {
        return Ok((legacy, "legacy .clawdbot"));
    }
    Ok((current, from))
}

/// What a state dir holds when it holds none of `locks/`, `agents/` and
/// `openclaw.json`: `None` when it holds one (it looks like OpenClaw's), else a short
/// description of what is there, naming a `.openclaw` or `.clawdbot` inside
/// it as the likely state dir (a volume mounted one level up).
pub fn not_a_state_dir(dir: BorrowedFd<'_>, path: &Path) -> Option<String> {
    let exists = |name: &str| rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok();
    // `openclaw.json` too: OpenClaw's config, which its manifests put in
    // place before the first start, when there are no locks or agents yet.
    if exists("locks") || exists("agents") || exists("openclaw.json") {
        return None;
    }
    // At most this many entries are read: the root of a big volume may
    // hold a lot, and a few names are enough to recognize it.
    const READ: usize = 1000;
    const SHOW: usize = 5;
    let mut names: Vec<String> = rustix::fs::Dir::read_from(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| {
            crate::operator::report::shown(Path::new(OsStr::from_bytes(
                entry.file_name().to_bytes(),
            )))
        })
        .filter(|name| name != "." && name != "..")
        .take(READ)
        .collect();
    names.sort();
    let found = match names.len() {
        0 => "it is empty".to_owned(),
        n if n > SHOW => format!(
            "it holds {}, ... ({n}{} entries)",
            names[..SHOW].join(", "),
            if n == READ { "+" } else { "" }
        ),
        _ => format!("it holds {}", names.join(", ")),
    };
    let likely = [".openclaw", ".clawdbot"]
        .into_iter()
        .find(|name| {
            rustix::fs::statat(dir, *name, AtFlags::empty())
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
        })
        .map(|name| {
            format!(
                "; the state dir is likely {}",
                crate::operator::report::shown(&path.join(name))
            )
        })
        .unwrap_or_default();
    Some(format!(
        "holds none of locks/, agents/ or openclaw.json: {found}{likely}"
    ))
}

fn trim(s: OsString) -> OsString {
    let bytes = s.as_bytes().trim_ascii();
    OsStr::from_bytes(bytes).to_owned()
}

/// Expands `~` and `~/...` (not `~user`), as OpenClaw's `expandHomePrefix`.
fn expand_tilde(path: &OsStr, home: impl FnOnce() -> Option<OsString>) -> Option<OsString> {
    let bytes = path.as_bytes();
    match bytes {
        [b'~'] => home(),
        [b'~', b'/', rest @ ..] => {
            let mut expanded = PathBuf::from(home()?);
            expanded.push(OsStr::from_bytes(rest));
            Some(expanded.into_os_string())
        }
        _ => Some(path.to_owned()),
    }
}

fn absolute(path: OsString) -> Result<PathBuf, Error> {
    let path = PathBuf::from(path);
    std::path::absolute(&path).map_err(|e| Error::StateDir {
        path,
        reason: e.to_string(),
    })
}

// === Candidate patterns ===

/// Whether an `--include` pattern can name a file under `tmp/`: the
/// gateway's own files (`tmp/openclaw-<uid>/gateway*.lock`), which only the
/// kernel's proof may sweep, and which would otherwise be judged by the
/// holder rules (in watch mode, beside the live gateway that holds them).
fn reaches_tmp(source: &str) -> bool {
    let Ok(pattern) = Pattern::parse(source) else {
        return false;
    };
    match pattern.segments.first() {
        Some(Segment::AnyDepth) => true,
        Some(first) => pattern.segments.len() > 1 && first.matches(b"tmp"),
        None => false,
    }
}

/// A glob relative to the state dir, split into path segments so the walk
/// only opens directories that can lead to a match (it never lists an
/// agent's sessions or workspace).
#[derive(Debug)]
pub struct Pattern {
    pub source: String,
    pub segments: Vec<Segment>,
    /// Names beside this pattern's matches that are no locks but that the
    /// walk reports (`Observed`) where it lists their directory anyway: an
    /// agent's auth store, so that nothing else looks for it again.
    pub also_observe: &'static [&'static str],
}

#[derive(Debug)]
pub enum Segment {
    /// A name, kept as the C string the walk hands to the kernel as it is.
    Literal(CString),
    /// `prefix*suffix` of plain ASCII (`*.lock`: every default pattern's
    /// glob), tested on the bytes. The glob crate would be compiled at every
    /// start and would convert each name to a `String` for its general
    /// matcher (about 7,500 instructions a name); the answer is the same
    /// (property-tested below).
    Affix {
        prefix: String,
        suffix: String,
    },
    Glob(glob::Pattern),
    /// `**`: zero or more directories.
    AnyDepth,
}

impl Pattern {
    /// Where the `.reclaim` guard beside the locks this pattern names would
    /// be; `None` for the usage-cost lock, which 2026.5 and 2026.7 write
    /// with code of their own (a temporary file linked into place) that
    /// takes no guard.
    pub fn guard_source(&self) -> Option<String> {
        (!self.source.ends_with(USAGE_COST_LOCK)).then(|| format!("{}.reclaim", self.source))
    }

    pub fn parse(source: &str) -> Result<Pattern, Error> {
        let bad = |reason: &str| Error::Pattern {
            pattern: source.to_owned(),
            reason: reason.to_owned(),
        };
        if source.is_empty() {
            return Err(bad("empty"));
        }
        let mut segments = Vec::new();
        for component in Path::new(source).components() {
            let part = match component {
                Component::Normal(part) => part,
                Component::RootDir | Component::Prefix(_) => {
                    return Err(bad("must be relative to the state dir"));
                }
                Component::ParentDir | Component::CurDir => {
                    return Err(bad("must not contain '.' or '..'"));
                }
            };
            let text = part.to_str().ok_or_else(|| bad("not UTF-8"))?;
            // NAME_MAX: no file system here has longer names, so such a
            // segment could never match anything.
            if text.len() > 255 {
                return Err(bad("a path segment is longer than 255 bytes"));
            }
            segments.push(if text == "**" {
                Segment::AnyDepth
            } else if text.contains("**") {
                return Err(bad("'**' must be a whole path segment"));
            } else if let Some(affix) = Segment::affix(text) {
                affix
            } else if text.contains(['*', '?', '[']) {
                Segment::Glob(glob::Pattern::new(text).map_err(|e| bad(e.msg))?)
            } else {
                Segment::Literal(CString::new(text).map_err(|_| bad("contains a NUL byte"))?)
            });
        }
        if matches!(segments.last(), Some(Segment::AnyDepth)) {
            return Err(bad("must end in a file name pattern, not '**'"));
        }
        Ok(Pattern {
            source: source.to_owned(),
            segments,
            also_observe: &[],
        })
    }
}

impl Segment {
    pub fn literal(&self) -> Option<&CStr> {
        match self {
            Segment::Literal(name) => Some(name),
            _ => None,
        }
    }

    fn affix(text: &str) -> Option<Segment> {
        let plain = |s: &str| s.bytes().all(|b| b.is_ascii() && !b"*?[]\\".contains(&b));
        let (prefix, suffix) = text.split_once('*')?;
        (plain(prefix) && plain(suffix)).then(|| Segment::Affix {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    pub fn matches(&self, name: &[u8]) -> bool {
        match self {
            Segment::Literal(lit) => lit.to_bytes() == name,
            // A glob sees the name's ASCII bytes in place after its lossy
            // conversion, so the bytes can be tested as they are.
            Segment::Affix { prefix, suffix } => {
                name.len() >= prefix.len() + suffix.len()
                    && name.starts_with(prefix.as_bytes())
                    && name.ends_with(suffix.as_bytes())
            }
            Segment::Glob(glob) => glob.matches_with(
                &String::from_utf8_lossy(name),
                glob::MatchOptions {
                    case_sensitive: true,
                    require_literal_separator: true,
                    require_literal_leading_dot: false,
                },
            ),
            Segment::AnyDepth => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn every_default_pattern_but_the_usage_cost_lock_has_a_guard() {
        for source in DEFAULT_PATTERNS {
            let guard = Pattern::parse(source).unwrap().guard_source();
            let usage_cost = source == "agents/*/sessions/.usage-cost-cache.json.lock";
            assert_eq!(guard.is_none(), usage_cost, "{source}");
        }
        let guard = Pattern::parse("locks/**/*.lock").unwrap().guard_source();
        assert_eq!(guard.as_deref(), Some("locks/**/*.lock.reclaim"));
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn patterns_reject_bad_input() {
        for p in [
            "",
            "/etc/*.lock",
            "../x.lock",
            "locks/../x.lock",
            "./locks/*.lock",
            "locks/**",
            "locks/a**/*.lock",
            "locks/[.lock",
        ] {
            assert!(Pattern::parse(p).is_err(), "{p:?} should be refused");
        }
    }

    #[test]
    fn patterns_split_into_segments() {
        let p = Pattern::parse("agents/*/sessions/*.jsonl.lock").unwrap();
        assert!(matches!(&p.segments[0], Segment::Literal(l) if l.to_bytes() == b"agents"));
        assert!(
            matches!(&p.segments[1], Segment::Affix { prefix, suffix } if prefix.is_empty() && suffix.is_empty())
        );
        assert!(
            matches!(&p.segments[3], Segment::Affix { prefix, suffix } if prefix.is_empty() && suffix == ".jsonl.lock")
        );
        let g = Pattern::parse("locks/sha256-[0-9a-f]*.lock").unwrap();
        assert!(matches!(g.segments[1], Segment::Glob(_)));
        let d = Pattern::parse("locks/**/*.lock").unwrap();
        assert!(matches!(d.segments[1], Segment::AnyDepth));
    }

    #[test]
    fn glob_segment_matches_names_including_non_utf8() {
        for pattern in ["*.lock", "[s]*.lock"] {
            let seg = Pattern::parse(pattern).unwrap().segments.remove(0);
            assert!(seg.matches(b"sha256-ab.lock"));
            assert!(!seg.matches(b"x.lock.bak"));
            assert!(!seg.matches(b"auth-profiles.json"));
        }
        let seg = Pattern::parse("*.lock").unwrap().segments.remove(0);
        assert!(seg.matches(b"\xff\xfe.lock"));
        assert!(seg.matches(b".lock"));
        assert!(!seg.matches(b"a.lock.reclaim"));
        let export = Pattern::parse(".memory-host-events-export-*.lock").unwrap();
        assert!(export.segments[0].matches(b".memory-host-events-export-1.lock"));
        assert!(!export.segments[0].matches(b".memory-host-events-export.lock"));
        let overlap = Pattern::parse("a*a").unwrap();
        assert!(overlap.segments[0].matches(b"aa") && !overlap.segments[0].matches(b"a"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// Every segment answers as the glob crate does, on names of any
        /// bytes (invalid UTF-8 included) and globs of every shape.
        #[test]
        fn segments_match_as_the_glob_crate_does(
            // The second shape makes overlapping affixes (`a*a` against `a`)
            // common.
            text in prop_oneof!["[a.*?\\[\\]lé]{1,6}", "[a*]{1,4}"],
            name in proptest::collection::vec(
                prop_oneof![Just(b'a'), Just(b'.'), Just(b'l'), Just(b'*'), Just(0xc3), Just(0xa9), Just(0xff)],
                0..8,
            ),
        ) {
            let Ok(glob) = glob::Pattern::new(&text) else { return Ok(()) };
            let Ok(mut pattern) = Pattern::parse(&text) else { return Ok(()) };
            let segment = pattern.segments.remove(0);
            let options = glob::MatchOptions {
                case_sensitive: true,
                require_literal_separator: true,
                require_literal_leading_dot: false,
            };
            prop_assert_eq!(
                segment.matches(&name),
                glob.matches_with(&String::from_utf8_lossy(&name), options),
                "glob {:?} ({:?}) name {:?}", text, segment, name
            );
        }
    }

    #[test]
    fn state_dir_explicit_wins_and_expands_tilde() {
        let env = env_of(&[("HOME", "/home/node"), ("OPENCLAW_HOME", "/srv/oc")]);
        let (dir, _) =
            resolve_state_dir(Some((Path::new("~/state"), "--state-dir")), &env).unwrap();
        assert_eq!(dir, Path::new("/srv/oc/state"));
        let (dir, from) =
            resolve_state_dir(Some((Path::new(" /data/oc "), "OPENCLAW_STATE_DIR")), &env).unwrap();
        assert_eq!(
            (dir.as_path(), from),
            (Path::new("/data/oc"), "OPENCLAW_STATE_DIR")
        );
    }

    #[test]
    fn state_dir_from_openclaw_home_then_home() {
        let env = env_of(&[("HOME", "/nonexistent-home"), ("OPENCLAW_HOME", "~/oc")]);
        let (dir, from) = resolve_state_dir(None, &env).unwrap();
        assert_eq!(
            (dir.as_path(), from),
            (Path::new("/nonexistent-home/oc/.openclaw"), "OPENCLAW_HOME")
        );
        let env = env_of(&[("HOME", "/nonexistent-home"), ("OPENCLAW_HOME", "  ")]);
        let (dir, from) = resolve_state_dir(None, &env).unwrap();
        assert_eq!(
            (dir.as_path(), from),
            (Path::new("/nonexistent-home/.openclaw"), "HOME")
        );
        // (An empty --state-dir is refused before: cli.rs.)
        let (dir, from) =
            resolve_state_dir(Some((Path::new(" "), "OPENCLAW_STATE_DIR")), &env).unwrap();
        assert_eq!(
            (dir.as_path(), from),
            (Path::new("/nonexistent-home/.openclaw"), "HOME")
        );
    }

    #[test]
    fn state_dir_needs_some_home() {
        assert!(matches!(
            resolve_state_dir(None, env_of(&[])),
            Err(Error::NoHome(_))
        ));
        assert!(resolve_state_dir(Some((Path::new("~/x"), "--state-dir")), env_of(&[])).is_err());
    }

    #[test]
    fn state_dir_falls_back_to_legacy_only_when_new_is_missing() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path().to_str().unwrap().to_owned();
        let env = env_of(&[("HOME", &h)]);
        std::fs::create_dir(home.path().join(".clawdbot")).unwrap();
        let (dir, source) = resolve_state_dir(None, &env).unwrap();
        assert_eq!(dir, home.path().join(".clawdbot"));
        assert_eq!(source, "legacy .clawdbot");
        std::fs::create_dir(home.path().join(".openclaw")).unwrap();
        let (dir, _) = resolve_state_dir(None, &env).unwrap();
        assert_eq!(dir, home.path().join(".openclaw"));
    }

    #[test]
    fn holders_display_and_contain() {
        let h = Holders::Pids(vec![1, 7]);
        assert_eq!(h.to_string(), "{1,7}");
        assert!(h.contains(7) && !h.contains(8) && !h.contains(u64::from(u32::MAX) + 2));
        assert!(Holders::Any.contains(12345));
    }
}
