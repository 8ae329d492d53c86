//! seccomp(2): install a classic-BPF filter, probe which filter flags the kernel knows, and
//! memfd_create(2) for exporting a program from libseccomp.
//! See <https://man7.org/linux/man-pages/man2/seccomp.2.html>.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;

use super::{SysError, SysResult};

/// Installs `program` on the calling thread with `flags` (`SECCOMP_FILTER_FLAG_*`).
///
/// Returns the notification listener when `flags` has `SECCOMP_FILTER_FLAG_NEW_LISTENER`.
/// Needs no_new_privs or CAP_SYS_ADMIN in the caller's user namespace.
pub fn set_mode_filter(program: &[libc::sock_filter], flags: u64) -> SysResult<Option<OwnedFd>> {
    let len = u16::try_from(program.len())
        .map_err(|_| SysError::new("seccomp", "SECCOMP_SET_MODE_FILTER", Errno::E2BIG))?;
    let prog = libc::sock_fprog { len, filter: program.as_ptr().cast_mut() };
    // SAFETY: the kernel copies `prog` and the `len` instructions it points to.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if ret < 0 {
        return Err(SysError::new("seccomp", "SECCOMP_SET_MODE_FILTER", Errno::last()));
    }
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
        return Ok(None);
    }
    // SAFETY: with NEW_LISTENER the result is a new descriptor we own.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as i32) }))
}

/// Whether the running kernel accepts filter flag `flag`.
///
/// The kernel checks the flags before it reads the program: a null program fails with
/// EFAULT for known flags and EINVAL for unknown ones, and installs nothing either way.
pub fn flag_supported(flag: u64) -> bool {
    // SAFETY: a null program is never dereferenced successfully; nothing is installed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flag,
            std::ptr::null::<u8>(),
        )
    };
    ret < 0 && Errno::last() == Errno::EFAULT
}

/// memfd_create(2) with MFD_CLOEXEC: an anonymous file.
pub fn memfd(name: &std::ffi::CStr) -> SysResult<OwnedFd> {
    // SAFETY: `name` is NUL-terminated; the result is a new descriptor we own.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(SysError::new("memfd_create", name.to_string_lossy(), Errno::last()));
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
