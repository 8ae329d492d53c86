//! `run`: create + start, and in the foreground wait for the container (forwarding signals)
//! and delete it, returning its exit status.

use std::os::fd::AsFd;

use nix::unistd::Pid;

use super::create::{create_with_mask, CreateOptions};
use super::start::release;
use crate::process::signals::{block_all, restore, wait_forwarding};
use crate::state::{ContainerId, StateError, StateStore};
use crate::trace;
use crate::Error;

/// How `run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// `--detach`: the container runs on.
    Detached,
    /// The container exited with this shell-style status (128+N when killed by N).
    Exited(i32),
}

/// `run`'s own flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunFlags {
    /// `--detach`: return once the container runs.
    pub detach: bool,
    /// `--keep`: in the foreground, leave the stopped container for `delete` (its state,
    /// cgroup and poststop hooks) instead of removing it.
    pub keep: bool,
    /// `--no-subreaper`: do not become the reaper of orphaned container processes, unless
    /// the foreground wait needs it (an init started in two stages is a grandchild).
    pub no_subreaper: bool,
}

/// `berth run [--detach] [--keep] [--no-subreaper] ID`.
pub fn run(
    store: &StateStore,
    id: &str,
    opts: &CreateOptions,
    flags: RunFlags,
) -> Result<RunOutcome, Error> {
    if !flags.detach && needs_subreaper(opts, flags)? {
        crate::process::signals::become_subreaper()?;
    }
    let mask = block_all()?;
    let result = run_blocked(store, id, opts, flags, &mask);
    restore(&mask)?;
    let (outcome, ready) = result?;
    // With the caller's signals back: a `run --detach` waiting for READY=1 stays killable.
    if let Some(ReadyWait { relay, init, pid }) = ready {
        super::start::await_ready(relay, init.as_fd(), pid)?;
    }
    Ok(outcome)
}

/// A detached run's wait for the container's READY=1, done once signals are unblocked.
struct ReadyWait {
    relay: crate::notify::Relay,
    init: std::os::fd::OwnedFd,
    pid: i32,
}

/// Whether the foreground `run` becomes a subreaper: always, except with `--no-subreaper`
/// when its init is its own child (read from the config, only for that flag).
fn needs_subreaper(opts: &CreateOptions, flags: RunFlags) -> Result<bool, Error> {
    if !flags.no_subreaper {
        return Ok(true);
    }
    Ok(crate::process::init_is_grandchild(&crate::spec::load(&opts.bundle)?))
}

fn run_blocked(
    store: &StateStore,
    id: &str,
    opts: &CreateOptions,
    flags: RunFlags,
    mask: &nix::sys::signal::SigSet,
) -> Result<(RunOutcome, Option<ReadyWait>), Error> {
    let detach = flags.detach;
    let keeps_console = !detach && opts.console_socket.is_none();
    let mut created = create_with_mask(store, id, opts, mask, keeps_console)?;
    let pid = Pid::from_raw(created.state.pid);
    let host = crate::notify::host_socket();
    let released = match release(&created.dir, &created.state, host.as_deref()) {
        Ok(released) => released,
        Err(err) => {
            remove_after_failure(created.dir, pid, &created.state, created.systemd.as_mut());
            return Err(err);
        }
    };
    trace::mark("start");
    if detach {
        let ready = (released.relay).map(|relay| ReadyWait {
            relay,
            init: released.init,
            pid: created.state.pid,
        });
        return Ok((RunOutcome::Detached, ready));
    }
    // Let `state`, `kill` and `delete --force` in while the container runs; the init's
    // pidfd is not needed either: the wait below reaps the init, the relay included.
    drop(created.dir);
    drop(released.init);
    let mut systemd = created.systemd;
    if let Some(manager) = systemd.as_mut() {
        manager.idle();
    }
    let console = created.console.map(crate::tty::Proxy::new);
    let code = wait_forwarding(pid, console, released.relay)?;
    trace::mark("container running");
    if flags.keep {
        return Ok((RunOutcome::Exited(code), None));
    }
    let id = ContainerId::parse(id)?;
    match store.open(&id) {
        Ok(dir) => {
            let state = dir.load()?;
            super::delete::remove(dir, &state, systemd.as_mut())?;
        }
        Err(StateError::NotFound(_)) => {}
        Err(err) => return Err(err.into()),
    }
    trace::mark("delete");
    Ok((RunOutcome::Exited(code), None))
}

/// Undoes a created container whose start failed: its init, its unit, its cgroup and state.
fn remove_after_failure(
    dir: crate::state::ContainerDir,
    pid: Pid,
    state: &crate::state::State,
    systemd: Option<&mut crate::cgroups::systemd::Manager>,
) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
    if let Some(unit) = &state.systemd_unit {
        let _ = crate::cgroups::systemd::stop(unit, systemd);
    }
    if let Ok(Some((cgroup, created))) = super::recorded_cgroup(state) {
        let _ = cgroup.remove_created(created);
    }
    let _ = dir.remove();
}
