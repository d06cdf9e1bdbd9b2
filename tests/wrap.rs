//! Wrapper mode (`-- CMD`) and `--install`, run as an operator would: the
//! built binary sweeps a real tree, then becomes the command.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::Duration;

use common::*;

/// A command that reports what it found: its pid and which locks are left.
const REPORT: &str = r#"echo "pid=$$"; ls "$1"/locks/oauth-refresh; exit 7"#;

fn wrapped(state: &std::path::Path, flags: &[&str], script: &str) -> Run {
    let mut cmd = sweeper();
    cmd.arg("--state-dir")
        .arg(state)
        .args(flags)
        .args(["--", "sh", "-c", script, "sh"])
        .arg(state);
    run_cmd(cmd)
}

#[test]
fn sweeps_then_becomes_the_command_with_its_stdout_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    write(s.join("locks/oauth-refresh/b.lock"), &lock_bytes(7, OLD));
    let run = wrapped(s, &[], REPORT);
    assert_eq!(run.code, 7, "the command's own exit code: {}", run.stderr);
    // stdout is the command's alone: the sweeper logs to stderr only.
    let pid_line = run.stdout.lines().next().unwrap();
    assert_eq!(run.stdout, format!("{pid_line}\nb.lock\n"));
    assert!(run.stderr.contains("removed stale lock"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("starting the wrapped command command=\"sh\" args=4"),
        "{}",
        run.stderr
    );
    // The same process: the holder set logged before the sweep holds the pid
    // the command then reports as its own.
    let pid = pid_line.strip_prefix("pid=").unwrap();
    assert!(
        run.stderr.contains(&format!("holders={{1,{pid}}}")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_lock_naming_its_own_pid_is_from_an_earlier_run_of_the_command() {
    // As under compose's `init: true`: the gateway is not pid 1, but it gets
    // the same pid at every start of its container. Here the wrapper is pid 2
    // of a fresh PID namespace (unshare's shell is pid 1).
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    write(s.join("locks/oauth-refresh/own.lock"), &lock_bytes(2, OLD));
    write(
        s.join("locks/oauth-refresh/other.lock"),
        &lock_bytes(3, OLD),
    );
    let mut cmd = Command::new("unshare");
    cmd.arg(if is_root() { "--pid" } else { "-rp" })
        .args(["--fork", "sh", "-c", r#""$0" "$@"; exit $?"#, BIN])
        .arg("--state-dir")
        .arg(s)
        .args(["--", "sh", "-c", REPORT, "sh"])
        .arg(s);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(run.stdout.starts_with("pid=2\n"), "{}", run.stdout);
    assert!(run.stderr.contains("holders={1,2}"), "{}", run.stderr);
    assert!(!exists(s.join("locks/oauth-refresh/own.lock")));
    assert!(exists(s.join("locks/oauth-refresh/other.lock")));
}

#[test]
fn the_command_is_pid_1_and_gets_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    let script = r#"trap 'echo "TERM at pid $$"; exit 42' TERM; echo "up as $$"; while :; do sleep 0.05; done"#;
    let mut cmd = Command::new("unshare");
    cmd.arg(if is_root() { "--pid" } else { "-rp" })
        .args(["--fork", BIN, "--state-dir"])
        .arg(s)
        .args(["--", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut unshare = cmd.spawn().unwrap();
    let mut pid = None;
    for _ in 0..100 {
        sleep(Duration::from_millis(50));
        let children = fs::read_to_string(format!("/proc/{0}/task/{0}/children", unshare.id()))
            .unwrap_or_default();
        if let Ok(p) = children.trim().parse::<i32>() {
            // Once the wrapper has exec'd, the child runs the shell.
            if fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sh") {
                pid = Some(p);
                break;
            }
        }
    }
    let pid = pid.expect("the wrapped command started");
    assert_pid_1_of_its_namespace(pid);
    sleep(Duration::from_millis(200));
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let code = unshare.wait().unwrap().code();
    let (mut out, mut err) = (String::new(), String::new());
    unshare
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    unshare
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(code, Some(42), "{out}\n{err}");
    assert_eq!(out, "up as 1\nTERM at pid 1\n", "{err}");
    assert!(!exists(s.join("locks/oauth-refresh/a.lock")), "{err}");
}

#[test]
fn when_the_command_runs_and_when_it_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("state");
    let marker = dir.path().join("ran");
    let touch = format!("touch {}", marker.display());
    let ran = || fs::remove_file(&marker).is_ok();

    // A usage error: no sweep, no command.
    let mut cmd = sweeper();
    cmd.args(["--min-age", "10", "--", "sh", "-c", &touch]);
    assert_eq!(run_cmd(cmd).code, 2);
    assert!(!ran());

    // A dry run still hands over.
    stale(s.join("locks/oauth-refresh/a.lock"));
    let run = wrapped(&s, &["--dry-run"], &touch);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(ran() && exists(s.join("locks/oauth-refresh/a.lock")));

    // A failed sweep (exit 1): only with --best-effort.
    if is_root() {
        // Root reads everything; the unreadable directory below needs a user.
        give_to_nobody(
            dir.path(),
            &["state", "state/locks", "state/locks/oauth-refresh"],
        );
        std::os::unix::fs::chown(dir.path(), Some(65534), None).unwrap();
    }
    fs::create_dir(s.join("locks/private")).unwrap();
    fs::set_permissions(s.join("locks/private"), fs::Permissions::from_mode(0o000)).unwrap();
    for (flags, code, runs) in [(&[][..], 1, false), (&["--best-effort"][..], 0, true)] {
        let mut cmd = sweeper();
        cmd.arg("--state-dir")
            .arg(&s)
            .args(flags)
            .args(["--", "sh", "-c", &touch]);
        if is_root() {
            use std::os::unix::process::CommandExt;
            cmd.uid(65534).gid(65534);
        }
        let run = run_cmd(cmd);
        assert_eq!((run.code, ran()), (code, runs), "{flags:?}: {}", run.stderr);
    }
}

#[test]
fn command_not_found_is_127_and_not_executable_is_126() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let plain = s.join("plain");
    fs::write(&plain, "not a program").unwrap();
    for (cmd_name, code, why) in [
        ("no-such-command-anywhere", 127, "No such file"),
        (plain.to_str().unwrap(), 126, "Permission denied"),
    ] {
        let run = run_cmd({
            let mut cmd = sweeper();
            cmd.arg("--state-dir").arg(s).args(["--", cmd_name]);
            cmd
        });
        assert_eq!(run.code, code, "{}", run.stderr);
        assert!(
            run.stderr.contains("cannot run the wrapped command") && run.stderr.contains(why),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn install_copies_the_binary_whole_and_runnable() {
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = dir.path().join("opt");
    fs::create_dir(&bin_dir).unwrap();
    // What an install killed midway leaves under this pid's temporary name
    // cannot be foreseen here; any other stray file must simply survive.
    fs::write(bin_dir.join("other"), "x").unwrap();
    for _ in 0..2 {
        let run = run_cmd({
            let mut cmd = sweeper();
            cmd.arg("--install").arg(&bin_dir);
            cmd
        });
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("installed"), "{}", run.stderr);
    }
    let installed = bin_dir.join("openclaw-lock-sweeper");
    assert_eq!(fs::read(&installed).unwrap(), fs::read(BIN).unwrap());
    let mode = fs::metadata(&installed).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o755);
    let mut names: Vec<_> = fs::read_dir(&bin_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["openclaw-lock-sweeper", "other"],
        "no temporary left"
    );
    let mut version = Command::new(&installed);
    version.arg("--version");
    let run = run_cmd(version);
    assert!(run.stdout.starts_with("openclaw-lock-sweeper "));

    let run = run_cmd({
        let mut cmd = sweeper();
        cmd.arg("--install").arg(dir.path().join("missing"));
        cmd
    });
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("cannot install into") && run.stderr.contains("missing"),
        "{}",
        run.stderr
    );
}

#[test]
fn closed_standard_descriptors_are_opened_on_dev_null_and_sigpipe_is_the_commands_own() {
    // Started with 0, 1 and 2 closed, the sweeper opens them on /dev/null
    // before anything else, so that no file it opens (the gateway
    // coordinator is opened read-write) can become its stdout or stderr;
    // the wrapped command inherits them. std ignores SIGPIPE in the sweeper
    // and its exec restores the default for the command.
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    stale(s.join("locks/oauth-refresh/a.lock"));
    let out = s.join("seen");
    // A pipeline, not a redirection: the shell's own 1 stays as it got it.
    let script = r#"{ readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2; grep SigIgn /proc/$$/status; } | tee "$1""#;
    let mut cmd = sweeper();
    cmd.arg("--state-dir")
        .arg(s)
        .args(["--", "sh", "-c", script, "sh"])
        .arg(&out);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for fd in 0..3 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!exists(s.join("locks/oauth-refresh/a.lock")));
    let seen = fs::read_to_string(&out).unwrap();
    let (fds, ignored) = seen.rsplit_once("SigIgn:").unwrap();
    assert_eq!(fds, "/dev/null\n/dev/null\n/dev/null\n");
    let ignored = u64::from_str_radix(ignored.trim(), 16).unwrap();
    assert_eq!(
        ignored & (1 << (libc::SIGPIPE - 1)),
        0,
        "SigIgn {ignored:x}"
    );
}

#[test]
fn installs_at_once_as_the_same_pid_each_put_a_whole_copy_in_place() {
    // Pid 1 of two containers that share the volume: each install runs as
    // pid 1 of its own PID namespace.
    if !is_root() {
        eprintln!("skipped: unshare --pid needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for round in 0..10 {
        let children: Vec<_> = (0..4)
            .map(|_| {
                Command::new("unshare")
                    .args(["--pid", "--fork", BIN, "--install"])
                    .arg(dir.path())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let installed = dir.path().join("openclaw-lock-sweeper");
        assert_eq!(fs::read(&installed).unwrap(), fs::read(BIN).unwrap());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "round {round}: a temporary was left");
    }
}
