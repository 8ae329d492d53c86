//! The container process: clone into the init, the parent↔init protocol, the init steps.

/// A failure while creating or driving the container process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A syscall in the runtime (parent) side failed.
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    /// The init reported a failed step; `chain` is its whole cause chain.
    #[error("container init: {}", chain.join(": "))]
    Init {
        /// The step's message, then each cause.
        chain: Vec<String>,
    },
}
