//! `--install DIR`: put a copy of this binary where the gateway's container
//! can run it (a volume both containers mount), for wrapper mode in an image
//! the operator does not build.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

pub const NAME: &str = "openclaw-lock-sweeper";

/// Copies the running binary to `dir/openclaw-lock-sweeper`, mode 0755. It is
/// written under a temporary name, synced, then renamed over the target, so
/// a container (re)started at any moment finds the old file or the whole new
/// one, never a partial one.
pub fn install(dir: &Path) -> Result<PathBuf, Error> {
    let fail = |source| Error::Install {
        dir: dir.to_owned(),
        source,
    };
    // /proc/self/exe is the file this process runs, wherever it was started
    // from (in the image, /openclaw-lock-sweeper).
    let mut exe = File::open("/proc/self/exe").map_err(fail)?;
    let target = dir.join(NAME);
    // One temporary name per pid: a copy an install killed midway left under
    // it (pid 1 again in the next container) is replaced.
    let temp = dir.join(format!(".{NAME}.install-{}", std::process::id()));
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)
    };
    let mut out = match open() {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            std::fs::remove_file(&temp).map_err(fail)?;
            open()
        }
        other => other,
    }
    .map_err(fail)?;
    let written = std::io::copy(&mut exe, &mut out)
        // The umask may have taken bits off the mode given at creation.
        .and_then(|n| {
            out.set_permissions(std::fs::Permissions::from_mode(0o755))
                .map(|()| n)
        })
        .and_then(|n| out.sync_all().map(|()| n))
        .and_then(|n| std::fs::rename(&temp, &target).map(|()| n));
    match written {
        Ok(_) => Ok(target),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(fail(e))
        }
    }
}
