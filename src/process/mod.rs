//! The container process: clone into the init, the parent↔init protocol, the init steps.

pub mod activation;
mod bind_sources;
pub mod exec;
pub mod init;
pub mod shim;
pub mod signals;
pub mod spawn;
pub mod sync;

/// A failure while creating or driving the container process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A syscall in the runtime (parent) side failed.
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    /// The init (or an exec'd process) reported a failed step; `chain` is its whole cause chain.
    #[error("container process: {}", chain.join(": "))]
    Init {
        /// The step's message, then each cause.
        chain: Vec<String>,
    },
    /// The init exited before reporting ready or failed.
    #[error("container process exited unexpectedly ({status})")]
    InitExited {
        /// How it ended.
        status: String,
    },
    /// The parent's own setup of the clone (e.g. cgroup placement) failed.
    #[error("setting up the container process")]
    Setup(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The sync protocol broke.
    #[error("sync with the container process")]
    Sync(#[source] sync::SyncError),
}
