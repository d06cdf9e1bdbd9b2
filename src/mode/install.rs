//! `--install DIR`: put a copy of this binary where the gateway's container
//! can run it (a volume both containers mount), for wrapper mode in an image
//! the operator does not build.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

pub const NAME: &str = "openclaw-lock-sweeper";

/// Copies the running binary to `dir/openclaw-lock-sweeper`, mode 0755. It is
/// written to an unnamed file (`O_TMPFILE`: an install killed midway leaves
/// nothing), synced, linked in under a name no other installer can share,
/// then renamed over the target, so a container (re)started at any moment
/// finds the old file or the whole new one, never a partial one; two
/// installs at once (pid 1 in two containers on one volume) each rename
/// their own whole copy.
pub fn install(dir: &Path) -> Result<PathBuf, Error> {
    let fail = |source| Error::Install {
        dir: dir.to_owned(),
        source,
    };
    // /proc/self/exe is the file this process runs, wherever it was started
    // from (in the image, /openclaw-lock-sweeper).
    let mut exe = File::open("/proc/self/exe").map_err(fail)?;
    let target = dir.join(NAME);
    let temp = dir.join(format!(".{NAME}.install-{}", unique()));
    let unnamed = OpenOptions::new()
        .write(true)
        .mode(0o755)
        .custom_flags(libc::O_TMPFILE)
        .open(dir);
    let (mut out, named) = match unnamed {
        Ok(file) => (file, false),
        // A file system without O_TMPFILE: the named file from the start.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o755)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&temp)
                .map_err(fail)?;
            (file, true)
        }
        Err(e) => return Err(fail(e)),
    };
    let written = std::io::copy(&mut exe, &mut out)
        // The umask may have taken bits off the mode given at creation.
        .and_then(|_| out.set_permissions(std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| out.sync_all())
        .and_then(|()| if named { Ok(()) } else { link(&out, &temp) })
        .and_then(|()| std::fs::rename(&temp, &target));
    match written {
        Ok(()) => Ok(target),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(fail(e))
        }
    }
}

/// Gives the unnamed file `file` the name `path` (which must not exist).
fn link(file: &File, path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let from = std::ffi::CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: two NUL-terminated paths; AT_SYMLINK_FOLLOW resolves the
    // /proc link to the open file itself.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// This pid and 64 random bits: pid 1 of every container is the same pid.
fn unique() -> String {
    let mut bytes = [0u8; 8];
    // SAFETY: writes at most 8 bytes into the buffer.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    let random = if got == 8 {
        u64::from_ne_bytes(bytes)
    } else {
        // No entropy source: the clock, which two installs rarely share.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    };
    format!("{}-{random:016x}", std::process::id())
}
