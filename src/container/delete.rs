//! `delete`: remove a stopped container; kill it first when created or `--force`d.

use std::time::Duration;

use super::{current_status, require, signal_init, wait_gone};
use crate::cgroups::Cgroup;
use crate::state::{process_start_time, ContainerId, Op, StateError, StateStore, Status};
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
    let status = current_status(&state, &dir.fifo_path());
    require(&state, status, Op::Delete { force })?;
    if status != Status::Stopped {
        kill_and_wait(&state)?;
    }
    remove(dir, &state, None)
}

/// Removes a stopped container's cgroup directories and its state directory, then runs its
/// poststop hooks. Without a pid namespace, processes can outlive the init; in a cgroup
/// berth made they go with it, in any other they are left (they cannot be told from the
/// processes that were there before). `systemd`: this invocation's connection to systemd,
/// if it has one (a foreground `run`).
pub(super) fn remove(
    dir: crate::state::ContainerDir,
    state: &crate::state::State,
    systemd: Option<&mut crate::cgroups::systemd::Manager>,
) -> Result<(), Error> {
    if let Some((cgroup, created)) = super::recorded_cgroup(state)? {
        if cgroup.is_owned(created) && !cgroup.pids()?.is_empty() {
            super::kill::signal_all(&cgroup, libc::SIGKILL)?;
        }
        // With its processes gone the unit stops at once (systemd removes its cgroup).
        if let Some(unit) = &state.systemd_unit {
            crate::cgroups::systemd::stop(unit, systemd)?;
        }
        cgroup.remove_created(created)?;
    }
    if let Some(group) = &state.intel_rdt_path {
        crate::host::resctrl::remove(group)?;
    }
    dir.remove()?;
    super::run_hooks_warning_only("poststop", &state.poststop, state, Status::Stopped);
    Ok(())
}

/// Removes what a `create` that died before writing state.json left: its init (which may
/// be waiting on exec.fifo) and, in a cgroup berth made, every process there; the cgroup
/// directories berth made; the directory.
fn remove_half_created(dir: crate::state::ContainerDir) -> Result<(), Error> {
    if let Some(record) = dir.load_cgroup()? {
        let cgroup = Cgroup::from_paths(&record.paths);
        let mut pids = Vec::new();
        if let Some(cgroup) = cgroup.as_ref() {
            if cgroup.is_owned(&record.created) {
                pids = cgroup.pids()?;
                // On v1 the init joins the cgroup itself: it may have died before that.
                let same = |&(pid, start): &(i32, u64)| process_start_time(pid) == Some(start);
                pids.extend(record.init.filter(same).map(|(pid, _)| pid));
            } else if let Some((init, start)) = record.init {
                pids = super::kill::container_pids(Some(cgroup), init, start)?;
            }
        }
        // Not frozen first: the cgroup may be half made (no freezer directory yet), and
        // nothing in it was ever started, so only a create hook could fork meanwhile.
        for pid in pids {
            let pid = nix::unistd::Pid::from_raw(pid);
            match nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(errno) => {
                    return Err(crate::sys::SysError::new("kill", pid.to_string(), errno).into())
                }
            }
        }
        if let Some(unit) = &record.systemd_unit {
            crate::cgroups::systemd::stop(unit, None)?;
        }
        if let Some(cgroup) = cgroup {
            cgroup.remove_created(&record.created)?;
        }
    }
    Ok(dir.remove()?)
}

/// SIGKILLs the container (in a cgroup berth did not make, the init's descendants first:
/// they cannot be found once it is gone) and waits for the init to die.
fn kill_and_wait(state: &crate::state::State) -> Result<(), Error> {
    // Proven once for the signals and the thaw.
    let recorded = super::recorded_cgroup(state)?;
    let owned = recorded.as_ref().filter(|(cgroup, created)| cgroup.is_owned(created));
    match &recorded {
        Some(_) if owned.is_none() => {
            super::kill::signal_recorded(state, recorded.as_ref(), libc::SIGKILL)?
        }
        _ => signal_init(state, libc::SIGKILL)?,
    }
    // A frozen process cannot act on SIGKILL until it is thawed.
    if let Some((cgroup, _)) = owned.filter(|(cgroup, _)| cgroup.is_frozen()) {
        cgroup.freeze(false)?;
    }
    if wait_gone(state, KILL_WAIT) {
        Ok(())
    } else {
        Err(Error::WrongStatus {
            id: state.id.clone(),
            status: Status::Running.to_string(),
            reason: "the init did not die within 10 s of SIGKILL",
        })
    }
}
