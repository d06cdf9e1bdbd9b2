//! An unfinished lock file (empty or cut short) that a live process holds a
//! `flock(2)` or a record lock on is being written, or is that process's
//! plain lock: the kernel says so, and it is kept however old (issue 23).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;

/// A process holding `how` (flock or lockf) on `path` until killed.
fn hold(path: &Path, how: &str) -> Child {
    let script = format!(
        "import fcntl, sys\n\
         f = open(sys.argv[1], 'r+')\n\
         fcntl.{how}(f, fcntl.LOCK_EX)\n\
         print('held', flush=True)\n\
         sys.stdin.read()\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "held\n");
    child
}

#[test]
fn an_empty_lock_someone_holds_is_kept_and_goes_once_released() {
    for how in ["flock", "lockf"] {
        let dir = tempfile::tempdir().unwrap();
        let s = dir.path();
        let lock = s.join("locks/oauth-refresh/held.lock");
        write(&lock, b"");
        write(s.join("locks/oauth-refresh/cut.lock"), b"{\n  \"pid\": 1,");
        for p in [&lock, &s.join("locks/oauth-refresh/cut.lock")] {
            assert!(
                Command::new("touch")
                    .args(["-d", "1 hour ago"])
                    .arg(p)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let mut holder = hold(&lock, how);
        let run = sweep(s, &["--report", "json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report["kept"]["locked"], 1, "{how}: {}", run.stderr);
        assert!(exists(&lock), "{how}: a held lock was removed");
        assert!(
            !exists(s.join("locks/oauth-refresh/cut.lock")),
            "an unheld torn lock goes"
        );
        drop(holder.stdin.take());
        holder.wait().unwrap();
        let run = sweep(s, &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            !exists(&lock),
            "{how}: released, it is a torn lock like any other"
        );
    }
}
