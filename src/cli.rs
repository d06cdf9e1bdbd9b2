//! Command-line arguments. Every flag can also come from an environment
//! variable, so a pod spec configures the sweeper without rewriting `args`;
//! a flag on the command line wins over its variable.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;

pub const HELP: &str = "\
Removes OpenClaw lock files that were abandoned by a holder that can no
longer be alive, so the gateway starts with a clean lock directory.

OpenClaw serializes OAuth token refreshes with JSON lock files on its state
volume and honours a lock for as long as its holder pid is alive. In a
container the gateway is pid 1, which always exists, so a lock left behind by
a killed refresh is honoured forever: every refresh times out with
`refresh_contention` and the gateway falls back to another provider.

Run this before the gateway starts: an init container on the same volume, or
as the gateway's own command (`-- CMD`), which also covers a gateway container
restarted in place, where init containers do not run again. It removes every
`*.lock` under `locks/` and directly in `agents/*/agent/` that is a small
regular file holding a JSON object whose `pid` is in the holder set (default:
1). It never follows a symlink, never leaves the state dir, keeps anything
else, logs every decision to stderr and exits (or execs CMD).

Usage: openclaw-lock-sweeper [OPTIONS]
       openclaw-lock-sweeper [OPTIONS] -- CMD [ARGS...]
       openclaw-lock-sweeper --install DIR

Options:
      --state-dir <DIR>        OpenClaw's state dir [env: OPENCLAW_STATE_DIR]
                               [default: $OPENCLAW_HOME/.openclaw, else
                               $HOME/.openclaw, else the legacy .clawdbot next
                               to it if only that one exists]
      --include <GLOB>         Also sweep locks matching GLOB, relative to the
                               state dir (e.g. 'agents/*/sessions/*.jsonl.lock');
                               repeatable [env: LOCK_SWEEPER_INCLUDE, comma-separated]
      --holder-pid <PID>       A lock is stale when its holder is one of these
                               pids; repeatable, replaces the default [default: 1]
                               [env: LOCK_SWEEPER_HOLDER_PID, comma-separated]
      --any-holder             Any holder pid counts as dead: right for an init
                               container, where nothing that uses the volume can
                               be running yet [env: LOCK_SWEEPER_ANY_HOLDER]
      --min-age <DURATION>     Only sweep locks older than this, by their
                               createdAt (else their mtime); e.g. 90s, 10m, 1h30m
                               [env: LOCK_SWEEPER_MIN_AGE]
      --dry-run                Decide and report, remove nothing
                               [env: LOCK_SWEEPER_DRY_RUN]
      --watch <INTERVAL>       Keep running beside the gateway: sweep every
                               INTERVAL (e.g. 30s) until SIGTERM or SIGINT, then
                               exit 0. Requires a lock to be older than --min-age,
                               3m unless set [env: LOCK_SWEEPER_WATCH]
      --best-effort            Exit 0 even when some lock could not be removed or
                               some directory could not be read (the errors are
                               still logged) [env: LOCK_SWEEPER_BEST_EFFORT]
      --report <none|json>     Print a machine-readable summary to stdout when
                               done [env: LOCK_SWEEPER_REPORT] [default: none]
      --log-format <text|json> Log format on stderr [env: LOG_FORMAT] [default: text]
      --log-level <FILTER>     Log filter: a level (error, warn, info, debug,
                               trace), optionally with per-target levels as in
                               RUST_LOG [env: RUST_LOG] [default: info]
  -h, --help                   Print help
  -V, --version                Print version

Wrapper mode (`-- CMD [ARGS...]`): sweep, then replace this process with CMD
(searched in PATH when it has no slash), so CMD keeps the pid (1 in its
container), gets the signals and its exit code is the container's; stdout is
left to CMD. The holder set then also holds this process's own pid, the pid
CMD will run as: a lock naming it was left by an earlier run of CMD. CMD is
not run after exit 2, nor after exit 1 unless --best-effort; --dry-run still
runs it. Not with --watch or --report json.

      --install <DIR>          Copy this binary to DIR/openclaw-lock-sweeper
                               (mode 0755, under a temporary name, then
                               renamed) and exit: how an init container puts
                               the wrapper on a volume the gateway mounts

Boolean variables take true/false, 1/0, yes/no or on/off.
Exit codes: 0 done (or nothing to do); 1 some lock could not be removed or
some directory could not be read; 2 bad usage or configuration; in wrapper
mode 126 CMD could not be run, 127 CMD was not found (as env(1)), and once
CMD runs, its own exit code.
";

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub state_dir: Option<PathBuf>,
    pub include: Vec<String>,
    pub holder_pid: Vec<u32>,
    pub any_holder: bool,
    pub min_age: Option<Duration>,
    pub watch: Option<Duration>,
    pub dry_run: bool,
    pub best_effort: bool,
    pub report: Report,
    pub log_format: LogFormat,
    pub log_level: String,
    /// `-- CMD [ARGS...]`: the command to exec after the sweep; empty when
    /// not wrapping.
    pub exec: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    None,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    Sweep(Args),
    /// `--install DIR`.
    Install(PathBuf),
    Help,
    Version,
}

/// Parses the arguments (without the program name), falling back to `env`
/// for every flag the command line does not give.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Command, Error> {
    use lexopt::prelude::*;
    // Everything after the first `--` is the wrapped command, untouched.
    let mut args: Vec<OsString> = args.into_iter().collect();
    let exec = args.iter().position(|a| a == "--").map(|i| {
        let cmd = args.split_off(i + 1);
        args.pop();
        cmd
    });
    let mut cli: Vec<(&'static str, String)> = Vec::new();
    let mut state_dir = None;
    let mut install = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(usage)? {
        let flag = match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("state-dir") => {
                state_dir = Some(PathBuf::from(parser.value().map_err(usage)?));
                continue;
            }
            Long("install") => {
                install = Some(PathBuf::from(parser.value().map_err(usage)?));
                continue;
            }
            Long("any-holder") | Long("dry-run") | Long("best-effort") => {
                let Long(name) = arg else { unreachable!() };
                cli.push((flag_name(name), "true".into()));
                continue;
            }
            Long(name) if VALUED.contains(&name) => flag_name(name),
            _ => return Err(usage(arg.unexpected())),
        };
        let value = parser.value().map_err(usage)?;
        let value = value
            .into_string()
            .map_err(|_| Error::Usage(format!("--{flag}: not UTF-8")))?;
        cli.push((flag, value));
    }
    if let Some(dir) = install {
        if !cli.is_empty() || state_dir.is_some() || exec.is_some() {
            return Err(Error::Usage(
                "--install DIR takes no other flag and no command".into(),
            ));
        }
        return Ok(Command::Install(dir));
    }
    let exec = match exec {
        Some(cmd) if cmd.is_empty() => {
            return Err(Error::Usage(
                "`--` must be followed by the command to run".into(),
            ));
        }
        cmd => cmd.unwrap_or_default(),
    };
    Ok(Command::Sweep(resolve(state_dir, &cli, exec, env)?))
}

/// Flags that take a value, besides --state-dir (which may be any path).
const VALUED: [&str; 7] = [
    "include",
    "holder-pid",
    "min-age",
    "watch",
    "report",
    "log-format",
    "log-level",
];

/// Each flag with its environment variable.
const ENV: [(&str, &str); 10] = [
    ("include", "LOCK_SWEEPER_INCLUDE"),
    ("holder-pid", "LOCK_SWEEPER_HOLDER_PID"),
    ("any-holder", "LOCK_SWEEPER_ANY_HOLDER"),
    ("min-age", "LOCK_SWEEPER_MIN_AGE"),
    ("watch", "LOCK_SWEEPER_WATCH"),
    ("dry-run", "LOCK_SWEEPER_DRY_RUN"),
    ("best-effort", "LOCK_SWEEPER_BEST_EFFORT"),
    ("report", "LOCK_SWEEPER_REPORT"),
    ("log-format", "LOG_FORMAT"),
    ("log-level", "RUST_LOG"),
];

fn flag_name(name: &str) -> &'static str {
    ENV.iter()
        .find(|(flag, _)| *flag == name)
        .map(|(flag, _)| *flag)
        .expect("a known flag")
}

fn usage(e: impl std::fmt::Display) -> Error {
    Error::Usage(e.to_string())
}

fn resolve(
    state_dir: Option<PathBuf>,
    cli: &[(&'static str, String)],
    exec: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Args, Error> {
    // The values of a flag with where they came from: the command line, else
    // its environment variable (comma-separated for repeatable flags).
    let values = |flag: &'static str| -> Result<(Vec<String>, String), Error> {
        let given: Vec<String> = cli
            .iter()
            .filter(|(f, _)| *f == flag)
            .map(|(_, v)| v.clone())
            .collect();
        if !given.is_empty() {
            return Ok((given, format!("--{flag}")));
        }
        let var = ENV
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, v)| *v)
            .expect("every flag has a variable");
        match env(var).filter(|v| !v.is_empty()) {
            None => Ok((Vec::new(), var.to_owned())),
            Some(v) => {
                let v = v
                    .into_string()
                    .map_err(|_| Error::Usage(format!("{var}: not UTF-8")))?;
                let repeatable = matches!(flag, "include" | "holder-pid");
                let parts = if repeatable {
                    v.split(',').map(str::to_owned).collect()
                } else {
                    vec![v]
                };
                Ok((parts, var.to_owned()))
            }
        }
    };
    let last = |flag| -> Result<Option<(String, String)>, Error> {
        let (mut v, source) = values(flag)?;
        Ok(v.pop().map(|v| (v, source)))
    };
    let invalid = |source: &str, value: &str, why: &str| {
        Error::Usage(format!("{source}: invalid value {value:?}: {why}"))
    };
    let boolean = |flag| -> Result<bool, Error> {
        match last(flag)? {
            None => Ok(false),
            Some((v, source)) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "y" | "t" => Ok(true),
                "false" | "0" | "no" | "off" | "n" | "f" => Ok(false),
                _ => Err(invalid(&source, &v, "expected true or false")),
            },
        }
    };
    let (pids, pid_source) = values("holder-pid")?;
    let holder_pid = pids
        .iter()
        .map(|p| match p.trim().parse::<u32>() {
            Ok(pid) if pid > 0 => Ok(pid),
            _ => Err(invalid(&pid_source, p, "expected a positive pid")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let any_holder = boolean("any-holder")?;
    if any_holder && !holder_pid.is_empty() {
        return Err(Error::Usage(
            "--any-holder cannot be used with --holder-pid".into(),
        ));
    }
    let min_age = match last("min-age")? {
        None => None,
        Some((v, _)) => Some(parse_duration(&v)?),
    };
    let watch = match last("watch")? {
        None => None,
        Some((v, source)) => match parse_duration(&v)? {
            Duration::ZERO => {
                return Err(invalid(&source, &v, "the interval must be longer than 0"));
            }
            _ if !exec.is_empty() => {
                return Err(Error::Usage(format!(
                    "{source} cannot be used with `-- CMD`: the watch never ends, so CMD would never start"
                )));
            }
            interval => Some(interval),
        },
    };
    let report = match last("report")? {
        None => Report::None,
        Some((v, source)) => match v.as_str() {
            "none" => Report::None,
            "json" if !exec.is_empty() => {
                return Err(Error::Usage(format!(
                    "{source}=json cannot be used with `-- CMD`: stdout belongs to CMD"
                )));
            }
            "json" => Report::Json,
            _ => return Err(invalid(&source, &v, "expected none or json")),
        },
    };
    let log_format = match last("log-format")? {
        None => LogFormat::Text,
        Some((v, source)) => match v.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(invalid(&source, &v, "expected text or json")),
        },
    };
    Ok(Args {
        state_dir: state_dir.or_else(|| env("OPENCLAW_STATE_DIR").map(PathBuf::from)),
        include: values("include")?.0,
        holder_pid,
        any_holder,
        min_age,
        watch,
        dry_run: boolean("dry-run")?,
        best_effort: boolean("best-effort")?,
        report,
        log_format,
        log_level: last("log-level")?.map_or_else(|| "info".to_owned(), |(v, _)| v),
        exec,
    })
}

// === Duration parsing ===

/// Parses `90s`, `10m`, `1h30m`, `500ms`, `2d`: one or more whole numbers,
/// each with a unit. A bare number is refused: seconds or minutes is exactly
/// the kind of guess an operator should not have to make.
pub fn parse_duration(input: &str) -> Result<Duration, Error> {
    let bad = |reason| Error::Duration {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(bad("empty"));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected a number, e.g. 90s, 10m, 1h30m"));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| bad("number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let millis_per_unit: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(bad("missing unit (ms, s, m, h or d)")),
            _ => return Err(bad("unknown unit (use ms, s, m, h or d)")),
        };
        rest = &rest[unit_len..];
        let millis = value
            .checked_mul(millis_per_unit)
            .ok_or(bad("duration too large"))?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or(bad("duration too large"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn duration_rejects_bad_input() {
        for input in [
            "",
            " ",
            "10",
            "s",
            "-5s",
            "1.5h",
            "10x",
            "10 m",
            "m10",
            "1h 30m",
            "10sec",
            "99999999999999999999s",
            "18446744073709551615d",
        ] {
            assert!(
                parse_duration(input).is_err(),
                "{input:?} should be refused"
            );
        }
    }

    #[test]
    fn duration_accepts_units() {
        let cases = [
            ("500ms", 500),
            ("90s", 90_000),
            ("10m", 600_000),
            ("1h30m", 5_400_000),
            ("2d", 172_800_000),
            ("0s", 0),
            (" 3m ", 180_000),
        ];
        for (input, millis) in cases {
            assert_eq!(
                parse_duration(input).unwrap(),
                Duration::from_millis(millis),
                "{input}"
            );
        }
    }

    #[test]
    fn duration_error_names_the_input() {
        let msg = parse_duration("10").unwrap_err().to_string();
        assert!(
            msg.contains("\"10\"") && msg.contains("missing unit"),
            "{msg}"
        );
    }

    proptest! {
        #[test]
        fn duration_sums_its_parts(h in 0u64..1000, m in 0u64..1000, s in 0u64..1000) {
            let parsed = parse_duration(&format!("{h}h{m}m{s}s")).unwrap();
            prop_assert_eq!(parsed, Duration::from_secs(h * 3600 + m * 60 + s));
        }

        #[test]
        fn duration_never_panics(input in ".{0,24}") {
            let _ = parse_duration(&input);
        }
    }

    fn parse_with(args: &[&str], vars: &[(&str, &str)]) -> Result<Command, Error> {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect();
        parse(args.iter().map(OsString::from), move |k| {
            vars.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })
    }

    fn args(args: &[&str], vars: &[(&str, &str)]) -> Args {
        match parse_with(args, vars).unwrap() {
            Command::Sweep(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cli_rejects_bad_usage() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 10] = [
            (&["--frobnicate"], &[], "--frobnicate"),
            (&["stray"], &[], "stray"),
            (&["--holder-pid", "0"], &[], "--holder-pid"),
            (&["--holder-pid", "x"], &[], "positive pid"),
            (
                &[],
                &[("LOCK_SWEEPER_HOLDER_PID", "1,,2")],
                "LOCK_SWEEPER_HOLDER_PID",
            ),
            (
                &["--holder-pid", "7", "--any-holder"],
                &[],
                "cannot be used with",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_DRY_RUN", "maybe")],
                "LOCK_SWEEPER_DRY_RUN",
            ),
            (&["--report", "xml"], &[], "none or json"),
            (&["--log-format"], &[], "--log-format"),
            (&["--min-age", "10"], &[], "missing unit"),
        ];
        for (argv, vars, needle) in cases {
            let err = parse_with(argv, vars).unwrap_err();
            assert!(
                matches!(err, Error::Usage(_) | Error::Duration { .. }),
                "{argv:?}: {err:?}"
            );
            assert!(err.to_string().contains(needle), "{argv:?}: {err}");
        }
    }

    #[test]
    fn wrapper_and_install() {
        let a = args(&["--dry-run", "--", "node", "--", "-x"], &[]);
        assert!(a.dry_run);
        assert_eq!(a.exec, ["node", "--", "-x"].map(OsString::from));
        assert!(args(&[], &[]).exec.is_empty());
        assert_eq!(
            parse_with(&["--install", "/opt/x"], &[("LOCK_SWEEPER_DRY_RUN", "1")]).unwrap(),
            Command::Install(PathBuf::from("/opt/x")),
            "the sweeper's variables do not matter to --install"
        );
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 6] = [
            (&["--"], &[], "followed by the command"),
            (&["--watch", "1s", "--", "node"], &[], "--watch cannot"),
            (
                &["--", "node"],
                &[("LOCK_SWEEPER_WATCH", "1s")],
                "LOCK_SWEEPER_WATCH cannot",
            ),
            (
                &["--report", "json", "--", "node"],
                &[],
                "stdout belongs to CMD",
            ),
            (&["--install", "/d", "--dry-run"], &[], "no other flag"),
            (&["--install", "/d", "--", "node"], &[], "no other flag"),
        ];
        for (argv, vars, needle) in cases {
            let err = parse_with(argv, vars).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{argv:?}: {err:?}");
            assert!(err.to_string().contains(needle), "{argv:?}: {err}");
        }
    }

    #[test]
    fn cli_defaults() {
        let a = args(&[], &[]);
        assert_eq!(a.state_dir, None);
        assert!(a.include.is_empty() && a.holder_pid.is_empty());
        assert!(!a.any_holder && !a.dry_run && !a.best_effort);
        assert_eq!(
            (a.report, a.log_format, a.log_level.as_str()),
            (Report::None, LogFormat::Text, "info")
        );
        assert_eq!(parse_with(&["--help"], &[]).unwrap(), Command::Help);
        assert_eq!(parse_with(&["-V"], &[]).unwrap(), Command::Version);
    }

    #[test]
    fn cli_flags_win_over_env_and_env_fills_in() {
        let vars = [
            ("OPENCLAW_STATE_DIR", "/env/state"),
            ("LOCK_SWEEPER_HOLDER_PID", "7,8"),
            ("LOCK_SWEEPER_INCLUDE", "a/*.lock,b/*.lock"),
            ("LOCK_SWEEPER_DRY_RUN", "yes"),
            ("LOCK_SWEEPER_MIN_AGE", "90s"),
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
            ("LOCK_SWEEPER_REPORT", ""),
        ];
        let a = args(&[], &vars);
        assert_eq!(a.state_dir, Some(PathBuf::from("/env/state")));
        assert_eq!(a.holder_pid, vec![7, 8]);
        assert_eq!(a.include, vec!["a/*.lock", "b/*.lock"]);
        assert!(a.dry_run);
        assert_eq!(a.min_age, Some(Duration::from_secs(90)));
        assert_eq!(
            (a.log_format, a.log_level.as_str(), a.report),
            (LogFormat::Json, "debug", Report::None)
        );
        let a = args(
            &[
                "--state-dir",
                "/cli",
                "--holder-pid",
                "1",
                "--holder-pid=2",
                "--include",
                "c/*.lock",
                "--min-age",
                "1m",
            ],
            &vars,
        );
        assert_eq!(a.state_dir, Some(PathBuf::from("/cli")));
        assert_eq!(a.holder_pid, vec![1, 2]);
        assert_eq!(a.include, vec!["c/*.lock"]);
        assert_eq!(a.min_age, Some(Duration::from_secs(60)));
        let a = args(&["--dry-run"], &[("LOCK_SWEEPER_DRY_RUN", "false")]);
        assert!(a.dry_run, "the flag wins");
    }
}
