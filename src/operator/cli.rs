//! Command-line arguments. Every flag can also come from an environment
//! variable, so a pod spec configures the sweeper without rewriting `args`;
//! a flag on the command line wins over its variable.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::operator::log::{self, LogFormat, LogLevel};

pub const HELP: &str = "\
Removes OpenClaw lock files that were abandoned by a holder that can no
longer be alive, so the gateway starts with a clean lock directory.

OpenClaw serializes OAuth token refreshes (and its config, state database
and agent stores) with JSON lock files on its state volume, and honours a
lock for as long as its holder pid is alive. In a container the gateway is
pid 1, which always exists, so a lock left behind by a killed refresh is
honoured forever: every refresh times out with `refresh_contention` and the
gateway falls back to another provider.

Run this before the gateway starts: an init container on the same volume, or
as the gateway's own command (`-- CMD`), which also covers a gateway container
restarted in place, where init containers do not run again. Candidates:
locks/**/*.lock (oauth-refresh/lock-<hex>.lock, provider-auth-persistence/,
memory-promotion-<hex>.lock), agents/*/agent/*.lock (openclaw-agent.sqlite.lock,
auth-profiles.json.lock), agents/*/sessions/.usage-cost-cache.json.lock,
openclaw.json.lock, state/*.lock, migration/*.lock,
.memory-host-events-export-*.lock, and the .reclaim guard beside each. A lock
file holding a JSON object whose `pid` is in the holder set (default: 1) is
removed; a torn lock (empty or cut short), an empty reclaim guard or an empty
directory lock once older than 10 s. But first it takes the gateway's own lock
(tmp/openclaw-*/gateway*.lock.sqlite): while a live gateway holds it, nothing
is removed. It never follows a symlink, never leaves the state dir, keeps
anything else, logs every decision to stderr and exits (or execs CMD).

Usage: openclaw-lock-sweeper [OPTIONS]
       openclaw-lock-sweeper [OPTIONS] -- CMD [ARGS...]
       openclaw-lock-sweeper --install DIR

Options:
      --state-dir <DIR>        OpenClaw's state dir [env: OPENCLAW_STATE_DIR]
                               [default: $OPENCLAW_HOME/.openclaw, else
                               $HOME/.openclaw, else the legacy .clawdbot next
                               to it if only that one exists]
      --include <GLOB>         Also sweep locks matching GLOB, relative to the
                               state dir (e.g. 'agents/*/sessions/*.lock');
                               repeatable [env: LOCK_SWEEPER_INCLUDE,
                               comma-separated]
      --holder-pid <PID>       A lock is stale when its holder is one of these
                               pids; repeatable, replaces the default
                               [default: 1] [env: LOCK_SWEEPER_HOLDER_PID,
                               comma-separated]
      --any-holder             Any holder pid counts as dead: right for an init
                               container, where nothing that uses the volume can
                               be running yet [env: LOCK_SWEEPER_ANY_HOLDER]
      --min-age <DURATION>     Only sweep locks older than this, by their
                               createdAt (else their mtime); e.g. 90s, 10m,
                               1h30m [env: LOCK_SWEEPER_MIN_AGE]
      --dry-run                Decide and report, remove nothing
                               [env: LOCK_SWEEPER_DRY_RUN]
      --watch <INTERVAL>       Keep running beside the gateway: sweep every
                               INTERVAL (e.g. 30s) until SIGTERM or SIGINT,
                               then exit 0. Requires a lock to be older
                               than --min-age, 3m unless set
                               [env: LOCK_SWEEPER_WATCH]
      --metrics-listen <ADDR>  With --watch: serve Prometheus metrics at
                               http://ADDR/metrics, ADDR an IP and a port
                               (e.g. 0.0.0.0:9477); one that cannot be bound
                               is an error before the first pass (exit 2)
                               [env: LOCK_SWEEPER_METRICS_LISTEN]
      --best-effort            Exit 0 even when some lock could not be removed
                               or some directory could not be read (the errors
                               are still logged) [env: LOCK_SWEEPER_BEST_EFFORT]
      --require-state          Fail (exit 1) when the state dir does not exist
                               or holds none of locks/, agents/, openclaw.json,
                               instead of a warning
                               [env: LOCK_SWEEPER_REQUIRE_STATE]
      --liveness <kernel|pids> kernel: first take the gateway's own lock
                               (tmp/openclaw-*/gateway*.lock.sqlite, OpenClaw
                               2026.8.1 and later) for the length of the sweep:
                               held by a live gateway, nothing is removed; free,
                               the gateway's own leftovers go too. pids: the
                               holder rules alone [env: LOCK_SWEEPER_LIVENESS]
                               [default: kernel]. Watch mode never takes it
      --report <none|json>     Print a machine-readable summary to stdout when
                               done, or the error on exit 2; the paths swept and
                               kept, with why [env: LOCK_SWEEPER_REPORT]
                               [default: none]. Not with --watch
      --log-format <text|json> Log format on stderr
                               [env: LOCK_SWEEPER_LOG_FORMAT] [default: text]
      --log-level <FILTER>     Log filter: a level (debug, trace, ...), or
                               per-target levels (TARGET=LEVEL, separated by
                               commas); the sweeper's own info lines always
                               show
                               [env: LOCK_SWEEPER_LOG_LEVEL] [default: info]
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

Boolean variables take true/false, 1/0, yes/no or on/off. RUST_LOG and
LOG_FORMAT are not read: they are often set pod-wide for other programs.
Exit codes: 0 done (or nothing to do); 1 some lock could not be removed or
some directory could not be read, or --require-state failed; 2 bad usage or
configuration, or a --metrics-listen address that cannot be bound; in wrapper
mode 126 CMD could not be run, 127 CMD was not found (as env(1)), and once CMD
runs, its own exit code.
";

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// `--state-dir` or `OPENCLAW_STATE_DIR`, with the name it came from.
    pub state_dir: Option<(PathBuf, &'static str)>,
    pub include: Vec<String>,
    pub holder_pid: Vec<u32>,
    pub any_holder: bool,
    pub min_age: Option<Duration>,
    pub watch: Option<Duration>,
    /// `--metrics-listen` or its variable, with the name it came from.
    pub metrics_listen: Option<(SocketAddr, &'static str)>,
    pub dry_run: bool,
    pub best_effort: bool,
    pub require_state: bool,
    pub liveness: Liveness,
    pub report: Report,
    pub log_format: LogFormat,
    pub log_level: LogLevel,
    /// `-- CMD [ARGS...]`: the command to exec after the sweep; empty when
    /// not wrapping.
    pub exec: Vec<OsString>,
}

/// How the sweep learns whether a gateway is alive on the state dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Ask the kernel: the gateway's coordinators are taken for the sweep
    /// (from OpenClaw 2026.8.1; before it, the pid rules alone).
    Kernel,
    /// The holder pid rules alone, as before 0.2.
    Pids,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    None,
    Json,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Boxed: `Args` is large beside the other variants.
    Sweep(Box<Args>),
    /// `--install DIR`.
    Install(PathBuf),
    Help,
    Version,
}

/// Every flag with its environment variable, in the order of `HELP`: the
/// parser takes its flags from here, the env fallback its variable names, and
/// the tests check `HELP` and the README against it, so none can drift.
///
/// Only variables of the sweeper's own are read. The generic `RUST_LOG` and
/// `LOG_FORMAT` are not read at all: a pod-wide `env` or a compose
/// `env_file` sets them for other programs, and `RUST_LOG=myapp=debug` would
/// silence the sweeper or `LOG_FORMAT=pretty` fail it (exit 2, so the
/// gateway never starts). `OPENCLAW_STATE_DIR` is OpenClaw's own name for
/// the very setting, which is why it is the one exception.
pub const FLAGS: [Flag; 14] = [
    Flag::value("state-dir", "OPENCLAW_STATE_DIR"),
    Flag::list("include", "LOCK_SWEEPER_INCLUDE"),
    Flag::list("holder-pid", "LOCK_SWEEPER_HOLDER_PID"),
    Flag::switch("any-holder", "LOCK_SWEEPER_ANY_HOLDER"),
    Flag::value("min-age", "LOCK_SWEEPER_MIN_AGE"),
    Flag::switch("dry-run", "LOCK_SWEEPER_DRY_RUN"),
    Flag::value("watch", "LOCK_SWEEPER_WATCH"),
    Flag::value("metrics-listen", "LOCK_SWEEPER_METRICS_LISTEN"),
    Flag::switch("best-effort", "LOCK_SWEEPER_BEST_EFFORT"),
    Flag::switch("require-state", "LOCK_SWEEPER_REQUIRE_STATE"),
    Flag::value("liveness", "LOCK_SWEEPER_LIVENESS"),
    Flag::value("report", "LOCK_SWEEPER_REPORT"),
    Flag::value("log-format", "LOCK_SWEEPER_LOG_FORMAT"),
    Flag::value("log-level", "LOCK_SWEEPER_LOG_LEVEL"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    pub name: &'static str,
    pub env: &'static str,
    /// Takes a value (`--min-age 90s`); else a switch (`--dry-run`).
    pub takes_value: bool,
    /// Repeatable; its variable is comma-separated.
    pub list: bool,
}

impl Flag {
    const fn value(name: &'static str, env: &'static str) -> Flag {
        Flag {
            name,
            env,
            takes_value: true,
            list: false,
        }
    }

    const fn list(name: &'static str, env: &'static str) -> Flag {
        Flag {
            list: true,
            ..Flag::value(name, env)
        }
    }

    const fn switch(name: &'static str, env: &'static str) -> Flag {
        Flag {
            takes_value: false,
            ..Flag::value(name, env)
        }
    }

    fn find(name: &str) -> Option<&'static Flag> {
        FLAGS.iter().find(|f| f.name == name)
    }
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
    let mut cli: Vec<(&'static Flag, OsString)> = Vec::new();
    let mut install = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(usage)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("install") => install = Some(PathBuf::from(parser.value().map_err(usage)?)),
            Long(name) => match Flag::find(name) {
                Some(flag) if flag.takes_value => cli.push((flag, parser.value().map_err(usage)?)),
                Some(flag) => cli.push((flag, "true".into())),
                None => return Err(usage(arg.unexpected())),
            },
            _ => return Err(usage(arg.unexpected())),
        }
    }
    if let Some(dir) = install {
        if !cli.is_empty() || exec.is_some() {
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
    Ok(Command::Sweep(Box::new(resolve(&cli, exec, env)?)))
}

/// Refuses a `LOCK_SWEEPER_*` variable that is no flag's: a misspelt one
/// (`LOCK_SWEEPER_DRYRUN`) would otherwise be ignored, and a dry run meant
/// by it would remove locks. Names the nearest variable of the table.
pub fn check_variables(names: impl IntoIterator<Item = OsString>) -> Result<(), Error> {
    for name in names {
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("LOCK_SWEEPER_") || FLAGS.iter().any(|f| f.env == name) {
            continue;
        }
        // A flag whose variable is another program's (the state dir is
        // OpenClaw's own `OPENCLAW_STATE_DIR`): name that one.
        let wanted = name["LOCK_SWEEPER_".len()..].replace('_', "-");
        if let Some(flag) = FLAGS
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(&wanted) && !f.env.starts_with("LOCK_SWEEPER_"))
        {
            return Err(Error::Usage(format!(
                "unknown variable {name}: the sweeper reads {} for this, the variable OpenClaw \
                 itself reads (or --{})",
                flag.env, flag.name
            )));
        }
        let nearest = FLAGS
            .iter()
            .filter(|f| f.env.starts_with("LOCK_SWEEPER_"))
            .min_by_key(|f| edit_distance(f.env, name))
            .expect("the table has LOCK_SWEEPER_ variables");
        return Err(Error::Usage(format!(
            "unknown variable {name}: did you mean {}? (every LOCK_SWEEPER_ variable is \
             listed in --help)",
            nearest.env
        )));
    }
    Ok(())
}

/// Levenshtein distance, by bytes: the names are ASCII.
fn edit_distance(a: &str, b: &str) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.bytes().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn usage(e: impl std::fmt::Display) -> Error {
    Error::Usage(e.to_string())
}

/// Whether a failed command line still asked for the JSON report (then the
/// report carries the error): the last `--report` given, else
/// `LOCK_SWEEPER_REPORT`. Never in wrapper mode, where stdout is CMD's.
pub fn wants_json_report(args: &[OsString], env: impl Fn(&str) -> Option<OsString>) -> bool {
    let mut report: Option<bool> = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else { continue };
        if text == "--" {
            return false;
        }
        if let Some(value) = text.strip_prefix("--report=") {
            report = Some(value.eq_ignore_ascii_case("json"));
        } else if text == "--report" {
            report = Some(args.next().is_some_and(|v| v.eq_ignore_ascii_case("json")));
        } else if text.strip_prefix("--").is_some_and(|name| {
            name == "install" || Flag::find(name).is_some_and(|f| f.takes_value)
        }) {
            args.next();
        }
    }
    report.unwrap_or_else(|| {
        env("LOCK_SWEEPER_REPORT").is_some_and(|v| {
            v.to_str()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("json"))
        })
    })
}

/// The flags as given: each from the command line (`--min-age`), else from
/// its variable (`LOCK_SWEEPER_MIN_AGE`, comma-separated for a repeatable
/// flag), with the name it came from for the error messages.
struct Given<'a, E> {
    cli: &'a [(&'static Flag, OsString)],
    env: E,
}

impl<E: Fn(&str) -> Option<OsString>> Given<'_, E> {
    fn raw(&self, name: &str) -> (Vec<OsString>, String) {
        let flag = Flag::find(name).expect("a flag of the table");
        let given: Vec<OsString> = (self.cli.iter())
            .filter(|(f, _)| f.name == name)
            .map(|(_, v)| v.clone())
            .collect();
        if !given.is_empty() {
            return (given, format!("--{name}"));
        }
        let value = (self.env)(flag.env).filter(|v| !v.is_empty());
        (value.into_iter().collect(), flag.env.to_owned())
    }

    fn values(&self, name: &str) -> Result<(Vec<String>, String), Error> {
        let (raw, source) = self.raw(name);
        let mut out = Vec::new();
        for v in raw {
            let v = v
                .into_string()
                .map_err(|_| Error::Usage(format!("{source}: not UTF-8")))?;
            if Flag::find(name).is_some_and(|f| f.list) && !source.starts_with("--") {
                out.extend(v.split(',').map(str::to_owned));
            } else {
                out.push(v);
            }
        }
        Ok((out, source))
    }

    /// The value that counts (the last one given), with its source.
    fn last(&self, name: &str) -> Result<Option<(String, String)>, Error> {
        let (mut v, source) = self.values(name)?;
        Ok(v.pop().map(|v| (v, source)))
    }

    /// A switch: its source when it is on.
    fn switch(&self, name: &str) -> Result<Option<String>, Error> {
        match self.last(name)? {
            None => Ok(None),
            Some((v, source)) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "y" | "t" => Ok(Some(source)),
                "false" | "0" | "no" | "off" | "n" | "f" => Ok(None),
                _ => Err(invalid(
                    &source,
                    &v,
                    "expected true or false (also yes/no, on/off, 1/0, y/n, t/f; any case)",
                )),
            },
        }
    }

    /// One of a fixed set of words, in any case (`options`, two of them),
    /// with its source; `default` when not given.
    fn choice<T: Copy>(
        &self,
        name: &str,
        default: T,
        options: [(&str, T); 2],
    ) -> Result<(T, Option<String>), Error> {
        let Some((v, source)) = self.last(name)? else {
            return Ok((default, None));
        };
        let word = v.trim().to_ascii_lowercase();
        match options.iter().find(|(o, _)| *o == word) {
            Some(&(_, value)) => Ok((value, Some(source))),
            None => Err(invalid(
                &source,
                &v,
                &format!("expected {} or {}, in any case", options[0].0, options[1].0),
            )),
        }
    }

    fn duration(&self, name: &str) -> Result<Option<(Duration, String, String)>, Error> {
        let Some((v, source)) = self.last(name)? else {
            return Ok(None);
        };
        let d = parse_duration(&v).map_err(|e| Error::Usage(format!("{source}: {e}")))?;
        Ok(Some((d, v, source)))
    }
}

fn invalid(source: &str, value: &str, why: &str) -> Error {
    Error::Usage(format!("{source}: invalid value {value:?}: {why}"))
}

fn resolve(
    cli: &[(&'static Flag, OsString)],
    exec: Vec<OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Args, Error> {
    let given = Given { cli, env };
    let state_dir = state_dir(&given)?;
    let (pids, pid_source) = given.values("holder-pid")?;
    let holder_pid = pids
        .iter()
        .map(|p| match p.trim().parse::<u32>() {
            Ok(pid) if pid > 0 => Ok(pid),
            _ => Err(invalid(&pid_source, p, "expected a positive pid")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let any_holder = given.switch("any-holder")?;
    if let (Some(any_source), false) = (&any_holder, holder_pid.is_empty()) {
        return Err(Error::Usage(format!(
            "{any_source} cannot be used with {pid_source}"
        )));
    }
    let min_age = given.duration("min-age")?;
    let watch = match given.duration("watch")? {
        None => None,
        Some((Duration::ZERO, v, source)) => {
            return Err(invalid(&source, &v, "the interval must be longer than 0"));
        }
        Some((_, _, source)) if !exec.is_empty() => {
            return Err(Error::Usage(format!(
                "{source} cannot be used with `-- CMD`: the watch never ends, so CMD would never start"
            )));
        }
        Some((interval, _, source)) => Some((interval, source)),
    };
    let metrics_listen = metrics_listen(&given, watch.is_some())?;
    // Beside a running gateway a young lock may be live: age is required.
    if let (Some((_, watch_source)), Some((Duration::ZERO, v, min_source))) = (&watch, &min_age) {
        return Err(Error::Usage(format!(
            "{min_source} {v:?}: {watch_source} needs a --min-age above 0: the gateway may hold a young lock legitimately"
        )));
    }
    let report = match given.choice(
        "report",
        Report::None,
        [("none", Report::None), ("json", Report::Json)],
    )? {
        (Report::Json, Some(source)) if !exec.is_empty() => {
            return Err(Error::Usage(format!(
                "{source}=json cannot be used with `-- CMD`: stdout belongs to CMD"
            )));
        }
        (Report::Json, Some(source)) if watch.is_some() => {
            let watch_source = watch.as_ref().map_or("", |(_, s)| s.as_str());
            return Err(Error::Usage(format!(
                "{source}=json cannot be used with {watch_source}: the report is printed when a sweep ends, and a watch runs until stopped"
            )));
        }
        (report, _) => report,
    };
    let liveness = given
        .choice(
            "liveness",
            Liveness::Kernel,
            [("kernel", Liveness::Kernel), ("pids", Liveness::Pids)],
        )?
        .0;
    let log_format = given
        .choice(
            "log-format",
            LogFormat::Text,
            [("text", LogFormat::Text), ("json", LogFormat::Json)],
        )?
        .0;
    let log_level = match given.last("log-level")? {
        None => LogLevel {
            filter: log::log_filter("info").expect("a valid filter").0,
            widened: None,
        },
        Some((v, source)) => match log::log_filter(&v) {
            Ok((filter, widened)) => LogLevel {
                filter,
                widened: widened.then_some((v, source)),
            },
            Err(why) => {
                return Err(Error::Usage(format!(
                    "{source}: invalid log filter {v:?}: {why}"
                )));
            }
        },
    };
    Ok(Args {
        state_dir,
        include: given.values("include")?.0,
        holder_pid,
        any_holder: any_holder.is_some(),
        min_age: min_age.map(|(d, _, _)| d),
        watch: watch.map(|(d, _)| d),
        metrics_listen,
        dry_run: given.switch("dry-run")?.is_some(),
        best_effort: given.switch("best-effort")?.is_some(),
        require_state: given.switch("require-state")?.is_some(),
        liveness,
        report,
        log_format,
        log_level,
        exec,
    })
}

/// `--state-dir` or `OPENCLAW_STATE_DIR`, with the name it came from.
fn state_dir<E: Fn(&str) -> Option<OsString>>(
    given: &Given<'_, E>,
) -> Result<Option<(PathBuf, &'static str)>, Error> {
    let (mut dirs, source) = given.raw("state-dir");
    let source = if source == "--state-dir" {
        "--state-dir"
    } else {
        "OPENCLAW_STATE_DIR"
    };
    // An empty flag is a mistake (an unset shell variable in a pod spec's
    // args), never a request for the default: the default would be
    // `$HOME/.openclaw`, which may be another state dir. An empty
    // OPENCLAW_STATE_DIR stays unset, as it is for OpenClaw.
    match dirs.pop() {
        Some(dir) if source == "--state-dir" && dir.as_encoded_bytes().trim_ascii().is_empty() => {
            Err(invalid(
                source,
                &dir.to_string_lossy(),
                "the state dir is empty: name it, or leave the flag out to use \
                 OPENCLAW_STATE_DIR, OPENCLAW_HOME or HOME",
            ))
        }
        dir => Ok(dir.map(|dir| (PathBuf::from(dir), source))),
    }
}

/// `--metrics-listen`: only a watch runs long enough to be scraped; a
/// one-shot sweep would leave the port closed, and the operator guessing
/// why.
fn metrics_listen<E: Fn(&str) -> Option<OsString>>(
    given: &Given<'_, E>,
    watching: bool,
) -> Result<Option<(SocketAddr, &'static str)>, Error> {
    match given.last("metrics-listen")? {
        None => Ok(None),
        Some((_, source)) if !watching => Err(Error::Usage(format!(
            "{source} needs --watch: only the watch sidecar runs long enough to be scraped"
        ))),
        Some((v, source)) => match v.trim().parse::<SocketAddr>() {
            Ok(addr) if source.starts_with("--") => Ok(Some((addr, "--metrics-listen"))),
            Ok(addr) => Ok(Some((addr, "LOCK_SWEEPER_METRICS_LISTEN"))),
            Err(_) => Err(invalid(
                &source,
                &v,
                "expected an IP address and a port, e.g. 0.0.0.0:9477, 127.0.0.1:9477 \
                 or [::]:9477 (a host name is not resolved)",
            )),
        },
    }
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
            Command::Sweep(a) => *a,
            other => panic!("{other:?}"),
        }
    }

    /// Every usage error names the flag or the variable it came from, as
    /// given, so the operator knows which of the pod spec's lines to fix.
    #[test]
    fn usage_errors_name_their_source() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 32] = [
            (&["--frobnicate"], &[], "--frobnicate"),
            (&["stray"], &[], "stray"),
            (
                &["--holder-pid", "0"],
                &[],
                "--holder-pid: invalid value \"0\"",
            ),
            (
                &["--holder-pid", "x"],
                &[],
                "--holder-pid: invalid value \"x\": expected a positive pid",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_HOLDER_PID", "1,,2")],
                "LOCK_SWEEPER_HOLDER_PID: invalid value \"\"",
            ),
            (
                &["--holder-pid", "7", "--any-holder"],
                &[],
                "--any-holder cannot be used with --holder-pid",
            ),
            (
                &["--holder-pid", "9"],
                &[("LOCK_SWEEPER_ANY_HOLDER", "true")],
                "LOCK_SWEEPER_ANY_HOLDER cannot be used with --holder-pid",
            ),
            (
                &["--any-holder"],
                &[("LOCK_SWEEPER_HOLDER_PID", "9")],
                "--any-holder cannot be used with LOCK_SWEEPER_HOLDER_PID",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_ANY_HOLDER", "maybe")],
                "LOCK_SWEEPER_ANY_HOLDER: invalid value \"maybe\"",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_DRY_RUN", "maybe")],
                "LOCK_SWEEPER_DRY_RUN: invalid value \"maybe\"",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_BEST_EFFORT", "2")],
                "LOCK_SWEEPER_BEST_EFFORT: invalid value \"2\"",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_REQUIRE_STATE", "si")],
                "LOCK_SWEEPER_REQUIRE_STATE: invalid value \"si\"",
            ),
            (
                &["--min-age", "5"],
                &[],
                "--min-age: invalid duration \"5\": missing unit",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_MIN_AGE", "5")],
                "LOCK_SWEEPER_MIN_AGE: invalid duration \"5\": missing unit",
            ),
            (
                &["--watch", "soon"],
                &[],
                "--watch: invalid duration \"soon\"",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_WATCH", "5")],
                "LOCK_SWEEPER_WATCH: invalid duration \"5\"",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_WATCH", "0s")],
                "LOCK_SWEEPER_WATCH: invalid value \"0s\": the interval",
            ),
            (
                &["--watch", "1m"],
                &[("LOCK_SWEEPER_MIN_AGE", "0s")],
                "LOCK_SWEEPER_MIN_AGE \"0s\": --watch needs a --min-age above 0",
            ),
            (
                &["--min-age", "0s"],
                &[("LOCK_SWEEPER_WATCH", "1m")],
                "--min-age \"0s\": LOCK_SWEEPER_WATCH needs a --min-age above 0",
            ),
            (
                &["--report", "xml"],
                &[],
                "--report: invalid value \"xml\": expected none or json, in any case",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_REPORT", "yaml")],
                "LOCK_SWEEPER_REPORT: invalid value \"yaml\"",
            ),
            (
                &["--watch", "1m"],
                &[("LOCK_SWEEPER_REPORT", "json")],
                "LOCK_SWEEPER_REPORT=json cannot be used with --watch",
            ),
            (&["--log-format"], &[], "--log-format"),
            (
                &["--log-format", "pretty"],
                &[],
                "--log-format: invalid value \"pretty\": expected text or json, in any case",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_LOG_FORMAT", "pretty")],
                "LOCK_SWEEPER_LOG_FORMAT: invalid value \"pretty\"",
            ),
            (
                &["--log-level", "loud"],
                &[],
                "--log-level: invalid log filter \"loud\"",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_LOG_LEVEL", "info,[x")],
                "LOCK_SWEEPER_LOG_LEVEL: invalid log filter",
            ),
            (
                &["--include", "a"],
                &[("LOCK_SWEEPER_LOG_LEVEL", "shout")],
                "LOCK_SWEEPER_LOG_LEVEL: invalid log filter \"shout\"",
            ),
            (&["--state-dir"], &[], "--state-dir"),
            (&["--state-dir", ""], &[], "--state-dir: invalid value \"\""),
            (&["--dry-run=yes"], &[], "--dry-run"),
            (
                &["--min-age", "10"],
                &[("LOCK_SWEEPER_MIN_AGE", "1m")],
                "--min-age: invalid duration \"10\"",
            ),
        ];
        for (argv, vars, needle) in cases {
            let err = parse_with(argv, vars).unwrap_err();
            assert!(matches!(err, Error::Usage(_)), "{argv:?} {vars:?}: {err:?}");
            assert!(err.to_string().contains(needle), "{argv:?} {vars:?}: {err}");
        }
    }

    #[test]
    fn generic_log_variables_are_not_read() {
        // Set pod-wide for other programs: neither may fail nor silence the sweeper.
        let vars = [("RUST_LOG", "myapp=debug"), ("LOG_FORMAT", "pretty")];
        let a = args(&[], &vars);
        assert_eq!(a.log_format, LogFormat::Text);
        assert_eq!(a.log_level, args(&[], &[]).log_level);
        assert_eq!(a.log_level.widened, None);
    }

    #[test]
    fn log_level_and_format_from_the_sweepers_own_variables() {
        let a = args(
            &[],
            &[
                ("LOCK_SWEEPER_LOG_LEVEL", "debug"),
                ("LOCK_SWEEPER_LOG_FORMAT", "json"),
            ],
        );
        assert_eq!(a.log_format, LogFormat::Json);
        assert!(
            a.log_level
                .filter
                .would_enable("openclaw_lock_sweeper::sweep", &tracing::Level::DEBUG)
        );
        assert_eq!(a.log_level.widened, None);
        let a = args(
            &["--log-level", "warn"],
            &[("LOCK_SWEEPER_LOG_LEVEL", "debug")],
        );
        assert_eq!(
            a.log_level.widened,
            Some(("warn".into(), "--log-level".into()))
        );
        let a = args(&[], &[("LOCK_SWEEPER_LOG_LEVEL", "off")]);
        assert_eq!(
            a.log_level.widened,
            Some(("off".into(), "LOCK_SWEEPER_LOG_LEVEL".into()))
        );
    }

    #[test]
    fn state_dir_keeps_its_source() {
        let vars = [("OPENCLAW_STATE_DIR", "/env/state")];
        assert_eq!(
            args(&[], &vars).state_dir,
            Some((PathBuf::from("/env/state"), "OPENCLAW_STATE_DIR"))
        );
        assert_eq!(
            args(&["--state-dir", "/cli"], &vars).state_dir,
            Some((PathBuf::from("/cli"), "--state-dir"))
        );
        assert_eq!(args(&[], &[("OPENCLAW_STATE_DIR", "")]).state_dir, None);
    }

    #[test]
    fn require_state_from_flag_or_variable() {
        assert!(!args(&[], &[]).require_state);
        assert!(args(&["--require-state"], &[]).require_state);
        assert!(args(&[], &[("LOCK_SWEEPER_REQUIRE_STATE", "yes")]).require_state);
    }

    #[test]
    fn json_report_wanted_even_when_parsing_fails() {
        let wants = |argv: &[&str], vars: &[(&str, &str)]| {
            let argv: Vec<OsString> = argv.iter().map(OsString::from).collect();
            let vars: Vec<(String, OsString)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect();
            wants_json_report(&argv, |k| {
                vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
            })
        };
        assert!(wants(&["--min-age", "5", "--report", "json"], &[]));
        assert!(wants(&["--report=json", "--frobnicate"], &[]));
        assert!(wants(
            &["--min-age", "5"],
            &[("LOCK_SWEEPER_REPORT", "json")]
        ));
        assert!(
            !wants(&["--report", "none"], &[("LOCK_SWEEPER_REPORT", "json")]),
            "the flag wins"
        );
        assert!(
            !wants(&["--report", "xml"], &[]),
            "an error in --report itself: no report"
        );
        assert!(!wants(&["--min-age", "5"], &[]));
        assert!(
            !wants(&["--include", "--report", "json"], &[]),
            "a value, not the flag"
        );
        assert!(
            !wants(&["--", "node", "--report", "json"], &[]),
            "stdout is CMD's"
        );
        assert!(
            !wants(&["--report", "json", "--", "node"], &[]),
            "stdout is CMD's"
        );
    }

    /// The table is the one list of flags: `--help` shows each with its
    /// variable, and the README's flag table lists the same pairs.
    #[test]
    fn help_and_readme_name_every_default_pattern() {
        let readme = include_str!("../../README.md");
        for pattern in crate::operator::config::DEFAULT_PATTERNS {
            assert!(HELP.contains(pattern), "--help does not name {pattern}");
            assert!(
                readme.contains(pattern),
                "README.md does not name {pattern}"
            );
        }
    }

    #[test]
    fn help_and_readme_list_every_flag_with_its_variable() {
        for flag in FLAGS {
            let line = HELP
                .lines()
                .position(|l| l.trim_start().starts_with(&format!("--{} ", flag.name)))
                .unwrap_or_else(|| panic!("--{} missing from HELP", flag.name));
            // The variable is named in the flag's own paragraph.
            let paragraph: String = HELP
                .lines()
                .skip(line)
                .take_while({
                    let mut first = true;
                    move |l| std::mem::take(&mut first) || !l.trim_start().starts_with('-')
                })
                .collect();
            assert!(
                paragraph.contains(&format!("[env: {}", flag.env)),
                "--{}: HELP does not name {}",
                flag.name,
                flag.env
            );
            let readme = include_str!("../../README.md");
            let row = format!("| `--{}", flag.name);
            let row = readme
                .lines()
                .find(|l| l.starts_with(&row))
                .unwrap_or_else(|| panic!("--{} missing from the README's flag table", flag.name));
            assert!(
                row.contains(&format!("`{}`", flag.env)),
                "--{}: the README's row does not name {}: {row}",
                flag.name,
                flag.env
            );
        }
        for generic in ["RUST_LOG", "LOG_FORMAT"] {
            assert!(
                !HELP.contains(&format!("env: {generic}")),
                "{generic} is not read"
            );
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
    fn metrics_listen_needs_the_watch_and_an_address() {
        let addr = |a: &str| a.parse::<SocketAddr>().unwrap();
        let a = args(
            &["--watch", "30s", "--metrics-listen", "127.0.0.1:9477"],
            &[("LOCK_SWEEPER_METRICS_LISTEN", "[::]:1")],
        );
        assert_eq!(
            a.metrics_listen,
            Some((addr("127.0.0.1:9477"), "--metrics-listen"))
        );
        let vars = [
            ("LOCK_SWEEPER_WATCH", "30s"),
            ("LOCK_SWEEPER_METRICS_LISTEN", "[::]:9477"),
        ];
        assert_eq!(
            args(&[], &vars).metrics_listen,
            Some((addr("[::]:9477"), "LOCK_SWEEPER_METRICS_LISTEN"))
        );
        let unset = [("LOCK_SWEEPER_METRICS_LISTEN", "")];
        assert_eq!(args(&["--watch", "30s"], &unset).metrics_listen, None);
        assert_eq!(args(&[], &[]).metrics_listen, None);
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: [Case; 5] = [
            (
                &["--metrics-listen", "127.0.0.1:9477"],
                &[],
                "--metrics-listen needs --watch",
            ),
            (
                &[],
                &[("LOCK_SWEEPER_METRICS_LISTEN", "0.0.0.0:9477")],
                "LOCK_SWEEPER_METRICS_LISTEN needs --watch",
            ),
            (
                &["--metrics-listen", "0.0.0.0:9477", "--", "node"],
                &[],
                "needs --watch",
            ),
            (
                &["--watch", "30s", "--metrics-listen", "localhost:9477"],
                &[],
                "--metrics-listen: invalid value \"localhost:9477\": expected an IP address",
            ),
            (
                &["--watch", "30s"],
                &[("LOCK_SWEEPER_METRICS_LISTEN", "9477")],
                "LOCK_SWEEPER_METRICS_LISTEN: invalid value \"9477\"",
            ),
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
        assert!(!a.any_holder && !a.dry_run && !a.best_effort && !a.require_state);
        assert_eq!((a.report, a.log_format), (Report::None, LogFormat::Text));
        let info = tracing::Level::INFO;
        assert!(
            a.log_level
                .filter
                .would_enable("openclaw_lock_sweeper", &info)
        );
        assert!(
            !a.log_level
                .filter
                .would_enable("openclaw_lock_sweeper", &tracing::Level::DEBUG)
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
            ("LOCK_SWEEPER_LOG_FORMAT", "json"),
            ("LOCK_SWEEPER_REPORT", ""),
        ];
        let a = args(&[], &vars);
        assert_eq!(
            a.state_dir,
            Some((PathBuf::from("/env/state"), "OPENCLAW_STATE_DIR"))
        );
        assert_eq!(a.holder_pid, vec![7, 8]);
        assert_eq!(a.include, vec!["a/*.lock", "b/*.lock"]);
        assert!(a.dry_run);
        assert_eq!(a.min_age, Some(Duration::from_secs(90)));
        assert_eq!((a.log_format, a.report), (LogFormat::Json, Report::None));
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
        assert_eq!(a.state_dir, Some((PathBuf::from("/cli"), "--state-dir")));
        assert_eq!(a.holder_pid, vec![1, 2]);
        assert_eq!(a.include, vec!["c/*.lock"]);
        assert_eq!(a.min_age, Some(Duration::from_secs(60)));
        let a = args(&["--dry-run"], &[("LOCK_SWEEPER_DRY_RUN", "false")]);
        assert!(a.dry_run, "the flag wins");
    }
}
