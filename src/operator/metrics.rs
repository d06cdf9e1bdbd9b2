//! The watch sidecar's Prometheus metrics (`--metrics-listen`, docs/metrics.md):
//! what the passes found, kept as the watch loop leaves it after each pass
//! and served as is, in the text exposition format 0.0.4, by a minimal
//! HTTP/1.1 responder on a thread of its own. A scrape starts no work and
//! never waits on a pass: the lock is held only to copy numbers in, once a
//! pass, or to render them out.
//!
//! Nothing per profile leaves the process: a profile's id is often an e-mail
//! address, so the metrics count profiles by provider only (the id stays in
//! the log and the JSON report). A value not known yet is absent rather than
//! a made-up zero.

use std::fmt::{Display, Write as _};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::info;

use crate::error::Error;
use crate::operator::report::{Kept, Removed, State, Summary};

/// A request's head (request line and headers) may be this long; a scrape's
/// is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;

/// All the time a client has to send its request, and then to take the
/// answer: the responder serves one client at a time, so a slow or silent
/// one holds the next scrape for this long at most (and never a pass).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

const PREFIX: &str = "openclaw_lock_sweeper_";

/// What the watch has seen since it started.
#[derive(Debug, Clone)]
pub struct Metrics {
    interval: Duration,
    dry_run: bool,
    /// When the watch started, in seconds since the epoch.
    started: f64,
    /// Passes without an error, and with one.
    ok: u64,
    failed: u64,
    /// Removed since the watch started, by kind (nothing in a dry run).
    removed: [u64; Removed::ALL.len()],
    /// When the last pass ended, and its errors.
    last: Option<(f64, u64)>,
    /// What the last pass that could read the state dir found.
    found: Option<Found>,
}

#[derive(Debug, Clone)]
struct Found {
    kept: [u64; Kept::ALL.len()],
    /// A dry run's "removed": what the pass would have removed.
    would_remove: [u64; Removed::ALL.len()],
    /// Profiles whose refresh token is dead, by provider (sorted).
    needing_login: Vec<(String, u64)>,
}

impl Metrics {
    pub fn new(interval: Duration, dry_run: bool) -> Metrics {
        Metrics {
            interval,
            dry_run,
            started: seconds(SystemTime::now()),
            ok: 0,
            failed: 0,
            removed: [0; Removed::ALL.len()],
            last: None,
            found: None,
        }
    }

    /// A pass that ended at `at`: its summary, or `None` when the state dir
    /// could not be used at all (one error; what was found before stays).
    pub fn record(&mut self, pass: Option<&Summary>, at: SystemTime) {
        let errors = pass.map_or(1, |s| s.errors);
        if errors == 0 {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        self.last = Some((seconds(at), errors));
        let Some(pass) = pass else { return };
        let by_kind = Removed::ALL.map(|r| pass.removed(r));
        let mut would_remove = [0; Removed::ALL.len()];
        if self.dry_run {
            would_remove = by_kind;
        } else {
            for (total, n) in self.removed.iter_mut().zip(by_kind) {
                *total += n;
            }
        }
        let mut needing_login: Vec<(String, u64)> = Vec::new();
        for profile in pass.profiles.iter().filter(|p| p.state == State::Permanent) {
            let provider = profile.provider.as_deref().unwrap_or("unknown");
            match needing_login.iter_mut().find(|(p, _)| p == provider) {
                Some((_, n)) => *n += 1,
                None => needing_login.push((provider.to_owned(), 1)),
            }
        }
        needing_login.sort();
        self.found = Some(Found {
            kept: Kept::ALL.map(|k| pass.kept(k)),
            would_remove,
            needing_login,
        });
    }

    /// The text exposition format, 0.0.4.
    pub fn render(&self) -> String {
        let mut t = Exposition::default();
        t.family(
            "build_info",
            "gauge",
            "The sweeper's version, as a label; always 1.",
        );
        t.sample(Some(("version", env!("CARGO_PKG_VERSION"))), &1);
        let help = "When the watch started, in seconds since the epoch.";
        t.family("start_time_seconds", "gauge", help);
        t.sample(None, &self.started);
        let help = "The time between two passes (--watch).";
        t.family("watch_interval_seconds", "gauge", help);
        t.sample(None, &self.interval.as_secs_f64());
        let help = "Watch passes since the start, by outcome: error when the state dir could \
                    not be used or something could not be removed or read.";
        t.family("sweeps_total", "counter", help);
        t.sample(Some(("outcome", "ok")), &self.ok);
        t.sample(Some(("outcome", "error")), &self.failed);
        let help = "Stale locks removed since the start, by kind (none in a dry run).";
        t.family("removed_total", "counter", help);
        for (what, n) in Removed::ALL.iter().zip(self.removed) {
            t.sample(Some(("kind", what.as_str())), &n);
        }
        if let Some((at, errors)) = self.last {
            let help = "When the last pass ended, in seconds since the epoch.";
            t.family("last_sweep_timestamp_seconds", "gauge", help);
            t.sample(None, &at);
            t.family("last_sweep_errors", "gauge", "Errors of the last pass.");
            t.sample(None, &errors);
        }
        let Some(found) = &self.found else {
            return t.out;
        };
        let help = "Candidates the last pass that read the state dir kept, by reason.";
        t.family("kept", "gauge", help);
        for (why, n) in Kept::ALL.iter().zip(found.kept) {
            t.sample(Some(("reason", why.as_str())), &n);
        }
        if self.dry_run {
            let help = "What the last pass of a dry run would have removed, by kind.";
            t.family("would_remove", "gauge", help);
            for (what, n) in Removed::ALL.iter().zip(found.would_remove) {
                t.sample(Some(("kind", what.as_str())), &n);
            }
        }
        if !found.needing_login.is_empty() {
            let help = "Auth profiles whose refresh token is dead, by provider: only a \
                        re-login cures them.";
            t.family("auth_profiles_needing_login", "gauge", help);
            for (provider, n) in &found.needing_login {
                t.sample(Some(("provider", provider)), &n);
            }
        }
        t.out
    }
}

/// The text being written, and the family its samples belong to.
#[derive(Default)]
struct Exposition {
    out: String,
    name: &'static str,
}

impl Exposition {
    fn family(&mut self, name: &'static str, kind: &str, help: &str) {
        self.name = name;
        let _ = writeln!(self.out, "# HELP {PREFIX}{name} {help}");
        let _ = writeln!(self.out, "# TYPE {PREFIX}{name} {kind}");
    }

    fn sample(&mut self, label: Option<(&str, &str)>, value: &dyn Display) {
        let name = self.name;
        let _ = match label {
            None => writeln!(self.out, "{PREFIX}{name} {value}"),
            Some((label, v)) => {
                writeln!(
                    self.out,
                    "{PREFIX}{name}{{{label}=\"{}\"}} {value}",
                    escape(v)
                )
            }
        };
    }
}

fn seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1e3)
}

/// A label value as the text format takes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The state, whoever held the lock last: a panic (an abort in a release
/// build) leaves nothing half-written worth refusing.
pub fn lock(metrics: &Mutex<Metrics>) -> MutexGuard<'_, Metrics> {
    metrics.lock().unwrap_or_else(PoisonError::into_inner)
}

// === The endpoint ===

/// Binds `addr` (an error here is the start-up's), then answers scrapes
/// from a thread of its own. Nothing joins that thread: the process exits
/// when the watch ends, however busy the thread is.
pub fn serve(
    addr: SocketAddr,
    from: &'static str,
    metrics: Metrics,
) -> Result<Arc<Mutex<Metrics>>, Error> {
    let failed = |error| Error::Listen { addr, from, error };
    let listener = TcpListener::bind(addr).map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    let shared = Arc::new(Mutex::new(metrics));
    let state = Arc::clone(&shared);
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for client in listener.incoming() {
                match client {
                    Ok(client) => answer(client, &state),
                    // Out of descriptors, say: a pause, not a busy loop.
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })
        .map_err(failed)?;
    info!(address = %bound, path = "/metrics", "serving Prometheus metrics");
    Ok(shared)
}

/// One request, one answer, then the connection closes.
fn answer(mut client: TcpStream, metrics: &Mutex<Metrics>) {
    let Some(line) = request_line(&mut client) else {
        return;
    };
    let words: Vec<&str> = line.split(' ').collect();
    let (status, body) = match words[..] {
        [method, target, version] if version.starts_with("HTTP/1.") => {
            let path = target.split('?').next().unwrap_or(target);
            match (method, path) {
                ("GET" | "HEAD", "/metrics") => ("200 OK", lock(metrics).render()),
                ("GET" | "HEAD", _) => ("404 Not Found", "the metrics are at /metrics\n".into()),
                _ => ("405 Method Not Allowed", "GET or HEAD /metrics\n".into()),
            }
        }
        _ => ("400 Bad Request", "not an HTTP/1 request\n".into()),
    };
    let content_type = if status.starts_with("200") {
        TEXT_FORMAT
    } else {
        "text/plain; charset=utf-8"
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        response.push_str("Allow: GET, HEAD\r\n");
    }
    response.push_str("\r\n");
    if words.first() != Some(&"HEAD") {
        response.push_str(&body);
    }
    // A client that does not take the answer loses it; nothing to report.
    let _ = client.set_write_timeout(Some(CLIENT_TIMEOUT));
    let _ = client.write_all(response.as_bytes());
}

/// The request line, once the whole head is in (answering before would
/// close on unread bytes, which resets the connection under the answer).
/// `None` for a client that closes, sends more than MAX_REQUEST, or takes
/// longer than CLIENT_TIMEOUT in all: it gets no answer.
fn request_line(client: &mut TcpStream) -> Option<String> {
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut head = vec![0; MAX_REQUEST];
    let mut len = 0;
    loop {
        let read = &head[..len];
        let ends = |end: &[u8]| read.windows(end.len()).any(|w| w == end);
        if ends(b"\r\n\r\n") || ends(b"\n\n") {
            let line = read.split(|&b| b == b'\n').next()?;
            return Some(
                String::from_utf8_lossy(line)
                    .trim_end_matches('\r')
                    .to_owned(),
            );
        }
        // One deadline for the whole head: a client sending a byte now and
        // then gets no more time than one sending nothing.
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())?;
        if len == head.len() || client.set_read_timeout(Some(left)).is_err() {
            return None;
        }
        match client.read(&mut head[len..]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => len += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::report::Profile;

    fn profile(id: &str, provider: Option<&str>, state: State) -> Profile {
        Profile {
            id: id.into(),
            provider: provider.map(Into::into),
            state,
            reason: "auth_permanent".into(),
            at: None,
            source: "agents/main/agent/auth-state.json".into(),
            hint: format!("run `openclaw models auth login --profile-id '{id}'`"),
            logged: None,
        }
    }

    /// The lines of the family `name` that are samples.
    fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        let name = format!("openclaw_lock_sweeper_{name}");
        text.lines()
            .filter(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
            .collect()
    }

    #[test]
    fn before_the_first_pass_only_what_is_known() {
        let text = Metrics::new(Duration::from_millis(1500), false).render();
        assert_eq!(
            samples(&text, "watch_interval_seconds"),
            ["openclaw_lock_sweeper_watch_interval_seconds 1.5"]
        );
        assert_eq!(
            samples(&text, "sweeps_total"),
            [
                "openclaw_lock_sweeper_sweeps_total{outcome=\"ok\"} 0",
                "openclaw_lock_sweeper_sweeps_total{outcome=\"error\"} 0"
            ]
        );
        assert_eq!(samples(&text, "removed_total").len(), Removed::ALL.len());
        let version = format!(
            "openclaw_lock_sweeper_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(samples(&text, "build_info"), [version.as_str()]);
        for absent in [
            "last_sweep_timestamp_seconds",
            "last_sweep_errors",
            "kept",
            "auth_profiles_needing_login",
        ] {
            assert!(
                !text.contains(&format!("openclaw_lock_sweeper_{absent}")),
                "{absent}:\n{text}"
            );
        }
    }

    #[test]
    fn passes_add_up_and_profiles_count_by_provider_only() {
        let mut m = Metrics::new(Duration::from_secs(30), false);
        let mut pass = Summary::default();
        pass.add_swept(Removed::Lock, "locks/a.lock");
        pass.add_swept(Removed::Torn, "locks/b.lock");
        pass.keep(Kept::OtherHolder, "locks/c.lock");
        // Two dead tokens of one provider, one of none, one cooldown.
        let failures = || {
            vec![
                profile(
                    "openai-codex:dead@example.com",
                    Some("openai-codex"),
                    State::Permanent,
                ),
                profile(
                    "openai-codex:other@example.com",
                    Some("openai-codex"),
                    State::Permanent,
                ),
                profile("odd", None, State::Permanent),
                profile(
                    "anthropic:cool@example.com",
                    Some("anthropic"),
                    State::Transient,
                ),
            ]
        };
        pass.profiles = failures();
        m.record(
            Some(&pass),
            UNIX_EPOCH + Duration::from_millis(1_796_531_895_834),
        );
        pass.profiles.clear();
        m.record(Some(&pass), UNIX_EPOCH + Duration::from_secs(1_796_531_926));
        let text = m.render();
        assert!(
            text.contains("openclaw_lock_sweeper_removed_total{kind=\"lock\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_lock_sweeper_removed_total{kind=\"torn-lock\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_lock_sweeper_kept{reason=\"other-holder\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_lock_sweeper_last_sweep_timestamp_seconds 1796531926\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_lock_sweeper_sweeps_total{outcome=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            !text.contains("would_remove") && !text.contains("needing_login"),
            "cured:\n{text}"
        );

        let mut dead = Summary::default();
        dead.profiles = failures();
        dead.errors = 2;
        m.record(Some(&dead), UNIX_EPOCH + Duration::from_secs(1_796_531_956));
        let text = m.render();
        assert_eq!(
            samples(&text, "auth_profiles_needing_login"),
            [
                "openclaw_lock_sweeper_auth_profiles_needing_login{provider=\"openai-codex\"} 2",
                "openclaw_lock_sweeper_auth_profiles_needing_login{provider=\"unknown\"} 1"
            ]
        );
        assert!(
            !text.contains("example.com") && !text.contains("odd\""),
            "{text}"
        );
        assert!(
            text.contains("openclaw_lock_sweeper_last_sweep_errors 2\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_lock_sweeper_sweeps_total{outcome=\"error\"} 1\n"),
            "{text}"
        );

        // A pass that could not use the state dir: one error, and what was
        // found before stays.
        m.record(None, UNIX_EPOCH + Duration::from_secs(1_796_531_986));
        let text = m.render();
        assert!(
            text.contains("openclaw_lock_sweeper_sweeps_total{outcome=\"error\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_lock_sweeper_last_sweep_errors 1\n"),
            "{text}"
        );
        assert_eq!(
            samples(&text, "auth_profiles_needing_login").len(),
            2,
            "{text}"
        );
    }

    #[test]
    fn a_dry_run_removes_nothing_and_says_what_it_would() {
        let mut m = Metrics::new(Duration::from_secs(30), true);
        let mut pass = Summary::default();
        pass.add_swept(Removed::ReclaimGuard, "locks/a.lock.reclaim");
        m.record(Some(&pass), SystemTime::now());
        m.record(Some(&pass), SystemTime::now());
        let text = m.render();
        assert!(
            text.contains("openclaw_lock_sweeper_removed_total{kind=\"reclaim-guard\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("openclaw_lock_sweeper_would_remove{kind=\"reclaim-guard\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
