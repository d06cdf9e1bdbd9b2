//! Acting on a stale lock: remove exactly the file that was judged.
//!
//! A lock is judged from its bytes, read through a descriptor. Between that
//! read and the removal another process may have removed the lock and taken
//! a fresh one at the same path (OpenClaw reclaims some stale locks itself).
//! Unlinking by name would then delete the live lock. So the removal:
//!
//! 1. renames the lock, atomically and without replacing anything
//!    (`RENAME_NOREPLACE`), to a private name in the same directory: from
//!    here on no OpenClaw process can open it by its lock path;
//! 2. checks that the file now under the private name is the judged one:
//!    the same device and inode, and the same bytes, re-read through the
//!    descriptor the judgement was made from;
//! 3. unlinks it if so, and otherwise renames it back (again without
//!    replacing anything) and keeps it.
//!
//! Nothing is ever deleted that was not judged stale. What remains is the
//! few microseconds during which a file that turns out not to be the judged
//! one sits under the private name, its lock path free:
//! - a third process can take the lock then; the file is left under its
//!   private name, where it locks nothing, and the sweep logs an error
//!   naming it (every later sweep reports it, and puts it back once its
//!   own name is free);
//! - its holder can release it then; the release finds nothing to remove
//!   and the put-back brings the lock back, to be judged like any other.
//!
//! Both need a stale lock to be replaced by a live one at the very moment
//! the sweeper judges it; the race test (tests/race.rs) shows the window is
//! hit and nothing is lost.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;

use rustix::fs::{AtFlags, RenameFlags, Stat};
use rustix::io::Errno;

use crate::lockfile::lock::MAX_LOCK_BYTES;
use crate::operator::log::decimal;

/// Private names start with this; the walk never takes them for locks, and
/// reports any it finds (in every directory it lists) as left over. They are
/// `<prefix><pid>-<n>~<lock name>~`: they end in `~`, not `.lock`, so
/// OpenClaw never takes them for locks, and they carry the name to restore.
pub const TEMP_PREFIX: &str = ".openclaw-lock-sweeper-";

/// The lock name a private name was made from, when it carries one.
pub fn original_name(private: &CStr) -> Option<CString> {
    let rest = private.to_bytes().strip_prefix(TEMP_PREFIX.as_bytes())?;
    let start = rest.iter().position(|&b| b == b'~')? + 1;
    let name = rest[start..].strip_suffix(b"~")?;
    (!name.is_empty() && !name.contains(&b'/')).then(|| CString::new(name).ok())?
}

/// Puts a left-over private file back at its own name, if that is free.
pub fn restore(dir: BorrowedFd, private: &CStr) -> Result<Option<CString>, Errno> {
    let Some(name) = original_name(private) else {
        return Ok(None);
    };
    rename_noreplace(dir, private, &name).map(|()| Some(name))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Removed,
    /// Someone else removed the lock first.
    Vanished,
    /// The file at the lock path is not the one judged; it was put back.
    Changed,
    /// Not the judged file, and its lock path was taken meanwhile: kept
    /// under this private name.
    ChangedKeptAside(CString),
}

/// Which step failed, for the error message; `aside`: the private name the
/// lock is left under when it could not be put back either.
#[derive(Debug)]
pub struct Failed {
    pub op: &'static str,
    pub errno: Errno,
    pub aside: Option<CString>,
}

/// What was judged, as it was judged.
pub enum Judged<'a> {
    /// A lock file: its descriptor, stat and bytes. Once the file is
    /// unlinked the descriptor goes to the `Closer`, whose close frees it.
    File {
        fd: OwnedFd,
        stat: &'a Stat,
        bytes: &'a [u8],
    },
    /// An empty directory (a reclaim guard or a legacy directory lock). The
    /// kernel's `rmdir` refuses it if anything was put in it meanwhile.
    EmptyDir { stat: &'a Stat },
}

/// Called with the stop signals held (a one-shot sweep's `Shield`, the watch's
/// own mask, for the whole pass): a stop signal waits for the calls below,
/// and a removal is never cut off with the lock under its private name.
pub fn remove_if_unchanged(
    dir: BorrowedFd,
    name: &CStr,
    judged: Judged,
    closer: &mut Closer,
) -> Result<Outcome, Failed> {
    let temp = match (move_aside(dir, name), &judged) {
        (Err(Errno::XDEV), Judged::EmptyDir { stat }) => {
            return remove_dir_in_place(dir, name, stat);
        }
        (Ok(Some(temp)), _) => temp,
        (Ok(None), _) => return Ok(Outcome::Vanished),
        (Err(errno), _) => {
            return Err(Failed {
                op: "move aside",
                errno,
                aside: None,
            });
        }
    };
    // Every way out below leaves the lock at its own name or gone; where the
    // put-back fails too, the error names the private name it is under.
    let back = |op, errno| Failed {
        op,
        errno,
        aside: rename_noreplace(dir, &temp, name)
            .err()
            .map(|_| temp.clone()),
    };
    let verified = match judged {
        Judged::File { fd, stat, bytes } => is_judged_file(dir, &temp, &fd, stat, bytes)
            .map(|same| (same, AtFlags::empty(), Some(fd))),
        Judged::EmptyDir { stat } => {
            is_same_inode(dir, &temp, stat).map(|same| (same, AtFlags::REMOVEDIR, None))
        }
    };
    let (same, flags, fd) = verified.map_err(|errno| back("verify", errno))?;
    if same {
        match rustix::fs::unlinkat(dir, &temp, flags) {
            Ok(()) => {
                if let Some(fd) = fd {
                    closer.close(fd);
                }
                return Ok(Outcome::Removed);
            }
            // Something was put in the directory since it was judged empty:
            // it changed, and goes back like any changed lock.
            Err(Errno::NOTEMPTY | Errno::EXIST) => {}
            // Leave the lock where it was, as if nothing had happened.
            Err(errno) => return Err(back("unlink", errno)),
        }
    }
    match rename_noreplace(dir, &temp, name) {
        Ok(()) => Ok(Outcome::Changed),
        Err(Errno::EXIST) => Ok(Outcome::ChangedKeptAside(temp)),
        Err(errno) => Err(Failed {
            op: "put back",
            errno,
            aside: Some(temp),
        }),
    }
}

/// An empty directory overlayfs cannot rename (`EXDEV`: it comes from a
/// lower layer and the mount has no `redirect_dir`), though it can remove
/// it: removed at its own name once the name is checked to still be the
/// judged inode, the kernel's `rmdir` refusing it if anything was put in it.
/// No OpenClaw process removes a surviving reclaim guard or directory lock
/// (it fails closed on one), so only another sweep could swap the name for
/// a live one between the check and the `rmdir`; the swap would also need a
/// reclaimer's `mkdir` in those few microseconds.
fn remove_dir_in_place(dir: BorrowedFd, name: &CStr, judged: &Stat) -> Result<Outcome, Failed> {
    let failed = |op, errno| Failed {
        op,
        errno,
        aside: None,
    };
    match is_same_inode(dir, name, judged) {
        Ok(true) => {}
        Ok(false) => return Ok(Outcome::Changed),
        Err(Errno::NOENT) => return Ok(Outcome::Vanished),
        Err(errno) => return Err(failed("verify", errno)),
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) => Ok(Outcome::Removed),
        Err(Errno::NOTEMPTY | Errno::EXIST) => Ok(Outcome::Changed),
        Err(Errno::NOENT) => Ok(Outcome::Vanished),
        Err(errno) => Err(failed("remove in place", errno)),
    }
}

/// SIGTERM, SIGINT and SIGHUP blocked for as long as it lives (a pod
/// deleted mid-sweep: the kubelet's SIGTERM). On drop the mask is restored
/// and a stop signal that came meanwhile ends the process, with the status
/// the signal would have given it (128 + its number) after the logs are
/// flushed: pid 1 of a container, which the kernel's default actions spare,
/// ends too. Watch mode keeps its own mask (already blocked) and takes the
/// signal at its next wait.
pub struct Shield {
    old: libc::sigset_t,
    set: libc::sigset_t,
}

/// Sleeps for `wait`; a stop signal ends the process at once, with its
/// status, after the logs are flushed (the signal is blocked meanwhile, so
/// it waits to be taken here; pid 1 included).
pub fn sleep_or_stop(wait: std::time::Duration) {
    let shield = Shield::raise();
    let timeout = libc::timespec {
        tv_sec: wait.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(wait.subsec_nanos() as i32),
    };
    // SAFETY: the set was initialized by `raise`; a null info pointer is
    // allowed.
    let signal = unsafe { libc::sigtimedwait(&shield.set, std::ptr::null_mut(), &timeout) };
    if signal > 0 {
        tracing::warn!(
            signal,
            "stop signal received while the sweep waited; it ends"
        );
        crate::operator::log::flush_logs();
        // SAFETY: ends the process; nothing is mid-write.
        unsafe { libc::_exit(128 + signal) };
    }
}

impl Shield {
    pub fn raise() -> Shield {
        // SAFETY: sigemptyset initializes each set before any other use.
        unsafe {
            let mut set = MaybeUninit::<libc::sigset_t>::uninit();
            let mut old = MaybeUninit::<libc::sigset_t>::uninit();
            libc::sigemptyset(set.as_mut_ptr());
            libc::sigemptyset(old.as_mut_ptr());
            for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
                libc::sigaddset(set.as_mut_ptr(), signal);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), old.as_mut_ptr());
            Shield {
                old: old.assume_init(),
                set: set.assume_init(),
            }
        }
    }
}

impl Drop for Shield {
    fn drop(&mut self) {
        // SAFETY: the sets were initialized by `raise`; sigtimedwait with a
        // zero timeout only takes a signal that is already pending.
        unsafe {
            let already_blocked = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP]
                .iter()
                .any(|&s| libc::sigismember(&self.old, s) == 1);
            if !already_blocked {
                let zero = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                let signal = libc::sigtimedwait(&self.set, std::ptr::null_mut(), &zero);
                if signal > 0 {
                    tracing::warn!(
                        signal,
                        "stop signal received; what was under way was finished first"
                    );
                    crate::operator::log::flush_logs();
                    libc::_exit(128 + signal);
                }
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut());
        }
    }
}

/// Closes the descriptors of removed locks. The last close of an unlinked
/// file frees its blocks, and on a file system mounted with online discard
/// (ext4 `-o discard`) that waits for the device to discard them: about
/// 60 µs a file on the benchmark's VM, as long as judging the next lock
/// takes. The first few closes are made on the sweep's own thread, and the
/// kernel says whether the last of them waited (the thread's voluntary
/// context switches). Where half did or more, the descriptors after them go
/// to one thread that closes them while the sweep goes on; where closes do
/// not wait (a tmpfs, a mount without discard: 4 µs), handing each to a
/// thread would cost more than the close, and they stay on the sweep's
/// thread (bench/README.md has the figures). Dropping the `Closer` waits for
/// its thread, so a sweep ends with every removed lock's space freed.
#[derive(Default)]
pub struct Closer {
    closed_here: usize,
    /// How many of the checked closes (the second half of the
    /// `CLOSED_HERE`) waited.
    waited: usize,
    worker: Option<(mpsc::Sender<OwnedFd>, thread::JoinHandle<()>)>,
}

impl Closer {
    /// Closes made on the sweep's own thread, whatever the file system:
    /// fewer removals than this cost less than starting a thread does (a
    /// small state dir has a handful).
    const CLOSED_HERE: usize = 16;

    fn close(&mut self, fd: OwnedFd) {
        if let Some((tx, _)) = &self.worker {
            // A send fails only if the thread is gone, and then hands the
            // descriptor back, to be closed here.
            drop(tx.send(fd));
            return;
        }
        if self.closed_here == Self::CLOSED_HERE {
            return drop(fd);
        }
        self.closed_here += 1;
        // Only the second half is checked: a small state dir, with a
        // handful of removals, makes no system call for it.
        if self.closed_here <= Self::CLOSED_HERE / 2 {
            return drop(fd);
        }
        let before = voluntary_switches();
        drop(fd);
        self.waited += usize::from(voluntary_switches() > before);
        if self.closed_here == Self::CLOSED_HERE && self.waited * 4 >= Self::CLOSED_HERE {
            // A thread that cannot start (a pids limit) leaves the closes
            // here, as before the limit was reached.
            let (tx, rx) = mpsc::channel::<OwnedFd>();
            self.worker = thread::Builder::new()
                .name("closer".into())
                .stack_size(64 * 1024)
                .spawn(move || rx.into_iter().for_each(drop))
                .ok()
                .map(|handle| (tx, handle));
        }
    }
}

/// How many times the calling thread has given up the CPU to wait: a
/// system call that blocked counts one.
fn voluntary_switches() -> libc::c_long {
    let mut usage = MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_THREAD is
    // Linux's, for the calling thread alone. On failure it stays zeroed.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    // SAFETY: zeroed is a valid rusage.
    unsafe { usage.assume_init() }.ru_nvcsw
}

impl Drop for Closer {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.worker.take() {
            drop(tx);
            let _ = handle.join();
        }
    }
}

/// Renames `name` to a fresh private name; `None` if `name` is gone.
fn move_aside(dir: BorrowedFd, name: &CStr) -> Result<Option<CString>, Errno> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PID: LazyLock<i32> = LazyLock::new(|| rustix::process::getpid().as_raw_pid());
    let pid = *PID;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Sized once, digits by hand: `format!` and the growth after it were
        // two thirds of a removal's user-space instructions.
        let mut temp = Vec::with_capacity(TEMP_PREFIX.len() + 44 + name.to_bytes().len());
        temp.extend_from_slice(TEMP_PREFIX.as_bytes());
        temp.extend_from_slice(decimal(pid.unsigned_abs().into(), &mut [0; 20]).as_bytes());
        temp.push(b'-');
        temp.extend_from_slice(decimal(n, &mut [0; 20]).as_bytes());
        temp.push(b'~');
        // The lock's own name, when it fits NAME_MAX, for a later sweep to
        // put it back should this one be cut off.
        if temp.len() + name.to_bytes().len() < 255 {
            temp.extend_from_slice(name.to_bytes());
            temp.push(b'~');
        }
        let temp = CString::new(temp).expect("no NUL in a file name");
        match rename_noreplace(dir, name, &temp) {
            Ok(()) => return Ok(Some(temp)),
            Err(Errno::NOENT) => return Ok(None),
            // A left-over of an earlier run with the same pid (pid 1 in every
            // container): try the next name.
            Err(Errno::EXIST) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// `renameat2(RENAME_NOREPLACE)`. A file system without it (EINVAL: some
/// network and FUSE file systems) gets an lstat of the target and a plain
/// rename, which only a writer creating that exact name in between can beat.
fn rename_noreplace(dir: BorrowedFd, from: &CStr, to: &CStr) -> Result<(), Errno> {
    match rustix::fs::renameat_with(dir, from, dir, to, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL) => match rustix::fs::statat(dir, to, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => Err(Errno::EXIST),
            Err(Errno::NOENT) => rustix::fs::renameat(dir, from, dir, to),
            Err(errno) => Err(errno),
        },
        other => other,
    }
}

fn is_same_inode(dir: BorrowedFd, temp: &CStr, judged: &Stat) -> Result<bool, Errno> {
    let now = rustix::fs::statat(dir, temp, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok((now.st_dev, now.st_ino) == (judged.st_dev, judged.st_ino))
}

fn is_judged_file(
    dir: BorrowedFd,
    temp: &CStr,
    judged_fd: &OwnedFd,
    judged: &Stat,
    judged_bytes: &[u8],
) -> Result<bool, Errno> {
    if !is_same_inode(dir, temp, judged)? {
        return Ok(false);
    }
    // The same inode: re-read it through the judged descriptor, one byte
    // past the judged length so that growth shows. One read: a regular file
    // reads short only at its end, and a spurious short read can only make
    // the bytes differ, which keeps the file.
    // Left uninitialized: zeroing 4 KiB per removal was 7% of the sweep's
    // user-space instructions at 10k locks.
    let mut buf = [MaybeUninit::<u8>::uninit(); MAX_LOCK_BYTES + 1];
    let want = (judged_bytes.len() + 1).min(buf.len());
    let read = loop {
        match rustix::io::pread(judged_fd, &mut buf[..want], 0) {
            Err(Errno::INTR) => continue,
            other => break other?.0,
        }
    };
    Ok(read == judged_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_name_carries_the_numbers_in_decimal() {
        for n in [0, 7, 10, 42, 1_000_003, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string());
        }
    }

    /// One end of a socket pair handed to the closer `n` times; the other
    /// ends, whose reads see EOF once their peer is closed.
    fn hand_over(closer: &mut Closer, n: usize) -> Vec<std::os::unix::net::UnixStream> {
        (0..n)
            .map(|_| {
                let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
                closer.close(OwnedFd::from(writer));
                reader.set_nonblocking(true).unwrap();
                reader
            })
            .collect()
    }

    fn all_closed(readers: Vec<std::os::unix::net::UnixStream>) {
        use std::io::Read;
        for mut reader in readers {
            assert_eq!(reader.read(&mut [0u8; 1]).unwrap(), 0);
        }
    }

    /// Closing a socket never waits: no thread, every descriptor closed.
    #[test]
    fn closes_that_do_not_wait_stay_on_the_sweeps_thread() {
        let mut closer = Closer::default();
        let readers = hand_over(&mut closer, Closer::CLOSED_HERE * 3);
        assert_eq!(closer.waited, 0);
        assert!(
            closer.worker.is_none(),
            "no close waited, yet a thread started"
        );
        all_closed(readers);
    }

    /// Closes that waited (counted as if they had), then many more: the
    /// thread starts, and every descriptor handed over is closed once the
    /// `Closer` is dropped.
    #[test]
    fn closes_that_wait_go_to_a_thread_and_all_are_closed_on_drop() {
        let mut closer = Closer::default();
        closer.waited = Closer::CLOSED_HERE;
        let readers = hand_over(&mut closer, Closer::CLOSED_HERE * 3);
        assert!(closer.worker.is_some(), "the thread should have started");
        drop(closer);
        all_closed(readers);
    }

    /// A close that blocks is counted: a thread's voluntary switches go up
    /// when it sleeps.
    #[test]
    fn a_wait_shows_in_the_voluntary_switches() {
        let before = voluntary_switches();
        thread::sleep(std::time::Duration::from_millis(1));
        assert!(voluntary_switches() > before);
    }
}
