//! The top-level error and helpers to flatten a cause chain onto one line.

use std::borrow::Cow;
use std::error::Error as StdError;

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
    Lsm(#[from] crate::lsm::LsmError),
    /// `linux.intelRdt` on a host that cannot apply it.
    #[error(transparent)]
    Rdt(#[from] crate::resctrl::RdtError),
    /// A network device could not be moved into the container.
    #[error(transparent)]
    NetDevice(#[from] crate::netdev::NetDevError),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    /// The systemd cgroup driver failed.
    #[error(transparent)]
    Systemd(#[from] crate::cgroups::systemd::SystemdError),
    /// Creating or running the container process failed.
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
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
    Fault(#[from] crate::fault::Injected),
    /// An invalid argument given on the command line.
    #[error("{0}")]
    Usage(String),
}

/// The most characters one message of an error chain keeps: a config value, a hook's
/// stderr or a list echoed in an error must not make a line of hundreds of kilobytes.
pub const MAX_MESSAGE: usize = 400;

/// `text` if it has at most `max` characters; otherwise its start and its end (where serde
/// and the kernel put the position and the cause) around a note of how many were left out.
pub fn bounded(text: &str, max: usize) -> Cow<'_, str> {
    let count = text.chars().count();
    if count <= max {
        return Cow::Borrowed(text);
    }
    let (head, tail) = (max * 3 / 4, max / 4);
    let left_out = count - head - tail;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(count - tail).collect();
    Cow::Owned(format!("{start}… [{left_out} characters left out] …{end}"))
}

impl Error {
    /// The exit code for this error: 127 and 126 when the container's program could not be
    /// executed (not found, or any other execve failure, as a shell and runc's callers
    /// expect), else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Process(crate::process::ProcessError::Init { chain })
                if chain.first().is_some_and(|step| step == "executing the process") =>
            {
                // The shim's execve failure is in runc's words; the init's own in errno names.
                let not_found = |m: &String| {
                    m.starts_with("ENOENT") || m.ends_with("no such file or directory")
                };
                if chain.iter().any(not_found) {
                    127
                } else {
                    126
                }
            }
            _ => 1,
        }
    }
}

/// The messages of `err` and each of its sources, outermost first, with empty ones and
/// messages repeated verbatim by their wrapper dropped, each at most [`MAX_MESSAGE`]
/// characters (the one place error texts are bounded).
pub fn chain(err: &(dyn StdError + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut full: Option<String> = None;
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let msg = e.to_string();
        let repeated = full.as_ref().is_some_and(|prev| prev.ends_with(&msg));
        if !msg.is_empty() && !repeated {
            out.push(bounded(&msg, MAX_MESSAGE).into_owned());
            full = Some(msg);
        }
        cur = e.source();
    }
    out
}

/// `err` and all its causes on one line: `a: b: c`.
pub fn one_line(err: &(dyn StdError + 'static)) -> String {
    chain(err).join(": ").replace('\n', " ")
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
