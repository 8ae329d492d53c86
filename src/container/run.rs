//! `run`: create + start, and in the foreground wait for the container (forwarding signals)
//! and delete it, returning its exit status.

use nix::unistd::Pid;

use super::create::{create_with_mask, CreateOptions};
use super::start::release;
use crate::logging;
use crate::process::signals::{block_all, restore, wait_forwarding};
use crate::state::{ContainerId, StateError, StateStore};
use crate::Error;

/// How `run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// `--detach`: the container runs on.
    Detached,
    /// The container exited with this shell-style status (128+N when killed by N).
    Exited(i32),
}

/// `berth run [--detach] ID`.
pub fn run(
    store: &StateStore,
    id: &str,
    opts: &CreateOptions,
    detach: bool,
) -> Result<RunOutcome, Error> {
    if !detach {
        crate::process::signals::become_subreaper()?;
    }
    let mask = block_all()?;
    let result = run_blocked(store, id, opts, detach, &mask);
    restore(&mask)?;
    result
}

fn run_blocked(
    store: &StateStore,
    id: &str,
    opts: &CreateOptions,
    detach: bool,
    mask: &nix::sys::signal::SigSet,
) -> Result<RunOutcome, Error> {
    let keeps_console = !detach && opts.console_socket.is_none();
    let created = create_with_mask(store, id, opts, mask, keeps_console)?;
    let pid = Pid::from_raw(created.state.pid);
    if let Err(err) = release(&created.dir, &created.state) {
        remove_after_failure(created.dir, pid, &created.state);
        return Err(err);
    }
    logging::phase("start");
    if detach {
        return Ok(RunOutcome::Detached);
    }
    // Let `state`, `kill` and `delete --force` in while the container runs.
    drop(created.dir);
    let code = wait_forwarding(pid, created.console.map(crate::tty::Proxy::new))?;
    logging::phase("container running");
    let id = ContainerId::parse(id)?;
    match store.open(&id) {
        Ok(dir) => {
            let state = dir.load()?;
            super::delete::remove(dir, &state)?;
        }
        Err(StateError::NotFound(_)) => {}
        Err(err) => return Err(err.into()),
    }
    logging::phase("delete");
    Ok(RunOutcome::Exited(code))
}

fn remove_after_failure(dir: crate::state::ContainerDir, pid: Pid, state: &crate::state::State) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
    if let Some(cgroup) = crate::cgroups::Cgroup::from_paths(&state.cgroup_paths) {
        let _ = cgroup.remove_created(&state.cgroup_created);
    }
    let _ = dir.remove();
}
