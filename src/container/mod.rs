//! Container operations: create, start, state, kill, delete, run, list. The CLI calls these;
//! they call the concern modules and return data, never printing.

mod cgroup_ops;
mod checkpoint;
mod create;
mod delete;
mod exec;
mod kill;
mod query;
mod restore;
mod rootless;
mod run;
mod start;

pub use cgroup_ops::{events, pause, pids, resume, stats, update, Event};
pub use checkpoint::checkpoint;
pub use create::{create, CreateOptions};
pub use delete::delete;
pub use exec::{exec, ExecFlags, ExecOptions, ExecOutcome, ExecProcess};
pub use kill::kill;
pub use query::{list, state, StateView};
pub use restore::{criu_hook, restore};
pub use run::{run, RunFlags, RunOutcome};
pub use start::start;

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::cgroups::Cgroup;
use std::path::{Path, PathBuf};

use crate::state::{process_start_time, CgroupPathCheck, Op, State, Status};

/// The cgroup recorded in `state`, its directories proven first ([`State::cgroup`]), with
/// the directories berth made; `None` without a cgroup (rootless, not delegated).
fn recorded_cgroup(state: &State) -> Result<Option<(Cgroup, &[PathBuf])>, crate::Error> {
    let proven = state.cgroup()?;
    Ok(Cgroup::from_paths(proven.paths).map(|cgroup| (cgroup, proven.created)))
}

/// The cgroup recorded in `state`, its own directories proven ([`State::cgroup_dirs`]): the
/// one a process `exec`ed into the container joins. `None` as for [`recorded_cgroup`].
fn joined_cgroup(state: &State) -> Result<Option<Cgroup>, crate::Error> {
    Ok(Cgroup::from_paths(state.cgroup_dirs()?))
}

/// The cgroup recorded in `state`, proven.
fn cgroup_of(state: &State) -> Result<Cgroup, crate::Error> {
    recorded_cgroup(state)?.map(|(cgroup, _)| cgroup).ok_or_else(|| crate::Error::WrongStatus {
        id: state.id.clone(),
        status: "without a cgroup".into(),
        reason: "rootless, the cgroup was not writable by its user (not delegated)",
    })
}

/// The cgroup recorded in `state`, proven, when berth made it (and so may freeze it).
fn owned_cgroup(state: &State) -> Result<Option<Cgroup>, crate::Error> {
    let recorded = recorded_cgroup(state)?;
    Ok(recorded.filter(|(cgroup, created)| cgroup.is_owned(created)).map(|(cgroup, _)| cgroup))
}

/// The status of `state` with `paused` for a live container whose cgroup is frozen (only
/// berth's own cgroups: berth never freezes another).
fn current_status(state: &State, fifo: &Path) -> Status {
    current_status_among(state, fifo, &mut CgroupPathCheck::default())
}

/// [`current_status`] with `check` kept for the next container (`list`): only the one
/// directory the freezer state is read from is proven, and only for a live container.
fn current_status_among(state: &State, fifo: &Path, check: &mut CgroupPathCheck) -> Status {
    crate::state::status(state, fifo, || {
        let freezer = state.freezer_cgroup(check);
        freezer.as_ref().and_then(Cgroup::from_paths).is_some_and(|cgroup| cgroup.is_frozen())
    })
}

/// Whether the process recorded in `state` is still that process (and not a zombie): one
/// read of /proc/<pid>/stat.
fn still_running(state: &State) -> bool {
    crate::state::alive(state)
}

/// `op` on the container of `state`, now `status`: the error it has always given when the
/// status refuses it.
fn require(state: &State, status: Status, op: Op) -> Result<(), crate::Error> {
    match status.refusal(op) {
        None => Ok(()),
        Some(reason) => Err(crate::Error::WrongStatus {
            id: state.id.clone(),
            status: status.to_string(),
            reason,
        }),
    }
}

/// `op`, which [`Op::needs_only_liveness`], on the container of `state`: refused only when
/// its init is gone, so one read of /proc/<pid>/stat decides.
fn require_alive(state: &State, op: Op) -> Result<(), crate::Error> {
    debug_assert!(op.needs_only_liveness(), "{op:?} needs the whole status");
    if still_running(state) {
        return Ok(());
    }
    require(state, Status::Stopped, op)
}

/// Waits until the process of `state` is gone (or a zombie), for at most `limit`: a pidfd
/// becomes readable when its process exits, so no polling loop is needed.
fn wait_gone(state: &State, limit: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let Ok(pidfd) = crate::sys::process::pidfd_open(Pid::from_raw(state.pid)) else {
        return !still_running(state);
    };
    // Checked after the pidfd is open, so it cannot refer to a reused pid unnoticed.
    if !still_running(state) {
        return true;
    }
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return !still_running(state),
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) if !left.is_zero() => continue,
            Err(_) => return !still_running(state),
        }
    }
}

/// Runs hooks whose failure the spec turns into a warning (poststart, poststop).
fn run_hooks_warning_only(
    kind: &'static str,
    hooks: &[crate::spec::Hook],
    state: &State,
    status: crate::state::Status,
) {
    if hooks.is_empty() {
        return;
    }
    let json = query::hook_state_json(state, status);
    if let Err(err) = crate::hooks::run_all(kind, hooks, json.as_bytes()) {
        crate::logging::log(crate::logging::Level::Warning, &crate::error::one_line(&err));
    }
}

/// Signals the process of `state` through a pidfd, checked against the recorded start time
/// after the pidfd is open, so a reused pid is never signalled.
fn signal_init(state: &State, signal: i32) -> Result<(), crate::Error> {
    let pidfd = match crate::sys::process::pidfd_open(Pid::from_raw(state.pid)) {
        Err(err) if err.errno == nix::errno::Errno::ESRCH => return Ok(()),
        other => other?,
    };
    if process_start_time(state.pid) != Some(state.pid_start_time) {
        return Ok(());
    }
    use std::os::fd::AsFd;
    crate::sys::process::pidfd_send_signal(pidfd.as_fd(), signal)?;
    Ok(())
}
