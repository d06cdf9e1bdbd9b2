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
//!
//! A lock taken is proof only where every holder's lock meets it: on a file
//! system whose record locks the kernel keeps for all its mounts (a local
//! disk, memory) or shares through a server (NFS with its lock manager). A
//! FUSE driver without lock support, NFS mounted `nolock` or
//! `local_lock=all|posix`, SMB, 9p and the rest may keep a lock on the
//! client that took it: there, a free coordinator proves nothing.

use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::error::Error;
use crate::lockfile::lock::{self, Candidate};
use crate::operator::report::shown;

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
    // The directories whose coordinators this process took, for the check
    // that their locks are shared (once each, after the listing).
    let mut taken_in: Vec<(Rc<OwnedFd>, PathBuf)> = Vec::new();
    for (owner, kind) in owners {
        if !owner.to_bytes().starts_with(b"openclaw-") {
            continue;
        }
        let rel_dir = Path::new("tmp").join(OsStr::from_bytes(owner.to_bytes()));
        if kind != FileType::Directory {
            // OpenClaw's own directory (`openclaw-<uid>`) as a symlink: the
            // gateway follows it and holds its coordinator through it, which
            // this probe never follows. Anything else so named is not ours.
            if !is_uid_dir(owner.to_bytes()) {
                continue;
            }
            return Liveness::Unknown {
                reason: format!(
                    "{} is not a directory ({kind:?}); OpenClaw would follow it to its gateway \
                     coordinator, this sweep does not, so no gateway can be ruled out",
                    shown(&rel_dir)
                ),
                warn: true,
            };
        }
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
                    if !taken_in.iter().any(|(d, _)| Rc::ptr_eq(d, &dir)) {
                        taken_in.push((Rc::clone(&dir), rel_dir.clone()));
                    }
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
    for (dir, rel_dir) in &taken_in {
        if let Err(why) = locks_shared(dir) {
            return Liveness::Unknown {
                reason: format!(
                    "{} is on {why}; a gateway holding its coordinator through another mount or \
                     node would not be seen, so free cannot be proven and the gateway's own files are kept",
                    shown(rel_dir)
                ),
                warn: true,
            };
        }
    }
    Liveness::Free {
        coordinators,
        held,
        leftovers,
    }
}

/// `openclaw-<uid>`: the name OpenClaw gives its directory under `tmp/`.
fn is_uid_dir(name: &[u8]) -> bool {
    let uid = &name[b"openclaw-".len()..];
    !uid.is_empty() && uid.iter().all(u8::is_ascii_digit)
}

// === Which file systems share their locks ===

/// Local disk and memory file systems (`statfs` magic numbers): the kernel
/// keeps record locks in the inode, the same for every mount of the file
/// system and every container or pod on the node; a block device is
/// mounted read-write on one node at a time.
const LOCAL_FS: &[i64] = &[
    0xEF53,      // ext2/3/4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
    0x8584_58F6, // ramfs
    0x794C_7630, // overlayfs
    0xF2F5_2010, // f2fs
    0x2FC1_2FC1, // zfs
    0xCA45_1A4E, // bcachefs
];
const NFS_SUPER_MAGIC: i64 = 0x6969;

/// Ok when a lock taken on `dir`'s file system meets every other holder's;
/// otherwise what the file system is and why not.
fn locks_shared(dir: &OwnedFd) -> Result<(), String> {
    let st = rustix::fs::fstatfs(dir)
        .map_err(|e| format!("a file system whose type statfs cannot tell ({e})"))?;
    // f_type is a signed word on some targets: compare its 32 bits.
    let magic = i64::from(st.f_type as u32);
    if LOCAL_FS.contains(&magic) {
        // The common case, without reading the mount table.
        return Ok(());
    }
    let mount = mount_of(dir);
    lock_scope(magic, mount.as_ref().map(|(t, o)| (t.as_str(), o.as_str())))
}

/// The rule, on what the kernel said: the `statfs` magic, and the mount's
/// file system type and super options from `/proc/self/mountinfo`.
fn lock_scope(magic: i64, mount: Option<(&str, &str)>) -> Result<(), String> {
    if LOCAL_FS.contains(&magic) {
        return Ok(());
    }
    let name = mount.map_or_else(
        || format!("file system type {magic:#x}"),
        |(t, _)| t.to_owned(),
    );
    if magic == NFS_SUPER_MAGIC {
        let options = mount.map_or("", |(_, o)| o);
        let opts: Vec<&str> = options.split(',').collect();
        // local_lock=flock keeps only flock(2) local; the record locks this
        // probe and SQLite take still go to the server.
        if !opts.contains(&"nolock")
            && (opts.contains(&"local_lock=none") || opts.contains(&"local_lock=flock"))
        {
            return Ok(());
        }
        return Err(format!(
            "{name} mounted with {}, whose record locks stay on this client",
            opts.iter()
                .find(|o| **o == "nolock" || o.starts_with("local_lock="))
                .unwrap_or(&"no local_lock= option the kernel shows")
        ));
    }
    Err(format!(
        "{name}, whose record locks may stay on the client that took them (only local disk and memory file systems, and NFS with its lock manager, share them)"
    ))
}

/// The file system type and super options of the mount `dir` is on: its
/// mount id from `statx`, looked up in `/proc/self/mountinfo`.
fn mount_of(dir: &OwnedFd) -> Option<(String, String)> {
    let id = rustix::fs::statx(
        dir,
        c"",
        AtFlags::EMPTY_PATH,
        rustix::fs::StatxFlags::MNT_ID,
    )
    .ok()?
    .stx_mnt_id;
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mount_entry(&table, id)
}

/// The line of mount `id` in a mountinfo table: `id parent dev root point
/// options [optional fields] - type source super-options`.
fn mount_entry(table: &str, id: u64) -> Option<(String, String)> {
    let line = table
        .lines()
        .find(|l| l.split(' ').next().and_then(|f| f.parse::<u64>().ok()) == Some(id))?;
    let mut after = line.split(' ').skip_while(|f| *f != "-").skip(1);
    let fstype = after.next()?.to_owned();
    let options = after.nth(1).unwrap_or("").to_owned();
    Some((fstype, options))
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

#[cfg(test)]
mod tests {
    use super::*;

    const NFS: &str = "7 1 0:50 / /data rw,relatime shared:9 - nfs4 srv:/export rw,vers=4.2,hard,proto=tcp,local_lock=none,addr=10.0.0.2";

    #[test]
    fn mountinfo_lines_give_type_and_super_options() {
        let table = format!("1 0 0:1 / / rw - ext4 /dev/vda rw\n{NFS}\n");
        assert_eq!(
            mount_entry(&table, 7),
            Some((
                "nfs4".into(),
                "rw,vers=4.2,hard,proto=tcp,local_lock=none,addr=10.0.0.2".into()
            ))
        );
        assert_eq!(mount_entry(&table, 1), Some(("ext4".into(), "rw".into())));
        assert_eq!(mount_entry(&table, 70), None);
        assert_eq!(mount_entry("garbage", 7), None);
    }

    #[test]
    fn nfs_shares_locks_only_through_its_lock_manager() {
        for opts in [
            "rw,local_lock=all",
            "rw,local_lock=posix",
            "rw,nolock,local_lock=none",
            "rw",
            "",
        ] {
            let err = lock_scope(NFS_SUPER_MAGIC, Some(("nfs", opts))).unwrap_err();
            assert!(err.contains("stay on this client"), "{opts}: {err}");
        }
        assert!(lock_scope(NFS_SUPER_MAGIC, None).is_err());
        for opts in ["rw,vers=3,local_lock=none", "rw,local_lock=flock"] {
            assert_eq!(
                lock_scope(NFS_SUPER_MAGIC, Some(("nfs", opts))),
                Ok(()),
                "{opts}"
            );
        }
    }

    #[test]
    fn fuse_smb_and_unknown_types_never_prove_free() {
        for (magic, fstype) in [
            (0x6573_5546, "fuse.sshfs"),
            (0xFE53_4D42, "smb3"),
            (0x0102_1997, "9p"),
            (0x6A65_6A63, "virtiofs"),
        ] {
            let err = lock_scope(magic, Some((fstype, "rw"))).unwrap_err();
            assert!(
                err.starts_with(fstype) && err.contains("may stay on the client"),
                "{err}"
            );
        }
        assert!(
            lock_scope(0x1234, None)
                .unwrap_err()
                .starts_with("file system type 0x1234")
        );
        assert_eq!(lock_scope(0xEF53, None), Ok(()));
        assert_eq!(lock_scope(0x0102_1994, Some(("tmpfs", "rw"))), Ok(()));
    }
}
