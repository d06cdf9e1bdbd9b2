//! The watch sidecar's metrics (`--metrics-listen`, docs/metrics.md), run
//! for real and scraped over HTTP: what a pass removed, kept and found dead
//! is counted, a lock added later too; no profile id reaches a scrape; a
//! scrape before the first pass shows no made-up values; a port in use is an
//! error before anything is swept; a client that sends nothing holds up
//! neither the passes nor SIGTERM, which ends the watch at once (exit 0).
//! The format itself is checked by `promtool check metrics` in
//! tests/deploy/test_prometheus.py.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime};

use common::*;

const DEAD: &str = "openai-codex:dead@example.com";
const NO_PROVIDER: &str = "someone@example.com";

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `request` as is and returns the whole answer: status line, headers
/// and body. Retries the connection while the sidecar starts.
fn send(port: u16, request: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => panic!("port {port}: {e}"),
            Err(_) => sleep(Duration::from_millis(20)),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn scrape(port: u16) -> String {
    let answer = send(
        port,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n",
    );
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())),
        "{head}"
    );
    body.to_owned()
}

/// The value of one series, written as in the exposition.
fn value(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// Scrapes until `done` holds of the body; the last body.
fn scrape_until(port: u16, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let body = scrape(port);
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{body}");
        sleep(Duration::from_millis(50));
    }
}

fn passes(body: &str) -> f64 {
    value(body, "openclaw_lock_sweeper_sweeps_total{outcome=\"ok\"}").unwrap()
        + value(
            body,
            "openclaw_lock_sweeper_sweeps_total{outcome=\"error\"}",
        )
        .unwrap()
}

fn start(state: &std::path::Path, port: u16, extra: &[&str]) -> Child {
    let mut cmd = sweeper();
    cmd.arg("--state-dir")
        .arg(state)
        .args(["--watch", "200ms", "--min-age", "3s", "--metrics-listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

/// A legacy agent store (`auth-state.json`) with a dead refresh token, a
/// dead one whose id names no provider, and a cooldown.
fn dead_profiles(state: &std::path::Path) {
    let at = 1_796_531_895_834_i64;
    let entry = |reason: &str| {
        format!(
            "{{\"disabledUntil\": {}, \"disabledReason\": \"{reason}\", \"errorCount\": 1, \
             \"lastFailureAt\": {at}}}",
            at + 600_000
        )
    };
    let json = format!(
        "{{\"version\": 1, \"usageStats\": {{\"{DEAD}\": {}, \"{NO_PROVIDER}\": {}, \
         \"anthropic:cool@example.com\": {{\"cooldownUntil\": {}, \"cooldownReason\": \"auth\", \
         \"errorCount\": 1, \"lastFailureAt\": {at}}}}}}}",
        entry("auth_permanent"),
        entry("auth_permanent"),
        at + 30_000
    );
    write(
        state.join("agents/main/agent/auth-state.json"),
        json.as_bytes(),
    );
}

#[test]
fn a_scrape_counts_what_the_watch_removed_kept_and_found_dead() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    stale(s.join("agents/main/agent/auth-profiles.json.lock"));
    // Empty, and older than the grace: a torn lock.
    write(s.join("locks/torn.lock"), b"");
    fs::File::options()
        .write(true)
        .open(s.join("locks/torn.lock"))
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    // A holder the sweeper cannot prove dead.
    write(s.join("locks/other.lock"), &lock_bytes(4242, OLD));
    dead_profiles(s);
    let port = free_port();
    let child = start(s, port, &[]);

    let body = scrape_until(port, "a pass", |b| passes(b) >= 1.0);
    let v = |series: &str| value(&body, &format!("openclaw_lock_sweeper_{series}"));
    assert_eq!(v("removed_total{kind=\"lock\"}"), Some(2.0), "{body}");
    assert_eq!(v("removed_total{kind=\"torn-lock\"}"), Some(1.0), "{body}");
    assert_eq!(v("removed_total{kind=\"reclaim-guard\"}"), Some(0.0));
    assert_eq!(v("kept{reason=\"other-holder\"}"), Some(1.0), "{body}");
    assert_eq!(v("kept{reason=\"too-young\"}"), Some(0.0), "{body}");
    assert_eq!(v("sweeps_total{outcome=\"error\"}"), Some(0.0));
    assert_eq!(v("last_sweep_errors"), Some(0.0));
    assert_eq!(v("watch_interval_seconds"), Some(0.2));
    let version = format!("build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    assert_eq!(v(&version), Some(1.0));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = v("last_sweep_timestamp_seconds").unwrap();
    assert!((now - 10.0..=now + 1.0).contains(&last), "{last} vs {now}");
    // Counted by provider; the ids and paths stay in the log.
    assert_eq!(
        v("auth_profiles_needing_login{provider=\"openai-codex\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        v("auth_profiles_needing_login{provider=\"unknown\"}"),
        Some(1.0)
    );
    assert!(!body.contains("anthropic"), "a cooldown needs no login");
    for secret in [
        DEAD,
        NO_PROVIDER,
        "example.com",
        "auth-state",
        "locks/",
        "/tmp",
    ] {
        assert!(!body.contains(secret), "{secret} in a scrape:\n{body}");
    }
    assert!(!body.contains(s.to_str().unwrap()));

    // A lock that turns up later is counted within a few passes.
    stale(s.join("locks/oauth-refresh/b.lock"));
    scrape_until(port, "the new lock counted", |b| {
        value(b, "openclaw_lock_sweeper_removed_total{kind=\"lock\"}") == Some(3.0)
    });
    // The re-login cures it: the series goes.
    fs::remove_file(s.join("agents/main/agent/auth-state.json")).unwrap();
    scrape_until(port, "the profiles gone", |b| {
        !b.contains("auth_profiles_needing_login")
    });

    let (code, log, took) = stop(child);
    assert_eq!(code, 0, "{log}");
    assert!(took < Duration::from_millis(500), "SIGTERM took {took:?}");
    assert!(log.contains("serving Prometheus metrics"), "{log}");
    assert!(
        log.contains(DEAD),
        "the log still names the profile:\n{log}"
    );
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "closed");
}

#[test]
fn only_get_or_head_of_metrics_is_answered_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = start(dir.path(), port, &[]);
    scrape_until(port, "a pass", |b| passes(b) >= 1.0);
    let head = send(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "no body: {head}");
    let query = send(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
    assert!(query.starts_with("HTTP/1.1 200 OK\r\n"), "{query}");
    let cases = [
        ("GET / HTTP/1.1\r\n\r\n", "404 Not Found"),
        ("GET /metricsx HTTP/1.1\r\n\r\n", "404 Not Found"),
        (
            "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "405 Method Not Allowed",
        ),
        ("DELETE /metrics HTTP/1.1\r\n\r\n", "405 Method Not Allowed"),
        ("hello\r\n\r\n", "400 Bad Request"),
        ("GET /metrics SPDY/3\r\n\r\n", "400 Bad Request"),
    ];
    for (request, status) in cases {
        let answer = send(port, request);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{request:?}: {answer}"
        );
        assert!(!answer.contains("openclaw_lock_sweeper_"), "{answer}");
    }
    assert!(send(port, "DELETE /metrics HTTP/1.1\r\n\r\n").contains("\r\nAllow: GET, HEAD\r\n"));
    // A head larger than 8 KiB gets no answer, only a closed connection.
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = stream.write_all(huge.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let (code, log, _) = stop(child);
    assert_eq!(code, 0, "{log}");
}

#[test]
fn a_silent_client_holds_up_neither_the_passes_nor_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = start(dir.path(), port, &[]);
    let before = passes(&scrape(port));
    // Connected, and sends nothing; a second one half a request.
    let _silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(b"GET /metr").unwrap();
    sleep(Duration::from_millis(1000));
    // The passes went on meanwhile. The scrape waits its turn: 2 s at most
    // for each client before it (one at a time), 1 s of which has passed.
    let started = Instant::now();
    let after = passes(&scrape(port));
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "{:?}",
        started.elapsed()
    );
    assert!(after >= before + 3.0, "{before} then {after}");
    let _again = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (code, log, took) = stop(child);
    assert_eq!(code, 0, "{log}");
    assert!(took < Duration::from_millis(500), "SIGTERM took {took:?}");
}

#[test]
fn a_port_in_use_is_an_error_before_anything_is_swept() {
    let dir = tempfile::tempdir().unwrap();
    stale(dir.path().join("locks/oauth-refresh/a.lock"));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let started = Instant::now();
    let run = sweep_env(
        dir.path(),
        &["--watch", "200ms"],
        &[("LOCK_SWEEPER_METRICS_LISTEN", &format!("127.0.0.1:{port}"))],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        run.stderr.contains(&format!(
            "LOCK_SWEEPER_METRICS_LISTEN 127.0.0.1:{port}: cannot serve the metrics there"
        )) && run.stderr.contains("pick another"),
        "{}",
        run.stderr
    );
    assert!(exists(dir.path().join("locks/oauth-refresh/a.lock")));
    assert!(!run.stderr.contains("sweep finished"), "{}", run.stderr);

    // Without --watch: nothing would serve the metrics, a usage error.
    let run = sweep(dir.path(), &["--metrics-listen", "127.0.0.1:1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("--metrics-listen needs --watch"),
        "{}",
        run.stderr
    );
    assert!(exists(dir.path().join("locks/oauth-refresh/a.lock")));
}

/// The first pass held back by strace (its first `openat` of the state dir
/// waits 1.5 s): a scrape meanwhile answers at once, with what is known and
/// nothing else. A SIGTERM meanwhile waits for the end of the pass, then ends
/// the watch (exit 0): the listener's thread blocks it too, else the kernel
/// would hand it to that thread and kill the process with it.
#[test]
fn a_scrape_or_a_sigterm_before_the_first_pass_ends() {
    let ok = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: strace is not installed (tests/run.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().canonicalize().unwrap();
    stale(s.join("locks/oauth-refresh/a.lock"));
    let port = free_port();
    let mut cmd = std::process::Command::new("strace");
    cmd.env_clear()
        .args(["-f", "-qq", "-o", "/dev/null", "-P"])
        .arg(&s)
        .args([
            "-e",
            "trace=openat",
            "-e",
            "inject=openat:delay_enter=1500000:when=1",
        ])
        .arg(BIN)
        .arg("--state-dir")
        .arg(&s)
        .args(["--watch", "200ms", "--metrics-listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut strace = cmd.spawn().unwrap();
    let body = scrape(port);
    assert!(
        exists(s.join("locks/oauth-refresh/a.lock")),
        "no pass yet:\n{body}"
    );
    assert_eq!(passes(&body), 0.0, "{body}");
    for absent in [
        "last_sweep_timestamp_seconds",
        "last_sweep_errors",
        "openclaw_lock_sweeper_kept",
        "auth_profiles_needing_login",
    ] {
        assert!(!body.contains(absent), "{absent} before a pass:\n{body}");
    }
    assert_eq!(
        value(&body, "openclaw_lock_sweeper_removed_total{kind=\"lock\"}"),
        Some(0.0)
    );
    assert!(value(&body, "openclaw_lock_sweeper_start_time_seconds").is_some());
    // The sweeper is strace's child; strace exits with its status.
    let children = format!("/proc/{0}/task/{0}/children", strace.id());
    let pid: i32 = fs::read_to_string(children)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = strace.wait().unwrap();
    let mut log = String::new();
    strace
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(
        log.contains("stop signal received") && log.contains("passes=1"),
        "{log}"
    );
    assert!(
        !exists(s.join("locks/oauth-refresh/a.lock")),
        "the pass ran to its end"
    );
}
