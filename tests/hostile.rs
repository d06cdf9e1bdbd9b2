//! Hostile trees at scale: symlink loops, symlinks out of the state dir, a
//! 10,000-deep directory chain, thousands of junk locks, FIFOs, sockets and
//! device nodes named `*.lock`. inotify proves which files were opened:
//! nothing but regular files inside the state dir, ever.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::fs::{FileType, Mode, OFlags};

use common::*;

fn mknod(path: &Path, kind: FileType, dev: u64) {
    rustix::fs::mknodat(rustix::fs::CWD, path, kind, Mode::from_raw_mode(0o644), dev).unwrap();
}

/// Opens of the watched paths during `f`, as (path, count).
fn opens_during(paths: &[&Path], f: impl FnOnce()) -> Vec<(String, usize)> {
    let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).unwrap();
    let wds: Vec<i32> = paths
        .iter()
        .map(|p| inotify::add_watch(&fd, *p, WatchFlags::OPEN | WatchFlags::DONT_FOLLOW).unwrap())
        .collect();
    f();
    let mut counts = vec![0usize; paths.len()];
    let mut buf = [MaybeUninit::uninit(); 65536];
    let mut reader = inotify::Reader::new(&fd, &mut buf);
    while let Ok(event) = reader.next() {
        if let Some(i) = wds.iter().position(|&wd| wd == event.wd()) {
            counts[i] += 1;
        }
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .zip(counts)
        .collect()
}

#[test]
fn special_files_and_symlink_targets_are_never_opened() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.lock");
    stale(&victim);
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let locks = s.join("locks");
    fs::create_dir_all(&locks).unwrap();
    let fifo = locks.join("fifo.lock");
    mknod(&fifo, FileType::Fifo, 0);
    let _socket = std::os::unix::net::UnixListener::bind(locks.join("socket.lock")).unwrap();
    let mut watched = vec![fifo.clone(), victim.clone()];
    if is_root() {
        // A terminal and a block device would do harm if opened: /dev/tty's
        // numbers (5, 0), and a loop device's (7, 0).
        mknod(
            &locks.join("tty.lock"),
            FileType::CharacterDevice,
            rustix::fs::makedev(5, 0),
        );
        mknod(
            &locks.join("disk.lock"),
            FileType::BlockDevice,
            rustix::fs::makedev(7, 0),
        );
        watched.push(locks.join("tty.lock"));
        watched.push(locks.join("disk.lock"));
    }
    symlink(&victim, locks.join("link.lock")).unwrap();
    let regular = locks.join("stale.lock");
    stale(&regular);
    let sibling = locks.join("other.lock");
    write(&sibling, &lock_bytes(7, OLD));
    watched.push(sibling.clone());

    let paths: Vec<&Path> = watched.iter().map(|p| p.as_path()).collect();
    let mut run = None;
    let opens = opens_during(&paths, || run = Some(sweep(s, &[])));
    let run = run.unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (path, count) in &opens {
        let expected = usize::from(path == &sibling.display().to_string());
        assert_eq!(*count, expected, "{path} opened {count} times");
    }
    assert!(!exists(&regular) && exists(&victim) && exists(&fifo));
    let special = if is_root() { 5 } else { 3 };
    assert!(
        run.stderr
            .contains(&format!("kept=not-regular-file:{special} other-holder:1")),
        "{}",
        run.stderr
    );
}

#[test]
fn symlink_loops_and_a_ten_thousand_deep_chain() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let locks = s.join("locks");
    fs::create_dir_all(locks.join("real")).unwrap();
    symlink("b", locks.join("a")).unwrap();
    symlink("a", locks.join("b")).unwrap();
    symlink(".", locks.join("real/self")).unwrap();
    symlink("..", locks.join("real/up")).unwrap();
    symlink("/", locks.join("root")).unwrap();
    fs::create_dir_all(s.join("agents/x")).unwrap();
    symlink("../../agents", s.join("agents/x/agent")).unwrap();
    stale(locks.join("real/r.lock"));

    let mut fd = rustix::fs::open(&locks, OFlags::DIRECTORY, Mode::empty()).unwrap();
    for _ in 0..10_000 {
        rustix::fs::mkdirat(&fd, "d", Mode::from_raw_mode(0o755)).unwrap();
        fd = rustix::fs::openat(&fd, "d", OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
    let bottom = rustix::fs::openat(
        &fd,
        "bottom.lock",
        OFlags::CREATE | OFlags::WRONLY,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    rustix::io::write(&bottom, &lock_bytes(1, OLD)).unwrap();

    let run = sweep(s, &["--log-level", "warn", "--report", "json"]);
    assert_eq!(run.code, 0, "{}", &run.stderr[..run.stderr.len().min(2000)]);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["swept"], 2,
        "the loop-free lock and the one 10,000 levels down"
    );
    assert_eq!(report["errors"], 0);
    assert!(!exists(locks.join("real/r.lock")));
    assert_eq!(
        rustix::fs::statat(&fd, "bottom.lock", rustix::fs::AtFlags::empty()).unwrap_err(),
        rustix::io::Errno::NOENT
    );
}

#[test]
fn a_sibling_directory_at_each_of_three_thousand_levels_under_a_small_file_limit() {
    // Each level keeps a sibling pending while the walk goes down the other
    // branch: without a bound on the descriptors the walk holds, it runs out
    // of them (EMFILE) long before the lock at the bottom. 3,000 levels of
    // "d/" are beyond PATH_MAX too, so reopening a closed level takes more
    // than one openat2.
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    fs::create_dir_all(s.join("locks")).unwrap();
    let mut fd = rustix::fs::open(s.join("locks"), OFlags::DIRECTORY, Mode::empty()).unwrap();
    let lock = |dir: &std::os::fd::OwnedFd, name: &str| {
        let file = rustix::fs::openat(
            dir,
            name,
            OFlags::CREATE | OFlags::WRONLY,
            Mode::from_raw_mode(0o644),
        )
        .unwrap();
        rustix::io::write(&file, &lock_bytes(1, OLD)).unwrap();
    };
    let mut siblings = Vec::new();
    for level in 0..3000 {
        rustix::fs::mkdirat(&fd, "d", Mode::from_raw_mode(0o755)).unwrap();
        rustix::fs::mkdirat(&fd, "e", Mode::from_raw_mode(0o755)).unwrap();
        let sibling = rustix::fs::openat(&fd, "e", OFlags::DIRECTORY, Mode::empty()).unwrap();
        if level % 500 == 0 {
            lock(&sibling, "side.lock");
            siblings.push(sibling);
        }
        fd = rustix::fs::openat(&fd, "d", OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
    lock(&fd, "bottom.lock");

    let mut cmd = std::process::Command::new("sh");
    cmd.env_clear()
        .args([
            "-c",
            "ulimit -n 128 && exec \"$0\" \"$@\"",
            BIN,
            "--state-dir",
        ])
        .arg(s)
        .args(["--log-level", "warn", "--report", "json"]);
    let run = run_cmd(cmd);
    let tail = &run.stderr[run.stderr.len().saturating_sub(2000)..];
    assert_eq!(run.code, 0, "{tail}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["errors"], 0, "{tail}");
    assert_eq!(
        report["swept"], 7,
        "the bottom lock and one beside every 500th level: {tail}"
    );
    let gone = |dir: &std::os::fd::OwnedFd, name: &str| {
        rustix::fs::statat(dir, name, rustix::fs::AtFlags::empty()).unwrap_err()
            == rustix::io::Errno::NOENT
    };
    assert!(gone(&fd, "bottom.lock"));
    assert!(siblings.iter().all(|d| gone(d, "side.lock")));
}

#[test]
fn thousands_of_junk_locks_and_hostile_names() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path();
    let junk: [&[u8]; 6] = [
        b"",
        b"{",
        b"null",
        b"{\"pid\":\"1\"}",
        b"\xff\xfe\xfd",
        b"{\"pid\":1e999}",
    ];
    for i in 0..6_000usize {
        let name = match i % 3 {
            0 => format!("j{i}\n.lock").into_bytes(),
            1 => [b"j\xff".as_slice(), i.to_string().as_bytes(), b".lock"].concat(),
            _ => format!("j{i} \u{202e}kcol.lock").into_bytes(),
        };
        write(
            s.join("locks/junk").join(OsStr::from_bytes(&name)),
            junk[i % junk.len()],
        );
    }
    stale(s.join("locks/junk/real.lock"));
    let run = sweep(s, &["--report", "json"]);
    assert_eq!(run.code, 0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["swept"], 1);
    // The empty and cut-short ones are torn locks, kept while younger than
    // the grace period; the rest are not locks at all.
    assert_eq!(report["kept"]["not-a-lock"], 4_000);
    assert_eq!(report["kept"]["too-young"], 2_000);
    assert_eq!(files(s).len(), 6_000);
    // One line per event: no name broke a log line.
    assert_eq!(
        run.stderr.lines().count(),
        6_000 + 4,
        "start, the gateway probe, removal, 6,000 kept, summary"
    );
}
