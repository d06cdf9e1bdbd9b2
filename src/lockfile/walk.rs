//! Finding candidates: a walk of the state dir guided by the patterns.
//!
//! Every directory is opened relative to its parent's descriptor with
//! `O_NOFOLLOW | O_DIRECTORY`, starting from the state dir's own descriptor,
//! so the walk can neither follow a symlink nor leave the state dir, even if
//! a directory is swapped for a symlink while it runs. (A directory passed
//! through by literal names, `agents/<id>/`, is skipped: `<id>/agent` is
//! opened from `agents/` with `openat2`, which the kernel keeps from
//! following any symlink or leaving `agents/`.) Only directories that can
//! still lead to a match are opened, and a directory whose next segments
//! are all literal names is not even listed: an agent's sessions and
//! workspace are never read. Directories are processed from an explicit
//! stack, and a parent's descriptor lives only while some child is still
//! pending, so a 10,000-deep chain needs neither deep recursion nor 10,000
//! open descriptors. A tree with pending siblings at every level would still
//! keep one per level: past `MAX_OPEN_DIRS`, the shallowest are closed and,
//! when their turn comes, reopened from the state dir with `openat2` (no
//! symlink, never out of it) and checked to be the same directory (device
//! and inode) before the walk goes on there. Files are reported as they are
//! listed: nothing is collected, so memory does not grow with the number of
//! locks.

use std::ffi::{CStr, CString, OsStr};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir, ResolveFlags, SeekFrom};
use rustix::io::Errno;

use crate::error::Error;
use crate::lockfile::lock::open_noatime;
use crate::lockfile::remove::TEMP_PREFIX;
use crate::operator::config::{Pattern, Segment};

pub enum Event<'a> {
    /// A path that matches the last segment of some pattern.
    Candidate {
        dir: BorrowedFd<'a>,
        name: &'a CStr,
        rel: &'a Path,
        /// From the directory entry (or an lstat for a literal segment);
        /// `Unknown` when the file system does not fill in entry types.
        kind: FileType,
    },
    /// A symlink where a directory on the way to a match would be: not followed.
    Symlink { rel: &'a Path },
    /// A name of a pattern's `also_observe`, in a directory listed anyway.
    Observed { rel: &'a Path },
    /// A file a sweep moved aside under a private name and did not get to
    /// remove or put back: found in every directory the walk lists.
    Leftover {
        dir: BorrowedFd<'a>,
        name: &'a CStr,
        rel: &'a Path,
    },
    /// A directory that could not be opened or read.
    Error(Error),
}

/// (pattern index, segment index): how far a directory is into a pattern.
type Position = (usize, usize);

struct Pending {
    parent: Parent,
    name: CString,
    rel: PathBuf,
    positions: Vec<Position>,
}

/// The directory a pending name is in. Siblings share one, and lie next to
/// each other on the stack.
enum Parent {
    Open(Rc<OwnedFd>),
    /// Closed to bound the descriptors: reopened by path from the state dir.
    Closed(Rc<Closed>),
}

struct Closed {
    rel: PathBuf,
    dev: u64,
    ino: u64,
}

impl Parent {
    fn is(&self, fd: &Rc<OwnedFd>) -> bool {
        matches!(self, Parent::Open(p) if Rc::ptr_eq(p, fd))
    }
}

/// At most this many directories are kept open for pending siblings (the
/// state dir's own descriptor aside), far below any usual file limit.
const MAX_OPEN_DIRS: usize = 64;

/// The open parents on the stack, counted as the walk goes.
struct Bound {
    /// Distinct open parents of pending entries, the root aside.
    open: usize,
    /// Below this index every entry's parent is the root or closed.
    scan_from: usize,
}

impl Bound {
    /// Closes the shallowest open parents until at most `MAX_OPEN_DIRS`
    /// remain: all its pending entries take the path instead.
    fn enforce(&mut self, root: &Rc<OwnedFd>, stack: &mut [Pending]) {
        let mut i = self.scan_from.min(stack.len());
        while self.open > MAX_OPEN_DIRS && i < stack.len() {
            let fd = match &stack[i].parent {
                Parent::Open(fd) if !Rc::ptr_eq(fd, root) => Rc::clone(fd),
                _ => {
                    i += 1;
                    continue;
                }
            };
            let Ok(st) = rustix::fs::fstat(&*fd) else {
                // Kept open: closing it without its identity could not be undone safely.
                i += 1;
                continue;
            };
            let depth = stack[i].name.as_bytes().split(|&b| b == b'/').count();
            let closed = Rc::new(Closed {
                rel: stack[i]
                    .rel
                    .ancestors()
                    .nth(depth)
                    .unwrap_or(Path::new(""))
                    .to_owned(),
                dev: st.st_dev,
                ino: st.st_ino,
            });
            while i < stack.len() && stack[i].parent.is(&fd) {
                stack[i].parent = Parent::Closed(Rc::clone(&closed));
                i += 1;
            }
            self.open -= 1;
        }
        self.scan_from = i;
    }
}

/// Opens a closed directory again by its path below the state dir, in
/// `openat2` calls of less than `PATH_MAX` each, and checks that it is the
/// one that was closed (`ESTALE` if it was moved or replaced meanwhile).
fn reopen(root: &OwnedFd, closed: &Closed) -> Result<OwnedFd, Errno> {
    let mut dir: Option<OwnedFd> = None;
    let mut chunk: Vec<u8> = Vec::new();
    let components = closed.rel.as_os_str().as_bytes().split(|&b| b == b'/');
    for component in components.chain(std::iter::once(&[][..])) {
        if !chunk.is_empty() && (component.is_empty() || chunk.len() + 1 + component.len() >= 4000)
        {
            let from = dir.as_ref().map_or(root.as_fd(), |d| d.as_fd());
            let path = CString::new(std::mem::take(&mut chunk)).map_err(|_| Errno::INVAL)?;
            dir = Some(open_noatime(DIR_FLAGS, |flags| {
                rustix::fs::openat2(from, &path, flags, Mode::empty(), BENEATH)
            })?);
        }
        if !component.is_empty() {
            if !chunk.is_empty() {
                chunk.push(b'/');
            }
            chunk.extend_from_slice(component);
        }
    }
    let dir = dir.ok_or(Errno::INVAL)?;
    let st = rustix::fs::fstat(&dir)?;
    if (st.st_dev, st.st_ino) != (closed.dev, closed.ino) {
        return Err(Errno::STALE);
    }
    Ok(dir)
}

pub fn walk(root: OwnedFd, patterns: &[Pattern], mut visit: impl FnMut(Event<'_>)) {
    let start = closure(patterns, (0..patterns.len()).map(|p| (p, 0)).collect());
    let mut stack = Vec::new();
    // One buffer for every directory's getdents64: a directory of 200 locks
    // fits in one call.
    let mut buf = vec![MaybeUninit::uninit(); 32 * 1024];
    // Listed from its descriptor's offset: a duplicate of it may have been
    // listed before (duplicates share the offset).
    let _ = rustix::fs::seek(&root, SeekFrom::Start(0));
    let root = Rc::new(root);
    list_dir(
        Rc::clone(&root),
        Path::new(""),
        &start,
        patterns,
        &mut stack,
        &mut buf,
        &mut visit,
    );
    let mut bound = Bound {
        open: 0,
        scan_from: stack.len(),
    };
    while let Some(pending) = stack.pop() {
        bound.scan_from = bound.scan_from.min(stack.len());
        let parent = match &pending.parent {
            Parent::Open(fd) => {
                let fd = Rc::clone(fd);
                if !Rc::ptr_eq(&fd, &root) && !stack.last().is_some_and(|p| p.parent.is(&fd)) {
                    bound.open -= 1;
                }
                fd
            }
            Parent::Closed(closed) => {
                let closed = Rc::clone(closed);
                let siblings = (stack.iter().rev())
                    .take_while(
                        |p| matches!(&p.parent, Parent::Closed(c) if Rc::ptr_eq(c, &closed)),
                    )
                    .count();
                let first = stack.len() - siblings;
                match reopen(&root, &closed) {
                    Ok(fd) => {
                        let fd = Rc::new(fd);
                        for sibling in &mut stack[first..] {
                            sibling.parent = Parent::Open(Rc::clone(&fd));
                        }
                        if siblings > 0 {
                            bound.open += 1;
                            bound.scan_from = bound.scan_from.min(first);
                        }
                        fd
                    }
                    Err(errno) => {
                        visit(Event::Error(io_error(
                            "reopen directory",
                            &closed.rel,
                            errno,
                        )));
                        stack.truncate(first);
                        continue;
                    }
                }
            }
        };
        let parent_pending = stack.last().is_some_and(|p| p.parent.is(&parent));
        let before = stack.len();
        if through_literals(&pending, &parent, patterns, &mut stack) {
            if stack.len() > before && !parent_pending && !Rc::ptr_eq(&parent, &root) {
                bound.open += 1;
            }
            bound.enforce(&root, &mut stack);
            continue;
        }
        let Some(dir) = open_pending(&pending, &parent, &mut visit) else {
            continue;
        };
        // The parent stays open only while siblings still need it.
        drop(pending.parent);
        drop(parent);
        let before = stack.len();
        list_dir(
            Rc::new(dir),
            &pending.rel,
            &pending.positions,
            patterns,
            &mut stack,
            &mut buf,
            &mut visit,
        );
        if stack.len() > before {
            bound.open += 1;
            bound.enforce(&root, &mut stack);
        }
    }
}

/// A directory the patterns only pass through by literal names (an agent's
/// `<id>/`, on the way to `agent/` and `sessions/…`) is not opened: each
/// such name that leads on to a glob is pushed as `<id>/agent`, opened from
/// the parent in one `openat2`, and a chain of literals to a pattern's end
/// is asked of the kernel from the parent too (`absent`). Two system calls
/// an agent fewer. When a literal is itself a candidate, or a chain is not
/// plainly absent, the directory is opened as any other (`false`).
fn through_literals(
    pending: &Pending,
    parent: &Rc<OwnedFd>,
    patterns: &[Pattern],
    stack: &mut Vec<Pending>,
) -> bool {
    let Some(names) = literal_names(&pending.positions, patterns) else {
        return false;
    };
    if (pending.positions.iter()).any(|&(p, i)| i + 1 == patterns[p].segments.len()) {
        return false;
    }
    let mut prefix = Vec::with_capacity(pending.name.as_bytes().len() + 1);
    prefix.extend_from_slice(pending.name.as_bytes());
    prefix.push(b'/');
    let mut further = Vec::new();
    for name in names {
        match literal_targets(&prefix, name, &pending.positions, patterns) {
            Some(targets) => {
                if !targets.iter().all(|t| absent(parent, t)) {
                    return false;
                }
            }
            None => further.push(name),
        }
    }
    for name in further {
        let mut path = Vec::with_capacity(prefix.len() + name.to_bytes().len() + 1);
        path.extend_from_slice(&prefix);
        path.extend_from_slice(name.to_bytes());
        let Ok(path) = CString::new(path) else {
            continue;
        };
        let next = pending
            .positions
            .iter()
            .filter(|&&(p, i)| matches!(&patterns[p].segments[i], Segment::Literal(l) if l.as_c_str() == name))
            .map(|&(p, i)| (p, i + 1))
            .collect();
        stack.push(Pending {
            parent: Parent::Open(Rc::clone(parent)),
            name: path,
            rel: pending.rel.join(OsStr::from_bytes(name.to_bytes())),
            positions: closure(patterns, next),
        });
    }
    true
}

/// Opens a pending directory. A name of several components (from
/// `through_literals`) is opened in one `openat2` that follows no symlink
/// and cannot leave the parent; if that fails for any reason but absence,
/// it is opened a component at a time like any other, so that a symlink or
/// an error is reported where it is.
fn open_pending(
    pending: &Pending,
    parent: &OwnedFd,
    visit: &mut impl FnMut(Event<'_>),
) -> Option<OwnedFd> {
    let name = pending.name.as_bytes();
    if !name.contains(&b'/') {
        return open_dir(parent.as_fd(), &pending.name, &pending.rel, visit);
    }
    let opened = open_noatime(DIR_FLAGS, |flags| {
        rustix::fs::openat2(parent, &pending.name, flags, Mode::empty(), BENEATH)
    });
    match opened {
        Ok(fd) => return Some(fd),
        Err(Errno::NOENT) => return None,
        Err(_) => {}
    }
    let components: Vec<&[u8]> = name.split(|&b| b == b'/').collect();
    let mut dir: Option<OwnedFd> = None;
    for (i, component) in components.iter().enumerate() {
        let rel = pending.rel.ancestors().nth(components.len() - 1 - i)?;
        let parent = dir.as_ref().map_or(parent.as_fd(), |d| d.as_fd());
        let component = CString::new(*component).ok()?;
        dir = Some(open_dir(parent, &component, rel, visit)?);
    }
    dir
}

/// How `openat2` walks a path below a directory: through no symlink, and
/// never out of that directory.
const BENEATH: ResolveFlags = ResolveFlags::NO_SYMLINKS.union(ResolveFlags::BENEATH);

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens `name` below `parent` as a directory, without following a symlink;
/// what is there instead is reported at `rel`.
fn open_dir(
    parent: BorrowedFd,
    name: &CStr,
    rel: &Path,
    visit: &mut impl FnMut(Event<'_>),
) -> Option<OwnedFd> {
    match open_noatime(DIR_FLAGS, |flags| {
        rustix::fs::openat(parent, name, flags, Mode::empty())
    }) {
        Ok(fd) => Some(fd),
        // Removed since it was listed, or a literal segment that does not exist.
        Err(Errno::NOENT) => None,
        Err(Errno::LOOP) => {
            visit(Event::Symlink { rel });
            None
        }
        Err(Errno::NOTDIR) => {
            let lstat = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW);
            if lstat.is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink) {
                visit(Event::Symlink { rel });
            }
            None
        }
        Err(errno) => {
            visit(Event::Error(io_error("open directory", rel, errno)));
            None
        }
    }
}

fn list_dir(
    dir: Rc<OwnedFd>,
    rel: &Path,
    positions: &[Position],
    patterns: &[Pattern],
    stack: &mut Vec<Pending>,
    buf: &mut [MaybeUninit<u8>],
    visit: &mut impl FnMut(Event<'_>),
) {
    if let Some(names) = literal_names(positions, patterns) {
        // Only literal names can match here: look them up, don't list.
        for name in names {
            // A name that only leads further (`agents/<id>/sessions/`) is not
            // looked up: opening it as a directory, without following a
            // symlink, says all the lookup would.
            let last = positions.iter().any(|&(p, i)| {
                i + 1 == patterns[p].segments.len()
                    && matches!(&patterns[p].segments[i], Segment::Literal(l) if l.as_c_str() == name)
            });
            if !last {
                if literal_targets(b"", name, positions, patterns)
                    .is_some_and(|targets| targets.iter().all(|t| absent(&dir, t)))
                {
                    continue;
                }
                consider(
                    &dir,
                    name,
                    FileType::Unknown,
                    rel,
                    positions,
                    patterns,
                    stack,
                    visit,
                );
                continue;
            }
            let kind = match rustix::fs::statat(&*dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => FileType::from_raw_mode(st.st_mode),
                Err(Errno::NOENT | Errno::NOTDIR) => continue,
                Err(errno) => {
                    let rel = rel.join(OsStr::from_bytes(name.to_bytes()));
                    visit(Event::Error(io_error("stat", &rel, errno)));
                    continue;
                }
            };
            consider(&dir, name, kind, rel, positions, patterns, stack, visit);
        }
        return;
    }
    // Read from the walk's own descriptor (rustix's `Dir` would reopen it).
    let mut entries = RawDir::new(&*dir, buf);
    while let Some(entry) = entries.next() {
        match entry {
            Ok(entry) => {
                let name = entry.file_name();
                if name == c"." || name == c".." {
                    continue;
                }
                consider(
                    &dir,
                    name,
                    entry.file_type(),
                    rel,
                    positions,
                    patterns,
                    stack,
                    visit,
                );
            }
            // Removed since it was opened: nothing left to list.
            Err(Errno::NOENT) => return,
            Err(errno) => return visit(Event::Error(io_error("read directory", rel, errno))),
        }
    }
}

/// The names the patterns go on by at these positions, when each is a
/// literal: sorted, each once.
fn literal_names<'p>(positions: &[Position], patterns: &'p [Pattern]) -> Option<Vec<&'p CStr>> {
    let mut names: Vec<&CStr> = (positions.iter())
        .map(|&(p, i)| patterns[p].segments[i].literal())
        .collect::<Option<_>>()?;
    names.sort();
    names.dedup();
    Some(names)
}

/// Where every pattern through `name` goes on by literal names to its end
/// (`sessions/.usage-cost-cache.json.lock`): those paths, relative to this
/// directory, after `prefix` (`<id>/` from `through_literals`). `None` when
/// some pattern still has a glob to match.
fn literal_targets(
    prefix: &[u8],
    name: &CStr,
    positions: &[Position],
    patterns: &[Pattern],
) -> Option<Vec<CString>> {
    let mut targets = Vec::new();
    for &(p, i) in positions {
        let segments = &patterns[p].segments;
        if !matches!(&segments[i], Segment::Literal(l) if l.as_c_str() == name) {
            continue;
        }
        let mut len = prefix.len() + name.to_bytes().len() + 1;
        for segment in &segments[i + 1..] {
            len += 1 + segment.literal()?.to_bytes().len();
        }
        let mut path = Vec::with_capacity(len);
        path.extend_from_slice(prefix);
        path.extend_from_slice(name.to_bytes());
        for l in segments[i + 1..].iter().filter_map(Segment::literal) {
            path.push(b'/');
            path.extend_from_slice(l.to_bytes());
        }
        targets.push(CString::new(path).ok()?);
    }
    Some(targets)
}

/// Whether the kernel says nothing is at `path` below `dir`, asked in one
/// `openat2` that follows no symlink and cannot leave `dir`: the usual
/// answer for a lock that is not there, without opening the directories on
/// the way. Anything else (there, a symlink on the way, an error, a kernel
/// without `openat2`) is `false`, and the walk goes there the careful way.
fn absent(dir: &OwnedFd, path: &CStr) -> bool {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    matches!(
        rustix::fs::openat2(dir, path, flags, Mode::empty(), BENEATH),
        Err(Errno::NOENT | Errno::NOTDIR)
    )
}

#[allow(clippy::too_many_arguments)]
fn consider(
    dir: &Rc<OwnedFd>,
    name: &CStr,
    kind: FileType,
    rel: &Path,
    positions: &[Position],
    patterns: &[Pattern],
    stack: &mut Vec<Pending>,
    visit: &mut impl FnMut(Event<'_>),
) {
    let os_name = OsStr::from_bytes(name.to_bytes());
    if name.to_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
        let rel = child(rel, os_name);
        return visit(Event::Leftover {
            dir: dir.as_fd(),
            name,
            rel: &rel,
        });
    }
    let mut is_candidate = false;
    let mut observed = false;
    let mut next = Vec::new();
    for &(p, i) in positions {
        let segments = &patterns[p].segments;
        match &segments[i] {
            Segment::AnyDepth => next.push((p, i)),
            segment if segment.matches(name.to_bytes()) => {
                if i + 1 == segments.len() {
                    is_candidate = true;
                } else {
                    next.push((p, i + 1));
                }
            }
            _ if i + 1 == segments.len()
                && (patterns[p].also_observe.iter()).any(|n| n.as_bytes() == name.to_bytes()) =>
            {
                observed = true;
            }
            _ => {}
        }
    }
    if !observed && !is_candidate && next.is_empty() {
        return;
    }
    let rel = child(rel, os_name);
    if observed {
        visit(Event::Observed { rel: &rel });
    }
    if is_candidate {
        visit(Event::Candidate {
            dir: dir.as_fd(),
            name,
            rel: &rel,
            kind,
        });
    }
    if next.is_empty() {
        return;
    }
    match kind {
        FileType::Directory | FileType::Unknown => stack.push(Pending {
            parent: Parent::Open(Rc::clone(dir)),
            name: name.to_owned(),
            rel,
            positions: closure(patterns, next),
        }),
        // A symlink that is also a candidate has been reported as one.
        FileType::Symlink if !is_candidate => visit(Event::Symlink { rel: &rel }),
        _ => {}
    }
}

/// `rel.join(name)`, allocated once at its size: `join` grows its buffer
/// twice, and was 9% of a sweep's user-space instructions on 1k agents.
fn child(rel: &Path, name: &OsStr) -> PathBuf {
    let mut path = PathBuf::with_capacity(rel.as_os_str().len() + 1 + name.len());
    path.push(rel);
    path.push(name);
    path
}

/// Adds, for every position at a `**`, the position just past it (`**`
/// also matches zero directories).
fn closure(patterns: &[Pattern], mut positions: Vec<Position>) -> Vec<Position> {
    let mut i = 0;
    while i < positions.len() {
        let (p, s) = positions[i];
        if matches!(patterns[p].segments[s], Segment::AnyDepth) {
            positions.push((p, s + 1));
        }
        i += 1;
    }
    positions.sort_unstable();
    positions.dedup();
    positions
}

pub fn io_error(op: &'static str, rel: &Path, errno: Errno) -> Error {
    Error::Io {
        op,
        path: crate::operator::report::shown(rel),
        errno,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVEL: &str = "level-of-forty-bytes-for-a-long-path-0";

    #[test]
    fn a_closed_directory_reopens_only_as_itself() {
        let dir = tempfile::tempdir().unwrap();
        let root = rustix::fs::open(dir.path(), DIR_FLAGS, Mode::empty()).unwrap();
        // 120 levels, 4,680 bytes: beyond PATH_MAX, reopened in two calls.
        let mut parent = rustix::fs::open(dir.path(), DIR_FLAGS, Mode::empty()).unwrap();
        let mut fd = rustix::fs::open(dir.path(), DIR_FLAGS, Mode::empty()).unwrap();
        for _ in 0..120 {
            rustix::fs::mkdirat(&fd, LEVEL, Mode::from_raw_mode(0o755)).unwrap();
            parent = fd;
            fd = rustix::fs::openat(&parent, LEVEL, DIR_FLAGS, Mode::empty()).unwrap();
        }
        let st = rustix::fs::fstat(&fd).unwrap();
        let closed = Closed {
            rel: std::iter::repeat_n(LEVEL, 120).collect(),
            dev: st.st_dev,
            ino: st.st_ino,
        };
        assert_eq!(
            rustix::fs::fstat(reopen(&root, &closed).unwrap())
                .unwrap()
                .st_ino,
            st.st_ino
        );
        // Replaced meanwhile: another directory at the same path.
        rustix::fs::renameat(&parent, LEVEL, &parent, "moved").unwrap();
        rustix::fs::mkdirat(&parent, LEVEL, Mode::from_raw_mode(0o755)).unwrap();
        assert_eq!(reopen(&root, &closed).unwrap_err(), Errno::STALE);
        // A symlink on the way is not followed.
        rustix::fs::unlinkat(&parent, LEVEL, AtFlags::REMOVEDIR).unwrap();
        rustix::fs::symlinkat("moved", &parent, LEVEL).unwrap();
        let refused = reopen(&root, &closed).unwrap_err();
        assert!(matches!(refused, Errno::LOOP | Errno::NOTDIR), "{refused}");
    }
}
