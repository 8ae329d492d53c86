//! File calls the state store makes: a whole-file lock and the mount-root attribute.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// Takes an exclusive flock(2) on `fd`, waiting for it (one call: EINTR is returned).
pub fn lock_exclusive(fd: BorrowedFd) -> nix::Result<()> {
    // SAFETY: flock takes a descriptor number and an int; `fd` is open for the call.
    Errno::result(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) }).map(drop)
}

/// statx(2)'s `STATX_ATTR_MOUNT_ROOT` for `fd`: whether it is the root of a mount, or
/// `None` where the kernel does not report the attribute (before Linux 5.8).
pub fn is_mount_root(fd: BorrowedFd) -> nix::Result<Option<bool>> {
    const MOUNT_ROOT: u64 = libc::STATX_ATTR_MOUNT_ROOT as u64;
    // SAFETY: statx is plain integers and arrays; all-zero is a valid value to overwrite.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the fd is open, the path is a valid empty C string (AT_EMPTY_PATH: the fd
    // itself), and `buf` is writable for the call.
    let rc = unsafe { libc::statx(fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, 0, &mut buf) };
    Errno::result(rc)?;
    Ok((buf.stx_attributes_mask & MOUNT_ROOT != 0).then_some(buf.stx_attributes & MOUNT_ROOT != 0))
}
