//! The calls of the exec shim's hand-over: a sealed memfd to execute, execveat/execve with
//! prepared NULL-terminated arrays, and keeping one descriptor open across the exec.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use super::{SysError, SysResult};

/// memfd_create(2) of `name` with `flags`, asking for MFD_EXEC first: kernels with
/// vm.memfd_noexec (6.3+) want it said, older ones refuse it (EINVAL) and get `flags` alone.
pub fn memfd_create_exec(name: &CStr, flags: libc::c_uint) -> SysResult<OwnedFd> {
    const MFD_EXEC: libc::c_uint = 0x10;
    // SAFETY: memfd_create reads one NUL-terminated name.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    if fd < 0 && Errno::last() == Errno::EINVAL {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(SysError::new("memfd_create", name.to_string_lossy(), Errno::last()));
    }
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fcntl(F_ADD_SEALS) of `seals` on `fd`; `what` names it in the error.
pub fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int, what: &str) -> SysResult<()> {
    // SAFETY: F_ADD_SEALS takes an int argument and changes only the file's seals.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(SysError::new("fcntl(F_ADD_SEALS)", what, Errno::last()));
    }
    Ok(())
}

/// The seals of `fd` (fcntl F_GET_SEALS).
pub fn seals(fd: BorrowedFd<'_>) -> SysResult<libc::c_int> {
    // SAFETY: F_GET_SEALS takes no argument and reads only.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals < 0 {
        return Err(SysError::new("fcntl(F_GET_SEALS)", "", Errno::last()));
    }
    Ok(seals)
}

/// Pointers to `strings`, NULL-terminated, as execve(2) takes them; valid while `strings`
/// lives.
pub fn pointers(strings: &[&CString]) -> Vec<*const libc::c_char> {
    strings.iter().map(|s| s.as_ptr()).chain([std::ptr::null()]).collect()
}

/// execveat(2) of the file `fd` itself (AT_EMPTY_PATH); returns only on failure, with its
/// errno. `argv` and `envp` must come from [`pointers`].
pub fn execveat_fd(
    fd: BorrowedFd<'_>,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
) -> Errno {
    assert!(argv.last().is_some_and(|p| p.is_null()) && envp.last().is_some_and(|p| p.is_null()));
    // SAFETY: both arrays are NULL-terminated (checked above) arrays of pointers into
    // CStrings the caller keeps alive; on success the process image is replaced.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    Errno::last()
}

/// execve(2) of `path`; returns only on failure, with its errno. `argv` and `envp` must
/// come from [`pointers`].
pub fn execve(path: &CStr, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> Errno {
    assert!(argv.last().is_some_and(|p| p.is_null()) && envp.last().is_some_and(|p| p.is_null()));
    // SAFETY: as in execveat_fd; `path` is NUL-terminated.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

/// Clears FD_CLOEXEC on `fd` (fcntl F_SETFD 0).
pub fn clear_cloexec(fd: RawFd) -> SysResult<()> {
    // SAFETY: F_SETFD changes only the descriptor's flags, of a descriptor the caller owns.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
        return Err(SysError::new("fcntl(F_SETFD)", fd.to_string(), Errno::last()));
    }
    Ok(())
}

/// dup(2) of `fd`, left unowned: the copy is meant to cross an exec (dup's copy is never
/// close-on-exec), so nothing here closes it.
pub fn dup_raw(fd: RawFd) -> SysResult<RawFd> {
    // SAFETY: dup creates a new descriptor and changes nothing else.
    let copy = unsafe { libc::dup(fd) };
    if copy < 0 {
        return Err(SysError::new("dup", fd.to_string(), Errno::last()));
    }
    Ok(copy)
}
