//! `start`: release the init blocked on exec.fifo.

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::state::{ContainerDir, ContainerId, State, StateStore, Status};
use crate::sys::SysContext;
use crate::Error;

/// `berth start`: the container's program runs.
pub fn start(store: &StateStore, id: &str) -> Result<(), Error> {
    let dir = store.open(&ContainerId::parse(id)?)?;
    let state = dir.load()?;
    release(&dir, &state)
}

/// Writes the byte the init waits for into exec.fifo and removes the fifo (the container is
/// running from then on). Checks the status first, under the directory's lock.
pub(super) fn release(dir: &ContainerDir, state: &State) -> Result<(), Error> {
    let fifo_path = dir.fifo_path();
    let status = super::current_status(state, &fifo_path);
    if status != Status::Created {
        let reason = match status {
            Status::Stopped => "cannot start a container that has stopped",
            _ => "cannot start a container that is not created",
        };
        return Err(Error::WrongStatus {
            id: state.id.clone(),
            status: status_name(status),
            reason,
        });
    }
    // The init holds the fifo open read-write and blocks reading it. Non-blocking, the
    // open fails with ENXIO instead of waiting when there is no init left to read.
    let fd = match nix::fcntl::open(
        &fifo_path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Err(nix::errno::Errno::ENXIO) => return Err(init_gone(state)),
        other => other.sys("open", fifo_path.display())?,
    };
    nix::unistd::write(&fd, b"0").sys("write", fifo_path.display())?;
    wait_for_exec(&fd, &fifo_path)?;
    std::fs::remove_file(&fifo_path).map_err(|source| Error::Io {
        what: "removing",
        path: fifo_path,
        source,
    })?;
    super::run_hooks_warning_only("poststart", &state.poststart, state, Status::Running);
    Ok(())
}

/// Blocks until the init no longer holds the fifo: its descriptor is close-on-exec, so
/// that happens when it has run its startContainer hooks and executed the program (or
/// died). poststart hooks and `start`'s return come after, as the spec orders.
fn wait_for_exec(fifo: &std::os::fd::OwnedFd, path: &std::path::Path) -> Result<(), Error> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    loop {
        // No events asked for: a writer's POLLERR (no reader left) is always reported.
        let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => {
                return Err(
                    crate::sys::SysError::new("poll", path.display().to_string(), errno).into()
                )
            }
            Ok(_)
                if fds[0]
                    .revents()
                    .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)) =>
            {
                return Ok(())
            }
            Ok(_) => continue,
        }
    }
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
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
