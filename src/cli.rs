//! Command-line arguments. Every flag can also come from an environment
//! variable, so a pod spec configures the sweeper without rewriting `args`.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Parser, ValueEnum};

use crate::error::Error;

/// Removes OpenClaw lock files that were abandoned by a holder that can no
/// longer be alive, so the gateway starts with a clean lock directory.
///
/// OpenClaw serializes OAuth token refreshes with JSON lock files on its state
/// volume and honours a lock for as long as its holder pid is alive. In a
/// container the gateway is pid 1, which always exists, so a lock left behind
/// by a killed refresh is honoured forever: every refresh times out with
/// `refresh_contention` and the gateway falls back to another provider.
///
/// Run this before the gateway starts (an init container on the same volume).
/// It removes every `*.lock` under `locks/` and directly in `agents/*/agent/`
/// that is a small regular file holding a JSON object whose `pid` is in the
/// holder set (default: 1). It never follows a symlink, never leaves the
/// state dir, keeps anything else, logs every decision to stderr and exits.
#[derive(Debug, Parser)]
#[command(version, about, long_about, max_term_width = 100)]
pub struct Args {
    /// OpenClaw's state dir [default: $OPENCLAW_HOME/.openclaw, else
    /// $HOME/.openclaw, else the legacy .clawdbot next to it if only that exists]
    #[arg(long, env = "OPENCLAW_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Also sweep locks matching GLOB, relative to the state dir
    /// (e.g. 'agents/*/sessions/*.jsonl.lock'); repeatable, comma-separated in the env var
    #[arg(
        long,
        env = "LOCK_SWEEPER_INCLUDE",
        value_name = "GLOB",
        value_delimiter = ','
    )]
    pub include: Vec<String>,

    /// A lock is stale when its holder is one of these pids; repeatable,
    /// replaces the default [default: 1]
    #[arg(
        long,
        env = "LOCK_SWEEPER_HOLDER_PID",
        value_name = "PID",
        value_delimiter = ',',
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub holder_pid: Vec<u32>,

    /// Any holder pid counts as dead: right for an init container, where
    /// nothing that uses the volume can be running yet
    #[arg(long, env = "LOCK_SWEEPER_ANY_HOLDER", conflicts_with = "holder_pid", value_parser = BoolishValueParser::new())]
    pub any_holder: bool,

    /// Only sweep locks older than this, by their createdAt (else their
    /// mtime); e.g. 90s, 10m, 1h30m
    #[arg(long, env = "LOCK_SWEEPER_MIN_AGE", value_name = "DURATION", value_parser = parse_duration)]
    pub min_age: Option<Duration>,

    /// Decide and report, remove nothing
    #[arg(long, env = "LOCK_SWEEPER_DRY_RUN", value_parser = BoolishValueParser::new())]
    pub dry_run: bool,

    /// Exit 0 even when some lock could not be removed or some directory
    /// could not be read (the errors are still logged)
    #[arg(long, env = "LOCK_SWEEPER_BEST_EFFORT", value_parser = BoolishValueParser::new())]
    pub best_effort: bool,

    /// Print a machine-readable summary to stdout when done
    #[arg(long, env = "LOCK_SWEEPER_REPORT", value_enum, default_value_t = Report::None)]
    pub report: Report,

    /// Log format on stderr
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter: a level (error, warn, info, debug, trace), optionally
    /// with per-target levels as in RUST_LOG
    #[arg(long, env = "RUST_LOG", value_name = "FILTER", default_value = "info")]
    pub log_level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Report {
    None,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
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

    #[test]
    fn holder_pid_and_any_holder_conflict() {
        let err = Args::try_parse_from(["x", "--holder-pid", "7", "--any-holder"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn holder_pid_zero_is_refused() {
        assert!(Args::try_parse_from(["x", "--holder-pid", "0"]).is_err());
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }
}
