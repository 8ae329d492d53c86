//! After pivot: `linux.maskedPaths`, `linux.readonlyPaths` and `root.readonly`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::mount::MsFlags;

use super::paths::{open_existing, open_in_root};
use super::{options, sys_err, RootfsError};
use crate::sys::mount as sys;

/// Hides each masked path: a directory under an empty read-only tmpfs, anything else under
/// /dev/null. Missing paths are skipped.
pub(super) fn mask(root: BorrowedFd<'_>, paths: &[String]) -> Result<(), RootfsError> {
    let mut null: Option<OwnedFd> = None;
    for (i, p) in paths.iter().enumerate() {
        let what = format!("linux.maskedPaths[{i}] ({p})");
        let path = Path::new(p);
        let resolve = |e| RootfsError::Resolve { what: what.clone(), path: path.into(), source: e };
        let Some(fd) = open_existing(root, path).map_err(resolve)? else {
            continue;
        };
        let st = sys::fstat(fd.as_fd(), path).map_err(sys_err(&what))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            sys::mount_on(
                Some(Path::new("tmpfs")),
                fd.as_fd(),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            )
            .map_err(sys_err(&what))?;
            continue;
        }
        let null = match &null {
            Some(fd) => fd,
            None => null.insert(dev_null(root, &what)?),
        };
        let source = sys::fd_path(null.as_fd());
        sys::mount_on(Some(&source), fd.as_fd(), path, None, MsFlags::MS_BIND, None)
            .map_err(sys_err(&what))?;
    }
    Ok(())
}

/// Opens the container's /dev/null and checks it really is the null device: a symlink or a
/// planted file there would turn the mask into a bind of whatever it names (CVE-2025-31133).
fn dev_null(root: BorrowedFd<'_>, what: &str) -> Result<OwnedFd, RootfsError> {
    let path = Path::new("/dev/null");
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    let fd = sys::openat2(root, path, libc::O_PATH, 0, resolve)
        .map_err(|e| RootfsError::Resolve { what: what.into(), path: path.into(), source: e })?;
    let st = sys::fstat(fd.as_fd(), path).map_err(sys_err(what))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(RootfsError::Invalid {
            what: what.into(),
            reason: "/dev/null in the container is not the null device (char 1:3)".into(),
        });
    }
    Ok(fd)
}

/// Makes each path read-only (and nosuid, nodev, noexec) by binding it onto itself and
/// remounting; missing paths are skipped.
pub(super) fn readonly(root: BorrowedFd<'_>, paths: &[String]) -> Result<(), RootfsError> {
    for (i, p) in paths.iter().enumerate() {
        let what = format!("linux.readonlyPaths[{i}] ({p})");
        let path = Path::new(p);
        let resolve = |e| RootfsError::Resolve { what: what.clone(), path: path.into(), source: e };
        let Some(fd) = open_existing(root, path).map_err(resolve)? else {
            continue;
        };
        let source = sys::fd_path(fd.as_fd());
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        sys::mount_on(Some(&source), fd.as_fd(), path, None, flags, None)
            .map_err(sys_err(&what))?;
        let fd = open_in_root(root, path).map_err(resolve)?;
        let asked =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        remount(fd.as_fd(), path, asked).map_err(sys_err(&what))?;
    }
    Ok(())
}

/// `root.readonly`: remounts `/` read-only, keeping its other flags.
pub(super) fn readonly_root(root: BorrowedFd<'_>) -> Result<(), RootfsError> {
    remount(root, Path::new("/"), MsFlags::MS_RDONLY).map_err(sys_err("root.readonly"))
}

fn remount(fd: BorrowedFd<'_>, path: &Path, asked: MsFlags) -> Result<(), crate::sys::SysError> {
    let current = sys::fstatvfs_flags(fd, path)?;
    let kept = options::kept_flags(current, asked, MsFlags::empty());
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | asked | kept;
    sys::mount_on(None, fd, path, None, flags, None)
}
