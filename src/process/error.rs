//! The one error of the parent side of process creation: everything `spawn` and `start`
//! report about the container process, from the socket to the init's own failed step.

use super::sync::SyncError;

/// A cause from the runtime's own work for the clone (a caller's hook such as the cgroup
/// placement, the id maps), kept whole.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The name of the last step, the execve of the program (the init's, or the exec shim's):
/// the first message of its failure's chain, which decides the exit code.
pub const EXECUTING: &str = "executing the process";

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
    /// The parent's own setup of the clone (id maps, oomScoreAdj, the caller's hooks) failed.
    #[error("setting up the container process")]
    Setup(#[source] BoxError),
    /// The sync protocol broke.
    #[error("sync with the container process")]
    Sync(#[source] SyncError),
}

impl From<SyncError> for ProcessError {
    /// The init's `Failed` report is its own failure; anything else of the socket is the
    /// protocol's.
    fn from(err: SyncError) -> Self {
        match err {
            SyncError::InitFailed { chain } => ProcessError::Init { chain },
            other => ProcessError::Sync(other),
        }
    }
}

impl ProcessError {
    /// A failure of the runtime's setup for the clone.
    pub fn setup(cause: impl Into<BoxError>) -> Self {
        ProcessError::Setup(cause.into())
    }

    /// The exit code: 127 and 126 when the container's program could not be executed (not
    /// found, or any other execve failure, as a shell and runc's callers expect), else 1.
    pub fn exit_code(&self) -> i32 {
        let ProcessError::Init { chain } = self else { return 1 };
        if chain.first().is_none_or(|step| step != EXECUTING) {
            return 1;
        }
        // The shim's execve failure is in runc's words; the init's own in errno names.
        let not_found =
            |m: &String| m.starts_with("ENOENT") || m.ends_with("no such file or directory");
        if chain.iter().any(not_found) {
            127
        } else {
            126
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(chain: &[&str]) -> ProcessError {
        ProcessError::Init { chain: chain.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn exit_codes_follow_the_exec_failure() {
        let gone = init(&[EXECUTING, "exec /bin/gone: no such file or directory"]);
        assert_eq!(gone.exit_code(), 127);
        assert_eq!(
            init(&[EXECUTING, "execveat exec shim", "ENOENT: No such file"]).exit_code(),
            127
        );
        assert_eq!(init(&[EXECUTING, "exec /x: permission denied"]).exit_code(), 126);
        assert_eq!(init(&["mounting /proc", "no such file or directory"]).exit_code(), 1);
        assert_eq!(ProcessError::InitExited { status: "exit status 1".into() }.exit_code(), 1);
    }

    #[test]
    fn a_failed_report_is_the_inits_error() {
        let err: ProcessError =
            SyncError::InitFailed { chain: vec!["a".into(), "b".into()] }.into();
        assert_eq!(err.to_string(), "container process: a: b");
        let err: ProcessError = SyncError::Closed.into();
        assert!(matches!(err, ProcessError::Sync(SyncError::Closed)), "{err:?}");
        assert_eq!(
            crate::causes::one_line(&err),
            "sync with the container process: the other side closed the sync socket"
        );
    }
}
