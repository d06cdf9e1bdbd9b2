//! The one way this program opens OpenClaw's SQLite databases: through
//! SQLite itself, with its own locking, in place; never a copy.
//!
//! The databases are in WAL mode and belong to the gateway's user. Reading
//! must not change them: without a `-wal` the file alone is the database and
//! is opened immutable (no lock, no `-shm` created); with one, read-only
//! through the `-wal` and its `-shm`, which must both be there (creating a
//! `-shm` as another uid would lock the gateway out). Writing opens the
//! existing file only, read-write, and leaves no `-wal`/`-shm` of another
//! owner behind. Each database is reached from directories opened without
//! following symlinks, and the file SQLite opened is checked with the kernel
//! to be the regular file that was judged (same device and inode).

use std::collections::BTreeSet;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::Error;

/// All the time SQLite may take in one pass over the rows, busy waits and
/// statements together, for every database: a pass holds the gateway's
/// coordinators, and a gateway that starts meanwhile waits 5 s for them.
/// A CLI's short transaction fits; what does not fit is kept and reported.
const BUDGET: Duration = Duration::from_millis(400);

/// The deadline of one pass: every connection opened under it waits for a
/// lock and runs a statement only until then (a busy timeout and a progress
/// handler), so no database, however built, can hold the sweep.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn start() -> Deadline {
        Deadline(Instant::now() + BUDGET)
    }

    fn left(self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// Arms `conn`: waits and statements end at the deadline.
    fn arm(self, conn: &mut Connection) -> rusqlite::Result<()> {
        conn.busy_timeout(self.left())?;
        let end = self.0;
        conn.progress_handler(1000, Some(move || Instant::now() >= end))
    }
}

/// An open database, and the file it was opened from.
pub struct Database {
    pub conn: Connection,
    /// The path relative to the state dir, as shown in the log.
    pub path: String,
    stat: Stat,
    /// Opened `immutable` (there was no `-wal`): SQLite took no lock.
    immutable: bool,
}

/// Why a database that exists was not opened: each is kept and reported.
#[derive(Debug)]
pub enum Refused {
    /// Not a regular file (a symlink, a directory, ...).
    NotRegular,
    /// A `-wal` without its `-shm`: reading would create the `-shm`.
    WalWithoutShm,
    /// A rollback journal beside it: an interrupted write that an immutable
    /// read would not see and a write connection would roll back.
    Journal,
    /// A write would create a `-wal`/`-shm` owned by this uid, not the
    /// database's owner, and lock the gateway out.
    OtherOwner { db_uid: u32 },
    /// SQLite opened another file than the one judged (swapped meanwhile).
    Swapped,
    /// SQLite refused (corrupt, not a database, locked, ...).
    Sqlite(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotRegular => f.write_str("not a regular file"),
            Refused::WalWithoutShm => f.write_str(
                "its -wal has no -shm beside it; reading it would create one, so it is not read",
            ),
            Refused::Journal => f.write_str(
                "a rollback journal (-journal) is beside it, left by a write that did not finish; \
                 reading would ignore it and writing would roll it back, so it is not touched",
            ),
            Refused::OtherOwner { db_uid } => write!(
                f,
                "owned by uid {db_uid}, and a write as uid {} would create its -wal/-shm under \
                 another owner: run the sweeper as the database's owner (runAsUser 1000)",
                rustix::process::geteuid().as_raw()
            ),
            Refused::Swapped => f.write_str("replaced while it was being opened"),
            Refused::Sqlite(e) => f.write_str(e),
        }
    }
}

/// Opens `dir/name` to read; `None` when there is no such file.
pub fn open_read_only(
    dir: BorrowedFd,
    name: &CStr,
    path: &str,
    deadline: Deadline,
) -> Result<Option<Database>, Refused> {
    let Some(stat) = regular(dir, name)? else {
        return Ok(None);
    };
    if exists(dir, &suffixed(name, "-journal")) {
        return Err(Refused::Journal);
    }
    let wal = exists(dir, &suffixed(name, "-wal"));
    let shm = exists(dir, &suffixed(name, "-shm"));
    let query = match (wal, shm) {
        (false, _) => "mode=ro&immutable=1",
        (true, true) => "mode=ro",
        (true, false) => return Err(Refused::WalWithoutShm),
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
    open(dir, name, path, stat, &format!("?{query}"), flags, deadline).map(Some)
}

/// Opens the database that `db` was read from again, to write: the existing
/// file only, with a busy timeout.
pub fn open_read_write(
    dir: BorrowedFd,
    name: &CStr,
    db: &Database,
    deadline: Deadline,
) -> Result<Database, Refused> {
    let euid = rustix::process::geteuid().as_raw();
    let sidecars = exists(dir, &suffixed(name, "-wal")) && exists(dir, &suffixed(name, "-shm"));
    if euid != 0 && euid != db.stat.st_uid && !sidecars {
        return Err(Refused::OtherOwner {
            db_uid: db.stat.st_uid,
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI;
    if exists(dir, &suffixed(name, "-journal")) {
        return Err(Refused::Journal);
    }
    open(dir, name, &db.path, db.stat, "", flags, deadline)
}

/// Closes a connection that wrote. What SQLite leaves beside the database
/// belongs to the database's owner: run as root, SQLite gives each `-wal` and
/// `-shm` it creates the database file's owner itself; any other uid was
/// refused before the write unless both were already there.
pub fn close_written(db: Database) -> Result<(), Error> {
    db.conn.close().map_err(|(_, e)| Error::Database {
        path: db.path.clone(),
        reason: e.to_string(),
    })
}

fn open(
    dir: BorrowedFd,
    name: &CStr,
    path: &str,
    stat: Stat,
    query: &str,
    flags: OpenFlags,
    deadline: Deadline,
) -> Result<Database, Refused> {
    // The directory is pinned by its descriptor; only the last component is
    // resolved by name, and the kernel then says which file SQLite opened.
    let uri = format!(
        "file:/proc/self/fd/{}/{}{query}",
        dir.as_raw_fd(),
        name.to_string_lossy()
    );
    // The descriptors on that inode before and after: SQLite's is the new
    // one (a listing's own descriptor number may be reused, so numbers alone
    // tell nothing).
    let before = fds_on(&stat);
    let mut conn = Connection::open_with_flags(&uri, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| Refused::Sqlite(e.to_string()))?;
    let same = !fds_on(&stat).is_subset(&before);
    if !same {
        return Err(Refused::Swapped);
    }
    harden(&mut conn, flags, deadline).map_err(|e| Refused::Sqlite(e.to_string()))?;
    Ok(Database {
        conn,
        path: path.to_owned(),
        stat,
        immutable: query.contains("immutable=1"),
    })
}

/// Nothing a database brings with it runs: no trigger, no view, no foreign
/// key action, no function its schema names unless SQLite deems it
/// harmless; and the connection ends its waits and statements at the pass's
/// deadline. (The tables are also checked to be plain: `table_columns`.)
fn harden(conn: &mut Connection, flags: OpenFlags, deadline: Deadline) -> rusqlite::Result<()> {
    for (setting, on) in [
        (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_FKEY, false),
        (DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false),
    ] {
        conn.set_db_config(setting, on)?;
    }
    // A connection that only read must not checkpoint the WAL on close: the
    // database stays as the gateway left it.
    if flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    }
    deadline.arm(conn)
}

/// Why a table is not judged though it exists.
pub type NotOurs = String;

impl Database {
    /// The columns of `table` when it is a table as OpenClaw makes it: a
    /// plain table (no view, no virtual table), no trigger on it, no foreign
    /// key of another table pointing at it, plain column names. `Ok(None)`:
    /// no such table (a release without it). Only this program's own SQL
    /// runs, on SQLite's schema table.
    pub fn table_columns(&self, table: &str) -> Result<Option<Vec<String>>, NotOurs> {
        table_columns(&self.conn, table)
    }

    /// Whether what was read can be trusted: always for a connection that
    /// read under SQLite's locks; for an immutable one (no lock taken), only
    /// while no `-wal` has appeared and the file is as it was when opened: a
    /// writer that started meanwhile may have changed pages under the read.
    pub fn read_still_valid(&self, dir: BorrowedFd, name: &CStr) -> bool {
        if !self.immutable {
            return true;
        }
        let now = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW);
        !exists(dir, &suffixed(name, "-wal"))
            && now.is_ok_and(|s| {
                (s.st_ino, s.st_size, s.st_mtime, s.st_mtime_nsec)
                    == (
                        self.stat.st_ino,
                        self.stat.st_size,
                        self.stat.st_mtime,
                        self.stat.st_mtime_nsec,
                    )
            })
    }
}

/// `Database::table_columns`, on any connection (the write one checks again
/// inside its transaction).
pub fn table_columns(conn: &Connection, table: &str) -> Result<Option<Vec<String>>, NotOurs> {
    let sql_error = |e: rusqlite::Error| e.to_string();
    let kind: Option<(String, String)> = conn
        .query_row(
            "SELECT type, coalesce(sql, '') FROM sqlite_master WHERE name = ?1 COLLATE NOCASE",
            [table],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(sql_error)?;
    let Some((kind, sql)) = kind else {
        return Ok(None);
    };
    if kind != "table" {
        return Err(format!("{table} is a {kind}, not a table"));
    }
    if sql
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("CREATE VIRTUAL")
    {
        return Err(format!("{table} is a virtual table"));
    }
    let triggers: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' \
             AND tbl_name = ?1 COLLATE NOCASE",
            [table],
            |r| r.get(0),
        )
        .map_err(sql_error)?;
    if triggers > 0 {
        return Err(format!("{table} has a trigger"));
    }
    let referring: Option<String> = conn
        .query_row(
            "SELECT m.name FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f \
             WHERE m.type = 'table' AND f.\"table\" = ?1 COLLATE NOCASE LIMIT 1",
            [table],
            |r| r.get(0),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(sql_error)?;
    if let Some(other) = referring {
        return Err(format!("a foreign key of table {other} refers to {table}"));
    }
    let mut statement = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(sql_error)?;
    let columns = statement
        .query_map([table], |r| r.get::<_, String>(0))
        .and_then(Iterator::collect::<rusqlite::Result<Vec<String>>>)
        .map_err(sql_error)?;
    if let Some(odd) = columns
        .iter()
        .find(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(format!("{table} has a column named {odd:?}"));
    }
    Ok(Some(columns))
}

/// The descriptors of this process open on the file `stat` describes, as
/// the kernel lists them.
fn fds_on(stat: &Stat) -> BTreeSet<i32> {
    let listed: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    listed
        .into_iter()
        .filter(|&fd| {
            // SAFETY: only fstat, on a number the kernel just listed; one
            // that closed since fails with EBADF.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            rustix::fs::fstat(fd).is_ok_and(|s| (s.st_dev, s.st_ino) == (stat.st_dev, stat.st_ino))
        })
        .collect()
}

/// The stat of `dir/name` when it is a regular file; `None` when absent.
fn regular(dir: BorrowedFd, name: &CStr) -> Result<Option<Stat>, Refused> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile => {
            Ok(Some(stat))
        }
        Ok(_) => Err(Refused::NotRegular),
        Err(Errno::NOENT) => Ok(None),
        Err(errno) => Err(Refused::Sqlite(std::io::Error::from(errno).to_string())),
    }
}

fn exists(dir: BorrowedFd, name: &CStr) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

fn suffixed(name: &CStr, suffix: &str) -> CString {
    let mut bytes = name.to_bytes().to_vec();
    bytes.extend_from_slice(suffix.as_bytes());
    CString::new(bytes).expect("no NUL in a file name")
}

/// The agents whose `agent/` dir holds one of `files`, of the stores the
/// walk saw there (`agents/<id>/agent/<file>`, relative to the state dir):
/// sorted, each once.
pub fn agents_with(stores: &[std::path::PathBuf], files: &[&str]) -> Vec<CString> {
    use std::os::unix::ffi::OsStrExt;
    let mut ids: Vec<CString> = stores
        .iter()
        .filter_map(|store| {
            let parts: Vec<_> = store.iter().collect();
            match parts[..] {
                [_, id, _, file] if files.iter().any(|f| file.as_bytes() == f.as_bytes()) => {
                    CString::new(id.as_bytes()).ok()
                }
                _ => None,
            }
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Opens the directory `name` in `dir` without following a symlink; `None`
/// when it is absent or not a directory.
pub fn open_dir(dir: BorrowedFd, name: &CStr) -> Option<rustix::fd::OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}
