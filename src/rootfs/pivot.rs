//! Making the rootfs the process's `/`.

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};

use nix::errno::Errno;

use super::{mountinfo, sys_err, RootfsError};
use crate::sys::mount as sys;
use crate::sys::SysError;

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

/// `--no-pivot`: detaches every mount outside the rootfs, then moves the rootfs mount onto
/// `/` and chroots into it. Unlike pivot_root, MS_MOVE leaves the old root's mounts in the
/// container's namespace; a host /proc or /sys left there would let the container mount a
/// fresh, unmasked proc or sysfs (the kernel allows that while a fully visible one exists).
pub(super) fn move_root(root: &Path) -> Result<(), RootfsError> {
    let what = format!("moving the root ({})", root.display());
    let err = sys_err(&what);
    detach_outside(root, &what)?;
    sys::chdir(root).map_err(&err)?;
    sys::mount(Some(root), Path::new("/"), None, MsFlags::MS_MOVE, None).map_err(&err)?;
    sys::chroot(Path::new(".")).map_err(&err)?;
    sys::chdir(Path::new("/")).map_err(&err)
}

/// Detaches, in the container's own mount namespace, every mount that is neither the rootfs,
/// below it, nor one of its ancestors (those hold the rootfs up and stay, hidden under it).
/// Each is made private first, so the detach cannot propagate to the host whatever the root
/// propagation. A mount the namespace may not detach (locked by a user namespace) is covered
/// with an empty read-only tmpfs instead, so nothing of it stays reachable or fully visible.
fn detach_outside(root: &Path, what: &str) -> Result<(), RootfsError> {
    let mounts = mountinfo::read().map_err(|e| RootfsError::Io {
        what: what.to_string(),
        path: "/proc/self/mountinfo".into(),
        source: e,
    })?;
    let mut outside: Vec<_> = mounts
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| !p.starts_with(root) && !root.starts_with(p))
        .collect();
    // Deepest first; a mount stacked over an earlier one is listed (and detached) later.
    outside.reverse();
    outside.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in &outside {
        detach_one(point).map_err(sys_err(what))?;
    }
    Ok(())
}

/// Detaches the mount at `point`; gone already (with a parent) is fine; not allowed → covered.
fn detach_one(point: &Path) -> Result<(), SysError> {
    let private = MsFlags::MS_PRIVATE | MsFlags::MS_REC;
    match sys::mount(None, point, None, private, None) {
        Err(e) if matches!(e.errno, Errno::EINVAL | Errno::ENOENT) => return Ok(()),
        other => other?,
    }
    match sys::umount2(point, MntFlags::MNT_DETACH) {
        Err(e) if matches!(e.errno, Errno::EINVAL | Errno::EPERM) => cover(point, e),
        other => other,
    }
}

/// Mounts an empty read-only tmpfs over a directory that could not be detached.
fn cover(point: &Path, refused: SysError) -> Result<(), SysError> {
    if !point.is_dir() {
        return Err(refused);
    }
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    sys::mount(Some(Path::new("tmpfs")), point, Some("tmpfs"), flags, None)
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
