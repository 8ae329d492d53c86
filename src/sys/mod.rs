//! Thin syscall wrappers. Each names the syscall (and the file it acted on) in its error.
//! This module imports nothing of berth.

use nix::errno::Errno;

pub mod bpf;
pub mod dbus;
pub mod exec;
pub mod file;
pub mod idmap_helper;
pub mod init;
pub mod mount;
pub mod mount_api;
pub mod netlink;
pub mod nsfs;
pub mod numa;
pub mod procfs;

/// A failed system call: which call, on what, and the errno.
#[derive(Debug, thiserror::Error)]
#[error("{call} {target}")]
pub struct SysError {
    /// The syscall's name, e.g. `mount` or `pivot_root`.
    pub call: &'static str,
    /// What it acted on (a path, a pid, a namespace); may be empty.
    pub target: String,
    /// The kernel's answer.
    #[source]
    pub errno: Errno,
}

impl SysError {
    /// Builds the error for `call` on `target` from `errno`.
    pub fn new(call: &'static str, target: impl Into<String>, errno: Errno) -> Self {
        SysError { call, target: target.into(), errno }
    }
}

/// Shorthand for results of syscall wrappers.
pub type SysResult<T> = Result<T, SysError>;

pub mod process;
pub mod seccomp;
pub mod socket;
pub mod tty;

/// Attaches the syscall name and its target to a failed `nix` call.
pub trait SysContext<T> {
    /// Maps the errno of a failed `call` on `target` into a [`SysError`].
    fn sys(self, call: &'static str, target: impl std::fmt::Display) -> SysResult<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn sys(self, call: &'static str, target: impl std::fmt::Display) -> SysResult<T> {
        self.map_err(|errno| SysError::new(call, target.to_string(), errno))
    }
}
