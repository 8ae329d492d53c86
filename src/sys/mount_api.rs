//! The new mount API calls berth needs: mount_setattr(2) for recursive mount attributes and
//! id-mapped mounts, open_tree(2) to clone a tree detached, move_mount(2) to attach it.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use super::{SysError, SysResult};

/// `MOUNT_ATTR_RDONLY`.
pub const ATTR_RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID`.
pub const ATTR_NOSUID: u64 = 0x2;
/// `MOUNT_ATTR_NODEV`.
pub const ATTR_NODEV: u64 = 0x4;
/// `MOUNT_ATTR_NOEXEC`.
pub const ATTR_NOEXEC: u64 = 0x8;
/// `MOUNT_ATTR__ATIME`: the mask of the access-time mode.
pub const ATTR_ATIME_MASK: u64 = 0x70;
/// `MOUNT_ATTR_RELATIME` (the value 0 within the access-time mask).
pub const ATTR_RELATIME: u64 = 0x0;
/// `MOUNT_ATTR_NOATIME`.
pub const ATTR_NOATIME: u64 = 0x10;
/// `MOUNT_ATTR_STRICTATIME`.
pub const ATTR_STRICTATIME: u64 = 0x20;
/// `MOUNT_ATTR_NODIRATIME`.
pub const ATTR_NODIRATIME: u64 = 0x80;
/// `MOUNT_ATTR_IDMAP`.
pub const ATTR_IDMAP: u64 = 0x0010_0000;
/// `MOUNT_ATTR_NOSYMFOLLOW`.
pub const ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

const AT_RECURSIVE: u32 = 0x8000;
const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountAttr {
    /// Attributes to set.
    pub attr_set: u64,
    /// Attributes to clear.
    pub attr_clr: u64,
    /// Propagation type (unused by berth: 0 leaves it).
    pub propagation: u64,
    /// A user namespace fd, with `ATTR_IDMAP`.
    pub userns_fd: u64,
}

/// mount_setattr(2) on the mount `fd` refers to; `recursive` applies it to every submount.
/// Errors name the mount as `name`. <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    name: &Path,
    recursive: bool,
    attr: &MountAttr,
) -> SysResult<()> {
    let flags = libc::AT_EMPTY_PATH as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: the path is an empty C string and `attr` a correctly laid out mount_attr of
    // the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret < 0 {
        return Err(SysError::new("mount_setattr", name.display().to_string(), Errno::last()));
    }
    Ok(())
}

/// open_tree(2) with `OPEN_TREE_CLONE`: a detached copy of the mount at `fd` (and of its
/// submounts when `recursive`). <https://man7.org/linux/man-pages/man2/open_tree.2.html>
pub fn clone_tree(fd: BorrowedFd<'_>, name: &Path, recursive: bool) -> SysResult<OwnedFd> {
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as u32
        | libc::AT_EMPTY_PATH as u32
        | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: the path is an empty C string; the returned fd is checked and owned.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    if ret < 0 {
        return Err(SysError::new("open_tree", name.display().to_string(), Errno::last()));
    }
    // SAFETY: a new descriptor the kernel just returned.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// move_mount(2) of the detached tree `from` onto the file `to` refers to.
/// <https://man7.org/linux/man-pages/man2/move_mount.2.html>
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>, name: &Path) -> SysResult<()> {
    // SAFETY: empty C strings as paths; both descriptors are valid for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret < 0 {
        return Err(SysError::new("move_mount", name.display().to_string(), Errno::last()));
    }
    Ok(())
}
