//! `kill`: signal the init (or, with `--all`, every process in the container's cgroup).

use nix::unistd::Pid;

use super::{cgroup_of, signal_init, still_running};
use crate::cgroups::Cgroup;
use crate::state::{ContainerId, StateStore};
use crate::sys::process::kill_raw;
use crate::Error;

/// `berth kill [--all] ID SIGNAL`.
pub fn kill(store: &StateStore, id: &str, signal: i32, all: bool) -> Result<(), Error> {
    let id = ContainerId::parse(id)?;
    let state = store.read(&id)?;
    if all {
        // Processes may outlive an init that had no pid namespace: --all reaches them too.
        return signal_all(&cgroup_of(&state)?, signal);
    }
    if !still_running(&state) {
        return Err(Error::WrongStatus {
            id: state.id,
            status: "stopped".into(),
            reason: "container not running",
        });
    }
    signal_init(&state, signal)
}

/// Signals every process of `cgroup`, frozen meanwhile so that none forks past the list.
/// A SIGKILL leaves the cgroup thawed, so the processes can die.
pub(super) fn signal_all(cgroup: &Cgroup, signal: i32) -> Result<(), Error> {
    let was_frozen = cgroup.is_frozen();
    if !was_frozen {
        cgroup.freeze(true)?;
    }
    let result = signal_pids(cgroup, signal);
    if !was_frozen || signal == libc::SIGKILL {
        cgroup.freeze(false)?;
    }
    result
}

/// The raw number goes to kill(2): converting it to nix's `Signal` turned every real-time
/// signal (SIGRTMIN+3, which systemd in a container takes as "halt") into signal 0.
fn signal_pids(cgroup: &Cgroup, signal: i32) -> Result<(), Error> {
    for pid in cgroup.pids()? {
        match kill_raw(Pid::from_raw(pid), signal) {
            Err(err) if err.errno == nix::errno::Errno::ESRCH => {}
            other => other?,
        }
    }
    Ok(())
}
