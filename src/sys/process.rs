//! Process syscalls nix does not wrap: clone3 (fork-like, into new namespaces), pidfds,
//! close_range.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use super::{SysError, SysResult};

/// `struct clone_args` of clone3(2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of a fork-like clone the caller is on.
pub enum Forked {
    /// In the parent; the child's pid.
    Parent(Pid),
    /// In the child.
    Child,
}

/// Forks into new namespaces (`flags` are `CLONE_NEW*`), with SIGCHLD as the exit signal.
///
/// Uses clone3(2) without a stack, which behaves like fork(2); falls back to clone(2) where
/// clone3 is unavailable. The caller must be single-threaded.
/// See <https://man7.org/linux/man-pages/man2/clone3.2.html>.
pub fn clone_fork(flags: u64) -> SysResult<Forked> {
    let mut args = CloneArgs { flags, exit_signal: libc::SIGCHLD as u64, ..Default::default() };
    // SAFETY: clone3 with a null stack duplicates the (single-threaded) caller like fork.
    let mut ret = unsafe {
        libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>())
    };
    if ret < 0 && Errno::last() == Errno::ENOSYS {
        // SAFETY: as above; clone(2) with a null stack also behaves like fork.
        ret = unsafe { libc::syscall(libc::SYS_clone, flags | libc::SIGCHLD as u64, 0, 0, 0, 0) };
    }
    match ret {
        -1 => Err(SysError::new("clone3", format!("flags {flags:#x}"), Errno::last())),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// pidfd_open(2): a file descriptor that refers to process `pid`.
pub fn pidfd_open(pid: Pid) -> SysResult<OwnedFd> {
    // SAFETY: plain syscall; on success the result is a new fd we own.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if ret < 0 {
        return Err(SysError::new("pidfd_open", format!("pid {pid}"), Errno::last()));
    }
    // SAFETY: the kernel returned a fresh, owned descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// pidfd_send_signal(2): signals the process `pidfd` refers to (never a reused pid).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> SysResult<()> {
    // SAFETY: plain syscall on a borrowed, valid fd.
    let ret = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), signal, std::ptr::null::<u8>(), 0)
    };
    if ret < 0 {
        return Err(SysError::new("pidfd_send_signal", format!("signal {signal}"), Errno::last()));
    }
    Ok(())
}

/// close_range(2) with CLOSE_RANGE_CLOEXEC: marks every fd from `first` up close-on-exec.
pub fn cloexec_from(first: u32) -> SysResult<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: only sets flags on descriptors; nothing is closed.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret < 0 {
        return Err(SysError::new("close_range", format!("{first}.."), Errno::last()));
    }
    Ok(())
}
