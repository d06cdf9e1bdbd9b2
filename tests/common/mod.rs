//! Helpers for the tests that run the built binary on real trees.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw-lock-sweeper");

/// A lock in the exact format OpenClaw writes (`serializeSidecarLockPayload`
/// in `@openclaw/fs-safe`): pretty JSON, newline, ownership token, newline.
pub fn lock_bytes(pid: u64, created_at: &str) -> Vec<u8> {
    let token = "\t".repeat(8) + &" \t".repeat(64);
    format!(
        "{{\n  \"pid\": {pid},\n  \"createdAt\": \"{created_at}\",\n  \"starttime\": 123456\n}}\n{token}\n"
    )
    .into_bytes()
}

pub const OLD: &str = "2026-01-01T00:00:00.000Z";

pub fn write(path: impl AsRef<Path>, bytes: &[u8]) {
    let path = path.as_ref();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

pub fn stale(path: impl AsRef<Path>) {
    write(path, &lock_bytes(1, OLD));
}

pub fn now_iso(offset_secs: i64) -> String {
    // RFC 3339 via `date`, which every test machine has.
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("{offset_secs} seconds"),
            "+%Y-%m-%dT%H:%M:%S.000Z",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run_cmd(mut cmd: Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().unwrap();
    Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The binary with a clean environment: only what the test passes counts.
pub fn sweeper() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().env("PATH", "/usr/bin:/bin");
    cmd
}

pub fn sweep(state: &Path, args: &[&str]) -> Run {
    sweep_env(state, args, &[])
}

/// `sweep`, with these environment variables (and no others).
pub fn sweep_env(state: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut cmd = sweeper();
    cmd.arg("--state-dir")
        .arg(state)
        .args(args)
        .envs(vars.iter().copied());
    run_cmd(cmd)
}

/// Every regular file and symlink under `root`, relative, sorted.
pub fn files(root: &Path) -> Vec<PathBuf> {
    fn visit(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                visit(root, &e.path(), out);
            } else {
                out.push(e.path().strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    let mut out = Vec::new();
    visit(root, root, &mut out);
    out.sort();
    out
}

pub fn exists(path: impl AsRef<Path>) -> bool {
    fs::symlink_metadata(path).is_ok()
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `nobody`: permission tests run the sweeper as this user when they run as
/// root, since root reads everything.
const NOBODY: u32 = 65534;

/// Hands `paths` (relative to `root`) to `nobody` when the tests run as root.
pub fn give_to_nobody(root: &Path, paths: &[&str]) {
    if is_root() {
        for p in paths {
            std::os::unix::fs::chown(root.join(p), Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
}

/// The sweeper on `state`, as `nobody` when the tests run as root.
pub fn sweep_unprivileged(state: &Path, args: &[&str]) -> Run {
    use std::os::unix::process::CommandExt;
    let mut cmd = sweeper();
    cmd.arg("--state-dir").arg(state).args(args);
    if is_root() {
        cmd.uid(NOBODY).gid(NOBODY);
    }
    run_cmd(cmd)
}

/// Asserts that `pid` (as this process sees it) is pid 1 of its own PID
/// namespace, from the `NSpid:` line of its status.
pub fn assert_pid_1_of_its_namespace(pid: i32) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("NSpid:") && l.trim_end().ends_with("\t1")),
        "{status}"
    );
}

/// A process holding `BEGIN EXCLUSIVE` on `db` until its stdin closes.
pub struct SqliteHolder {
    pub child: Child,
    pub _stdin: ChildStdin,
}

pub fn hold_exclusive(db: &Path) -> SqliteHolder {
    let script = "import sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)\n\
        db.execute('PRAGMA journal_mode = MEMORY')\n\
        db.execute('BEGIN EXCLUSIVE')\n\
        print('held', flush=True)\n\
        sys.stdin.read()\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "held\n");
    let stdin = child.stdin.take().unwrap();
    SqliteHolder {
        child,
        _stdin: stdin,
    }
}

/// Stops a running sweeper with SIGTERM: its exit code, its log and how
/// long the exit took.
pub fn stop(mut child: Child) -> (i32, String, std::time::Duration) {
    use std::io::Read;
    let started = std::time::Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let took = started.elapsed();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    (status.code().expect("exited"), log, took)
}
