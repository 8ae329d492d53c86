//! The one error of the parent side of process creation: everything `spawn` and `start`
//! report about the container process, from the socket to the init's own failed step.

use super::sync::SyncError;

/// The cause of a failed step on the clone's side (the first stage's, the init's), which
/// travels to the parent as the lines of its chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the runtime's own setup of the clone fails on: its writes for the clone and the
/// callbacks of [`SpawnOptions`](super::SpawnOptions). Each variant shows its cause as it
/// is (transparent), so the user reads the cause's own words after "setting up the
/// container process".
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A fault point of the runtime's setup failed (a `fault-injection` build).
    #[error(transparent)]
    Fault(#[from] crate::trace::Injected),
    /// The id maps of a new user namespace could not be written.
    #[error(transparent)]
    IdMaps(#[from] crate::namespaces::IdMapError),
    /// `process.oomScoreAdj` could not be written for the clone.
    #[error("process.oomScoreAdj")]
    OomScoreAdj(#[source] crate::sys::SysError),
    /// The systemd unit that holds the container's cgroup could not be started.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::systemd::SystemdError),
    /// The container's state (its cgroup record, the init's pid) could not be saved.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// A prestart or createRuntime hook failed.
    #[error(transparent)]
    Hooks(#[from] crate::hooks::HookError),
    /// The seccomp notify listener could not be handed to the agent.
    #[error(transparent)]
    SeccompListener(#[from] crate::seccomp::SeccompError),
    /// The clone could not be placed in its Intel RDT (resctrl) group.
    #[error(transparent)]
    Resctrl(#[from] crate::host::resctrl::RdtError),
}

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
    Setup(#[source] SetupError),
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
    pub fn setup(cause: impl Into<SetupError>) -> Self {
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
    fn a_setup_failure_reads_as_its_cause_and_keeps_it() {
        let source =
            crate::sys::SysError::new("write", "/proc/1/oom_score_adj", nix::errno::Errno::EACCES);
        let err = ProcessError::setup(SetupError::OomScoreAdj(source));
        let line = crate::causes::one_line(&err);
        assert!(
            line.starts_with("setting up the container process: process.oomScoreAdj: "),
            "{line}"
        );
        let setup = std::error::Error::source(&err).expect("the setup error");
        assert!(setup.source().is_some(), "the syscall error is kept");
        let hook = crate::hooks::HookError::Spawn {
            kind: "prestart",
            path: "/no/hook".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let shown = hook.to_string();
        let err = ProcessError::setup(hook);
        assert!(matches!(&err, ProcessError::Setup(SetupError::Hooks(_))), "{err:?}");
        // Transparent: the hook's own words follow the setup's.
        assert!(crate::causes::one_line(&err)
            .starts_with(&format!("setting up the container process: {shown}")));
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
