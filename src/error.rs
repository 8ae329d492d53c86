//! The top-level error. Flattening a cause chain onto one line lives in [`crate::causes`]
//! (a leaf every layer may use); its helpers are re-exported here.

pub use crate::causes::{bounded, chain, one_line, MAX_MESSAGE};

/// Every failure a berth operation can report; each variant keeps its cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json is missing, unreadable or invalid.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// The state store refused or failed.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A syscall in the runtime process failed.
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    /// The seccomp profile could not be compiled or its listener not handed over.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// The runtime's part of the container's filesystem (id-mapped trees) failed.
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    /// A security label the host cannot apply.
    #[error(transparent)]
    Lsm(#[from] crate::host::lsm::LsmError),
    /// `linux.intelRdt` on a host that cannot apply it.
    #[error(transparent)]
    Rdt(#[from] crate::host::resctrl::RdtError),
    /// A network device could not be moved into the container.
    #[error(transparent)]
    NetDevice(#[from] crate::host::netdev::NetDevError),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// The systemd cgroup driver failed.
    #[error(transparent)]
    Systemd(#[from] crate::cgroups::systemd::SystemdError),
    /// Creating or running the container process failed.
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    /// The sd_notify relay (`NOTIFY_SOCKET`) failed.
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    /// A hook whose failure fails the operation (e.g. poststart, which stops the container).
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    /// Checkpoint or restore through criu failed.
    #[error(transparent)]
    Criu(#[from] crate::checkpoint::CriuError),
    /// The operation is not valid for the container's current status.
    #[error("container {id} is {status}: {reason}")]
    WrongStatus {
        /// Container id.
        id: String,
        /// Its status now.
        status: String,
        /// Why the operation needs another status.
        reason: &'static str,
    },
    /// A file the operation needs could not be read or written.
    #[error("{what} {path}")]
    Io {
        /// What was being done, e.g. "writing pid file".
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A flag or feature the CLI accepts but berth does not implement yet.
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
    /// A test made a fault-injection point fail (only with the `fault-injection` feature).
    #[error(transparent)]
    Fault(#[from] crate::trace::Injected),
    /// An invalid argument given on the command line.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The exit code for this error: 127 and 126 when the container's program could not be
    /// executed (see [`crate::process::ProcessError::exit_code`]), else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Process(err) => err.exit_code(),
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn long_messages_keep_their_start_and_end() {
        assert_eq!(bounded("short", 10), "short");
        let long = format!("path: {}end", "x".repeat(1000));
        let cut = bounded(&long, 40);
        assert!(cut.starts_with("path: xxx"), "{cut}");
        assert!(cut.ends_with("xxxxxxxend"), "{cut}");
        assert!(cut.contains("[969 characters left out]"), "{cut}");
        let e = crate::spec::SpecError::Invalid { path: "a.b".into(), reason: "y".repeat(10_000) };
        assert!(one_line(&e).len() < 2 * MAX_MESSAGE, "{}", one_line(&e));
    }

    #[test]
    fn one_line_joins_causes() {
        let e = Error::Sys(crate::sys::SysError::new("mount", "/x/proc", Errno::EPERM));
        assert_eq!(one_line(&e), "mount /x/proc: EPERM: Operation not permitted");
    }
}
