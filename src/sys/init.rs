//! Calls only the container's init makes that nix does not wrap: the session keyring,
//! the NIS domain name, resource limits, and leaving the clone.

use nix::errno::Errno;

use super::{SysError, SysResult};

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring of `name`. A kernel
/// built without keyrings (ENOSYS) has nothing to isolate: that is no error.
pub fn join_session_keyring(name: &std::ffi::CStr) -> SysResult<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl reads one NUL-terminated name.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    match Errno::result(ret) {
        Ok(_) | Err(Errno::ENOSYS) => Ok(()),
        Err(errno) => Err(SysError::new("keyctl(JOIN_SESSION_KEYRING)", "", errno)),
    }
}

/// setdomainname(2).
pub fn set_domainname(name: &str) -> SysResult<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, which the call only reads.
    if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } < 0 {
        return Err(SysError::new("setdomainname", name, Errno::last()));
    }
    Ok(())
}

/// setrlimit(2) of `resource` to `soft`/`hard`; `what` names it in the error (made only
/// on failure).
pub fn set_rlimit(
    resource: i32,
    soft: u64,
    hard: u64,
    what: impl FnOnce() -> String,
) -> SysResult<()> {
    let rlim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: setrlimit reads one rlimit struct.
    if unsafe { libc::setrlimit(resource as _, &rlim) } < 0 {
        let errno = Errno::last();
        return Err(SysError::new("setrlimit", what(), errno));
    }
    Ok(())
}

/// _exit(2): ends a clone of the runtime without running the runtime's destructors or
/// atexit handlers (they belong to the parent, whose memory the clone shares a copy of).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process; it touches none of its memory.
    unsafe { libc::_exit(code) }
}
