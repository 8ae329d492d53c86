//! Making the rootfs the process's `/`.

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

use super::{sys_err, RootfsError};
use crate::sys::mount as sys;

/// pivot_root(".", "."): the old root ends up stacked under the new one at `/`, where it is
/// made a slave (so the detach cannot propagate to the host) and lazily unmounted. No
/// directory for the old root is needed and nothing of it stays visible.
pub(super) fn pivot_root(root: &Path) -> Result<(), RootfsError> {
    let what = format!("pivot_root ({})", root.display());
    let err = sys_err(&what);
    let dir = sys::open(root, libc::O_DIRECTORY | libc::O_RDONLY).map_err(&err)?;
    sys::fchdir(dir.as_fd(), root).map_err(&err)?;
    let here = Path::new(".");
    sys::pivot_root(here, here).map_err(&err)?;
    sys::mount(None, here, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None).map_err(&err)?;
    sys::umount2(here, MntFlags::MNT_DETACH).map_err(&err)?;
    sys::chdir(Path::new("/")).map_err(&err)
}

/// `--no-pivot`: moves the rootfs mount onto `/` and chroots into it.
pub(super) fn move_root(root: &Path) -> Result<(), RootfsError> {
    let what = format!("moving the root ({})", root.display());
    let err = sys_err(&what);
    sys::chdir(root).map_err(&err)?;
    sys::mount(Some(root), Path::new("/"), None, MsFlags::MS_MOVE, None).map_err(&err)?;
    sys::chroot(Path::new(".")).map_err(&err)?;
    sys::chdir(Path::new("/")).map_err(&err)
}

/// Without a mount namespace: chroot into the rootfs, nothing mounted or moved (pivot_root
/// and MS_MOVE would act on the host's own mount table).
pub(super) fn chroot_only(root: &Path) -> Result<(), RootfsError> {
    let what = format!("chroot ({})", root.display());
    let err = sys_err(&what);
    sys::chdir(root).map_err(&err)?;
    sys::chroot(Path::new(".")).map_err(&err)?;
    sys::chdir(Path::new("/")).map_err(&err)
}
