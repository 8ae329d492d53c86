//! Namespace files (nsfs): whether a path is one, and which namespace type it holds.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;

/// The filesystem of namespace files (`NSFS_MAGIC` of linux/magic.h).
const NSFS_MAGIC: nix::sys::statfs::FsType = nix::sys::statfs::FsType(0x6e73_6673);

/// NS_GET_NSTYPE, `_IO(0xb7, 0x3)`: the CLONE_NEW* type of a namespace file.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Whether `path` lies on nsfs, by statfs(2) (which opens nothing: a FIFO or a device
/// named there is neither blocked on nor acted upon).
pub fn is_nsfs(path: &Path) -> Result<bool, Errno> {
    Ok(nix::sys::statfs::statfs(path)?.filesystem_type() == NSFS_MAGIC)
}

/// The `CLONE_NEW*` flag of the namespace `file` refers to (ioctl NS_GET_NSTYPE).
pub fn namespace_type(file: BorrowedFd<'_>) -> Result<libc::c_int, Errno> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE) };
    Errno::result(kind)
}
