//! `delete`: remove a stopped container; kill it first when created or `--force`d.

use std::time::Duration;

use super::start::status_name;
use super::{current_status, signal_init, wait_gone};
use crate::cgroups::Cgroup;
use crate::state::{ContainerId, StateError, StateStore, Status};
use crate::Error;

/// How long `delete` waits for a SIGKILLed init to die.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// `berth delete [--force] ID`.
pub fn delete(store: &StateStore, id: &str, force: bool) -> Result<(), Error> {
    let id = ContainerId::parse(id)?;
    let dir = store.open(&id)?;
    let state = match dir.load() {
        Ok(state) => state,
        // A create that died before writing state.json leaves only the directory.
        Err(StateError::Creating(_)) if force => return remove_half_created(dir),
        Err(err) => return Err(err.into()),
    };
    let cgroup = Cgroup::from_paths(&state.cgroup_paths);
    let status = current_status(&state, &dir.fifo_path());
    match status {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&state, cgroup.as_ref())?,
        _ if force => kill_and_wait(&state, cgroup.as_ref())?,
        _ => {
            return Err(Error::WrongStatus {
                id: state.id,
                status: status_name(status),
                reason: "cannot delete a container that is not stopped (use --force)",
            })
        }
    }
    remove(dir, &state)
}

/// Removes a stopped container's cgroup and directory, then runs its poststop hooks.
/// Without a pid namespace, processes can outlive the init; they go with the cgroup.
pub(super) fn remove(
    dir: crate::state::ContainerDir,
    state: &crate::state::State,
) -> Result<(), Error> {
    if let Some(cgroup) = Cgroup::from_paths(&state.cgroup_paths) {
        if !cgroup.pids()?.is_empty() {
            super::kill::signal_all(&cgroup, libc::SIGKILL)?;
        }
        cgroup.remove()?;
    }
    if let Some(group) = &state.intel_rdt_path {
        crate::resctrl::remove(group)?;
    }
    dir.remove()?;
    super::run_hooks_warning_only("poststop", &state.poststop, state, Status::Stopped);
    Ok(())
}

/// Removes what a `create` that died before writing state.json left: the processes in its
/// recorded cgroup (the init may be waiting on exec.fifo), the cgroup, the directory.
fn remove_half_created(dir: crate::state::ContainerDir) -> Result<(), Error> {
    if let Some(cgroup) = dir.load_cgroup()?.and_then(|paths| Cgroup::from_paths(&paths)) {
        // Not frozen first: the cgroup may be half made (no freezer directory yet), and
        // nothing in it was ever started, so only a create hook could fork meanwhile.
        for pid in cgroup.pids()? {
            let pid = nix::unistd::Pid::from_raw(pid);
            match nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(errno) => {
                    return Err(crate::sys::SysError::new("kill", pid.to_string(), errno).into())
                }
            }
        }
        cgroup.remove()?;
    }
    Ok(dir.remove()?)
}

fn kill_and_wait(state: &crate::state::State, cgroup: Option<&Cgroup>) -> Result<(), Error> {
    signal_init(state, libc::SIGKILL)?;
    // A frozen process cannot act on SIGKILL until it is thawed.
    if let Some(cgroup) = cgroup.filter(|c| c.is_frozen()) {
        cgroup.freeze(false)?;
    }
    if wait_gone(state, KILL_WAIT) {
        Ok(())
    } else {
        Err(Error::WrongStatus {
            id: state.id.clone(),
            status: "running".into(),
            reason: "the init did not die within 10 s of SIGKILL",
        })
    }
}
