//! The parent's walk through the protocol of [`crate::process::sync`], in its documented
//! order, from the clone to the init's `Ready` (and, for `exec`, to the program's execve).

use std::os::fd::AsFd;
use std::path::Path;

use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::spawn::{Plan, SpawnOptions, Spawned};
use crate::logging;
use crate::namespaces;
use crate::process::child::init::{FieldError, Role};
use crate::process::error::ProcessError;
use crate::process::sync::{Channel, FdKind, FromParent};
use crate::spec::ValidSpec;
use crate::sys::procfs::ProcFs;

/// A fault-injection point of the runtime's setup of the clone.
fn fault(name: &'static str) -> Result<(), ProcessError> {
    crate::fault::point(name).map_err(ProcessError::setup)
}

/// Writes `process.oomScoreAdj` of the clone (a second stage inherits it) from the runtime, as
/// the host's root: the non-dumpable init's own /proc files belong to the host's root, which a
/// user-namespaced init cannot write, and lowering the value needs CAP_SYS_RESOURCE in the
/// host's user namespace.
fn set_oom_score_adj(procfs: &ProcFs, pid: Pid, adj: i32) -> Result<(), ProcessError> {
    let adj = adj.to_string();
    procfs
        .write_pid(pid.as_raw(), "oom_score_adj", adj.as_bytes())
        .map_err(|source| ProcessError::setup(FieldError { field: "process.oomScoreAdj", source }))
}

/// Follows the clone `first` until its init is ready; `init_pid` is set as soon as the
/// init's pid is known (a grandchild on the two-stage path), for the caller to kill it on
/// failure.
pub(super) fn follow(
    spec: &ValidSpec,
    channel: &Channel,
    first: Pid,
    plan: &Plan,
    opts: &SpawnOptions,
    init_pid: &mut Option<Pid>,
) -> Result<Spawned, ProcessError> {
    let role = opts.init.role();
    fault("cloning the init")?;
    let oom_score_adj = spec.process.oom_score_adj.filter(|_| role == Role::Container);
    // The runtime's /proc, proven procfs, for the files it writes for the clone.
    let procfs = match plan.new_user_ns || oom_score_adj.is_some() {
        true => Some(ProcFs::open(Path::new("/proc"))?),
        false => None,
    };
    if let (true, Some(procfs)) = (plan.new_user_ns, &procfs) {
        if plan.two_stage {
            channel.expect_user_namespace_ready()?;
        }
        namespaces::write_id_maps(procfs, first, spec).map_err(ProcessError::setup)?;
        fault("writing id maps")?;
        logging::phase("writing id maps");
    }
    if let (Some(adj), Some(procfs)) = (oom_score_adj, &procfs) {
        set_oom_score_adj(procfs, first, adj)?;
    }
    (opts.on_clone)(first).map_err(ProcessError::Setup)?;
    logging::phase("after the clone (resctrl)");
    if plan.new_user_ns && !plan.two_stage && role == Role::Container {
        let sources = crate::rootfs::bind_sources(spec);
        super::bind_sources::send(channel, first, &sources)?;
    }
    channel.send(&FromParent::SetupDone, None)?;
    let pid = if plan.two_stage {
        let pid = channel.expect_init_pid()?;
        *init_pid = Some(pid);
        // The first stage has done its part; reap it now.
        let _ = waitpid(first, None);
        fault("receiving the init's pid")?;
        channel.send(&FromParent::InitPidSeen, None)?;
        pid
    } else {
        first
    };
    *init_pid = Some(pid);
    if role == Role::Container && spec.hooks.run_during_create() {
        channel.expect_run_hooks()?;
        let state = (opts.on_hooks)(pid).map_err(ProcessError::Setup)?;
        channel.send(&FromParent::HooksDone { state }, None)?;
    }
    let console = match spec.process.terminal {
        true => Some(channel.expect_fd(FdKind::ConsoleMaster)?),
        false => None,
    };
    if opts.init.notifies() {
        let listener = channel.expect_fd(FdKind::SeccompListener)?;
        (opts.on_listener)(pid, listener.as_fd()).map_err(ProcessError::Setup)?;
    }
    let steps = channel.expect_ready()?;
    logging::phase("waiting for the init's Ready");
    logging::init_steps(steps);
    fault("receiving Ready")?;
    if role == Role::Exec {
        super::report::expect_exec(channel)?;
    }
    Ok(Spawned { pid, console })
}
