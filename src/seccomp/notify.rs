//! SCMP_ACT_NOTIFY: the listener a notifying filter returns, handed with the container
//! process state to the seccomp agent at `listenerPath`, as the runtime spec describes.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde::Serialize;

use super::{Filter, SeccompError};

impl Filter {
    /// Sends the listener and the container process state to the agent at `listenerPath`,
    /// as the runtime spec describes: one connection, one message, the fd as SCM_RIGHTS.
    ///
    /// `state` is the container's state (status `creating`); `pid` the process whose
    /// listener it is.
    pub fn send_listener(
        &self,
        listener: BorrowedFd,
        pid: i32,
        state: &impl Serialize,
    ) -> Result<(), SeccompError> {
        let Some(path) = &self.listener_path else { return Ok(()) };
        let message = ProcessState {
            oci_version: crate::OCI_VERSION,
            fds: ["seccompFd"],
            pid,
            metadata: &self.metadata,
            state,
        };
        let bytes = serde_json::to_vec(&message).expect("the state always serializes");
        let io = |source| SeccompError::Listener { path: path.clone(), source };
        let stream = UnixStream::connect(path)
            .map_err(|source| SeccompError::Connect { path: path.clone(), source })?;
        let fds = [listener.as_raw_fd()];
        sendmsg::<()>(
            stream.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|errno| io(errno.into()))?;
        Ok(())
    }
}

/// The "container process state" the runtime spec sends to a seccomp agent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProcessState<'a, S: Serialize> {
    oci_version: &'a str,
    fds: [&'a str; 1],
    pid: i32,
    #[serde(skip_serializing_if = "str::is_empty")]
    metadata: &'a str,
    state: &'a S,
}
