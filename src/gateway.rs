//! Is an OpenClaw gateway alive on this state dir? Asked of the kernel.
//!
//! Since 2026.8.1, every OpenClaw process that runs as the gateway or as an
//! embedded state writer holds `<state>/tmp/openclaw-<uid>/gateway*.lock`,
//! and first a SQLite coordinator beside each, `<lock>.sqlite`, in an
//! exclusive transaction: POSIX record locks on SQLite's lock bytes, held as
//! long as the gateway lock and dropped by the kernel the instant the holder
//! dies. No pid, start time or age can fake that, across PID namespaces,
//! containers and pods that share the volume.
//!
//! The sweep takes the same lock, non-blocking, on every coordinator there is
//! (an open-file-description write lock over the lock bytes: it conflicts
//! with SQLite's shared and exclusive locks alike) and keeps it until the
//! sweep is over, so no gateway can start in the middle of it: one that tries
//! meanwhile waits, as it waits for any other OpenClaw process. The file is
//! opened without `O_CREAT` and never written.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::error::Error;
use crate::lock::{self, Candidate};
use crate::report::shown;

/// SQLite's `PENDING_BYTE`; `RESERVED_BYTE` and the 510 shared bytes follow.
const LOCK_BYTES_START: i64 = 0x4000_0000;
const LOCK_BYTES_LEN: i64 = 512;

/// What the kernel says about the state dir.
#[derive(Debug)]
pub enum Liveness {
    /// A live OpenClaw holds a coordinator: it may hold any lock here.
    Attached {
        /// The coordinator, relative to the state dir.
        coordinator: String,
        /// The holder's pid as this process sees it: `None` when the kernel
        /// shows none (a holder in a PID namespace not visible from here).
        pid: Option<i32>,
        /// The gateway lock file beside it, as read (bounded), for the log.
        payload: Option<String>,
        /// Held with an open-file-description lock (the kernel reports pid
        /// -1), as a sweeper holds it; OpenClaw's SQLite takes a POSIX
        /// record lock, reported with a pid.
        by_sweeper: bool,
    },
    /// Every coordinator is held by this process, until this value drops:
    /// no gateway nor embedded writer runs, and none can start.
    Free {
        coordinators: Vec<String>,
        held: Vec<OwnedFd>,
        /// The gateway's own lock files and reclaim guards found beside the
        /// coordinators (`gateway*.lock`, `gateway*.lock.reclaim`), for the
        /// sweep to judge: listed once, here.
        leftovers: Vec<Leftover>,
    },
    /// No coordinator (a release before 2026.8.1, a fresh volume), a file
    /// system without record locks, or an error: never read as free.
    Unknown {
        reason: String,
        /// Something is wrong (an error, a coordinator that is not a
        /// regular file): a WARN, not the INFO of a release without one.
        warn: bool,
    },
}

/// An entry of a `tmp/openclaw-*/` directory, with that directory open.
#[derive(Debug)]
pub struct Leftover {
    pub dir: Rc<OwnedFd>,
    pub name: CString,
    pub rel: PathBuf,
    pub kind: FileType,
}

impl Liveness {
    pub fn as_str(&self) -> &'static str {
        match self {
            Liveness::Attached { .. } => "attached",
            Liveness::Free { .. } => "free",
            Liveness::Unknown { .. } => "unknown",
        }
    }
}

/// Finds `tmp/openclaw-*/gateway*.lock.sqlite` under the state dir and takes
/// the lock on each, never through a symlink.
pub fn probe(root: BorrowedFd) -> Liveness {
    let unknown = |op: &'static str, path: &Path, errno: Errno| Liveness::Unknown {
        reason: Error::Io {
            op,
            path: shown(path),
            errno,
        }
        .to_string(),
        warn: true,
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let tmp = match rustix::fs::openat(root, "tmp", dir_flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => {
            return Liveness::Unknown {
                reason: "no gateway coordinator (no tmp/ in the state dir)".into(),
                warn: false,
            };
        }
        Err(e) => return unknown("open", Path::new("tmp"), e),
    };
    let owners = match entries(&tmp) {
        Ok(entries) => entries,
        Err(e) => return unknown("list", Path::new("tmp"), e),
    };
    let mut coordinators = Vec::new();
    let mut held = Vec::new();
    let mut leftovers = Vec::new();
    for (owner, kind) in owners {
        if kind != FileType::Directory || !owner.to_bytes().starts_with(b"openclaw-") {
            continue;
        }
        let rel_dir = Path::new("tmp").join(OsStr::from_bytes(owner.to_bytes()));
        let dir = match rustix::fs::openat(&tmp, &owner, dir_flags, Mode::empty()) {
            Ok(fd) => Rc::new(fd),
            Err(e) => return unknown("open", &rel_dir, e),
        };
        let files = match entries(&dir) {
            Ok(entries) => entries,
            Err(e) => return unknown("list", &rel_dir, e),
        };
        for (file, kind) in files {
            let bytes = file.to_bytes();
            if !bytes.starts_with(b"gateway") {
                continue;
            }
            let rel = rel_dir.join(OsStr::from_bytes(bytes));
            if bytes.ends_with(b".lock") || bytes.ends_with(b".lock.reclaim") {
                leftovers.push(Leftover {
                    dir: Rc::clone(&dir),
                    name: file,
                    rel,
                    kind,
                });
                continue;
            }
            if !bytes.ends_with(b".lock.sqlite") {
                continue;
            }
            // Named like a coordinator but no regular file (a symlink, maybe
            // to a held coordinator; a FIFO; a directory): its lock cannot be
            // asked, so the state dir can never be proven free.
            if kind != FileType::RegularFile {
                return Liveness::Unknown {
                    reason: format!(
                        "{} is named like a gateway coordinator but is not a regular file ({kind:?}); \
                         not followed, and without it no gateway can be ruled out",
                        shown(&rel)
                    ),
                    warn: true,
                };
            }
            match take(&dir, &file) {
                Ok(Taken::Ours(fd)) => {
                    held.push(fd);
                    coordinators.push(shown(&rel));
                }
                Ok(Taken::Held(pid)) => {
                    let lock_name = &bytes[..bytes.len() - ".sqlite".len()];
                    return Liveness::Attached {
                        coordinator: shown(&rel),
                        pid: pid.filter(|&p| p > 0),
                        payload: read_payload(&dir, lock_name),
                        by_sweeper: pid == Some(-1),
                    };
                }
                Ok(Taken::Gone) => {}
                Err(e) => return unknown("lock", &rel, e),
            }
        }
    }
    if coordinators.is_empty() {
        return Liveness::Unknown {
            reason: "no gateway coordinator (tmp/openclaw-*/gateway*.lock.sqlite)".into(),
            warn: false,
        };
    }
    Liveness::Free {
        coordinators,
        held,
        leftovers,
    }
}

/// A directory's entries with their types (an lstat where the file system
/// gives none), read from this descriptor, sorted by name.
fn entries(dir: &OwnedFd) -> Result<Vec<(CString, FileType)>, Errno> {
    let mut out = Vec::new();
    let mut buf = [std::mem::MaybeUninit::uninit(); 4096];
    let mut raw = rustix::fs::RawDir::new(dir, &mut buf);
    while let Some(entry) = raw.next() {
        let entry = entry?;
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let kind = match entry.file_type() {
            FileType::Unknown => match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => FileType::from_raw_mode(st.st_mode),
                Err(_) => continue,
            },
            known => known,
        };
        out.push((name.to_owned(), kind));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

enum Taken {
    Ours(OwnedFd),
    /// Someone holds a record lock there: the pid the kernel reports (-1
    /// for an open-file-description lock, 0 for a holder not visible from
    /// this PID namespace), `None` when it was released meanwhile.
    Held(Option<i32>),
    Gone,
}

fn take(dir: &OwnedFd, name: &CStr) -> Result<Taken, Errno> {
    // Read-write only because a write lock needs it; never created, never
    // written. O_NONBLOCK and O_NOCTTY in case a FIFO or a terminal was
    // swapped in after the listing.
    let flags =
        OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(Taken::Gone),
        Err(e) => return Err(e),
    };
    if FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) != FileType::RegularFile {
        return Err(Errno::INVAL);
    }
    let mut lock = lock_bytes(libc::F_WRLCK);
    match ofd_fcntl(&fd, libc::F_OFD_SETLK, &mut lock) {
        Ok(()) => return Ok(Taken::Ours(fd)),
        Err(Errno::AGAIN | Errno::ACCESS) => {}
        Err(e) => return Err(e),
    }
    // Held: ask who. A traditional record lock (SQLite's) reports its
    // holder's pid in this PID namespace, 0 when not visible from here;
    // an open-file-description lock reports -1.
    let mut query = lock_bytes(libc::F_WRLCK);
    ofd_fcntl(&fd, libc::F_OFD_GETLK, &mut query)?;
    if i32::from(query.l_type) == libc::F_UNLCK {
        // Released between the two calls: still not ours, and the holder
        // may be taking it again. Not free.
        return Ok(Taken::Held(None));
    }
    Ok(Taken::Held(Some(query.l_pid)))
}

fn lock_bytes(kind: i32) -> libc::flock {
    // SAFETY: flock is a plain C struct; all-zero is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = LOCK_BYTES_START;
    lock.l_len = LOCK_BYTES_LEN;
    lock
}

fn ofd_fcntl(fd: &OwnedFd, cmd: i32, lock: &mut libc::flock) -> Result<(), Errno> {
    // SAFETY: a valid descriptor, an OFD lock command and a pointer to a
    // live, initialised flock (l_pid 0, as F_OFD_* require).
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, lock as *mut libc::flock) };
    if r == -1 {
        Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO))
    } else {
        Ok(())
    }
}

/// The gateway lock file's payload, for the log: read as any candidate is
/// (a regular file of at most 4 KiB, never through a symlink), on one line.
fn read_payload(dir: &OwnedFd, name: &[u8]) -> Option<String> {
    let name = CString::new(name).ok()?;
    let Ok(Candidate::File { bytes, .. }) =
        lock::read_candidate(dir.as_fd(), &name, FileType::Unknown)
    else {
        return None;
    };
    // The JSON without its whitespace tail.
    let text = String::from_utf8_lossy(&bytes);
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}
