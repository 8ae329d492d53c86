//! `start`: release the init blocked on exec.fifo.

use std::io::Read;
use std::os::fd::AsFd;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use super::still_running;
use crate::state::{ContainerDir, ContainerId, State, StateStore, Status};
use crate::sys::SysContext;
use crate::Error;

/// `berth start`: the container's program runs.
pub fn start(store: &StateStore, id: &str) -> Result<(), Error> {
    let dir = store.open(&ContainerId::parse(id)?)?;
    let state = dir.load()?;
    release(&dir, &state)
}

/// Opens exec.fifo, waits for the init's byte, and removes the fifo (the container is
/// running from then on). Checks the status first, under the directory's lock.
pub(super) fn release(dir: &ContainerDir, state: &State) -> Result<(), Error> {
    let fifo_path = dir.fifo_path();
    let status = crate::state::status(state, &fifo_path);
    if status != Status::Created {
        let reason = match status {
            Status::Stopped => "cannot start a container that has stopped",
            _ => "cannot start a container that is not created",
        };
        return Err(Error::WrongStatus { id: state.id.clone(), status: status_name(status), reason });
    }
    // Non-blocking: a dead init would otherwise leave us waiting for a writer forever.
    let fd = nix::fcntl::open(&fifo_path, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty())
        .sys("open", fifo_path.display())?;
    let mut fifo = std::fs::File::from(fd);
    loop {
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(100u16)).sys("poll", fifo_path.display())?;
        if ready > 0 {
            let mut byte = [0u8; 1];
            match fifo.read(&mut byte) {
                Ok(1) => break,
                Ok(_) => return Err(init_gone(state)),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(source) => return Err(Error::Io { what: "reading", path: fifo_path, source }),
            }
        } else if !still_running(state) {
            return Err(init_gone(state));
        }
    }
    std::fs::remove_file(&fifo_path).map_err(|source| Error::Io { what: "removing", path: fifo_path, source })
}

fn init_gone(state: &State) -> Error {
    Error::WrongStatus {
        id: state.id.clone(),
        status: "stopped".into(),
        reason: "the container init exited before it could start",
    }
}

/// runc's lowercase status word.
pub(super) fn status_name(status: Status) -> String {
    serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}
