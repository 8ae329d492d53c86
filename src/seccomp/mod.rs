//! seccomp: `linux.seccomp` compiled by libseccomp into a classic-BPF program, installed in
//! the container's process, and the notify listener handed to the agent at `listenerPath`.
//!
//! Compiling happens in the runtime before the clone, so a profile libseccomp refuses fails
//! `create` (or `exec`) before anything exists. Installing is one seccomp(2) call with the
//! flags berth chooses itself (libseccomp's own load would also set no_new_privs), so the
//! init can install it as late as its privileges allow.
//!
//! By concern: `arch` (the architecture table: spec names, libseccomp's and the kernel's
//! tokens, and the other per-architecture facts berth relies on), `features` (what berth
//! applies and the kernel and libseccomp support, for `features` and validation), `compile`
//! (profile → program), `cache` (compiled programs kept under the state root), `notify` (the
//! listener handed to the agent) and `enosys` (the prologue for syscalls newer than the
//! profile).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::sys::SysError;

pub mod arch;
mod cache;
mod compile;
mod enosys;
mod features;
mod notify;

pub use arch::{arch_usable, known_archs};
pub use cache::{compile_cached, CACHE_DIR};
pub use compile::compile;
pub use features::{flag_supported, library_version, syscall_known, ACTIONS, FLAGS, OPERATORS};

/// Why a profile cannot be compiled or its listener not handed over.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// libseccomp refused part of the profile.
    #[error("{path}: {what}")]
    Libseccomp {
        /// The config path, e.g. `linux.seccomp.syscalls[3]`.
        path: String,
        /// What berth asked of libseccomp.
        what: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// The kernel does not know a filter flag the profile asks for.
    #[error("linux.seccomp.flags: {0} is not supported by this kernel")]
    UnsupportedFlag(&'static str),
    /// The program is longer than the kernel accepts (BPF_MAXINSNS).
    #[error(
        "linux.seccomp: the compiled filter has {0} instructions, more than the kernel's 4096"
    )]
    TooLong(usize),
    /// Exporting the program from libseccomp failed.
    #[error("reading the compiled seccomp program")]
    Export(#[source] std::io::Error),
    /// A syscall failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// Nothing accepts connections at `listenerPath`.
    #[error("failed to connect with the seccomp agent at linux.seccomp.listenerPath {path}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Sending to the agent at `listenerPath` failed.
    #[error("sending the listener to the seccomp agent at linux.seccomp.listenerPath {path}")]
    Listener {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A compiled profile, ready to be installed with one syscall.
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: u64,
    listener_path: Option<PathBuf>,
    metadata: String,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &self.flags)
            .field("listener_path", &self.listener_path)
            .finish()
    }
}

impl Filter {
    /// Whether installing returns a notify listener (some rule uses SCMP_ACT_NOTIFY).
    pub fn notifies(&self) -> bool {
        self.flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }

    /// `listenerPath`, when some rule notifies.
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    /// Installs the filter on the calling thread; the listener when [`Filter::notifies`].
    ///
    /// Needs no_new_privs or CAP_SYS_ADMIN. Every later syscall of the caller passes it.
    pub fn install(&self) -> Result<Option<OwnedFd>, SysError> {
        crate::sys::seccomp::set_mode_filter(&self.program, self.flags)
    }

    /// A function that installs this filter on the process that calls it, for a child of a
    /// fork to call before its execve (a startContainer hook). It copies the program now, so
    /// the child allocates nothing. Not for a notifying filter: the listener would be lost.
    pub fn installer(&self) -> std::sync::Arc<dyn Fn() -> std::io::Result<()> + Send + Sync> {
        let (program, flags) = (self.program.clone(), self.flags);
        std::sync::Arc::new(move || {
            crate::sys::seccomp::set_mode_filter(&program, flags)
                .map(drop)
                .map_err(|_| std::io::Error::last_os_error())
        })
    }
}
