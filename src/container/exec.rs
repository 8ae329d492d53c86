//! `exec`: run another process in a running container, in all its namespaces, with the
//! process settings of the config (or of a process.json) adjusted by flags.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use nix::sys::signal::SigSet;
use nix::unistd::Pid;

use super::create::write_pid_file;
use crate::namespaces::proc_name;
use crate::process::signals::{block_all, restore, wait_forwarding};
use crate::process::{spawn, InitOptions, SetupError, SpawnOptions, Spawned};
use crate::spec::{Namespace, ValidProcess, ValidSpec};
use crate::state::{ContainerId, Op, State, StateStore, Status};
use crate::{trace, Error};

/// The process to run: a process.json, or the config's process changed by flags.
#[derive(Debug, Clone)]
pub enum ExecProcess {
    /// `--process FILE`: the whole process, as in config.json's `process`.
    File(PathBuf),
    /// Arguments and flags on top of the container's `process`.
    Flags(ExecFlags),
}

/// runc's `exec` flags that shape the process.
#[derive(Debug, Clone, Default)]
pub struct ExecFlags {
    /// The command and its arguments.
    pub args: Vec<String>,
    /// `--env K=V`, over the config's: each replaces the config's entry of its name.
    pub env: Vec<String>,
    /// `--cwd`.
    pub cwd: Option<PathBuf>,
    /// `--user UID[:GID]`.
    pub user: Option<(u32, Option<u32>)>,
    /// `--additional-gids`.
    pub additional_gids: Vec<u32>,
    /// `--cap`: added to the bounding, effective and permitted sets.
    pub caps: Vec<caps::Capability>,
    /// `--no-new-privs`.
    pub no_new_privs: bool,
    /// `--tty`.
    pub tty: bool,
}

/// How to run it.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// `--detach`: return once the process runs.
    pub detach: bool,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--apparmor`: the process's AppArmor profile, over the config's or process.json's.
    pub apparmor: Option<String>,
    /// `--process-label`: its SELinux label, likewise.
    pub process_label: Option<String>,
    /// `--ignore-paused`: exec into a paused container too; the process then stays frozen
    /// (and `exec` waits, SIGINT or SIGTERM ending the wait) until `resume`.
    pub ignore_paused: bool,
    /// `--cgroup`: the sub-cgroup of the container's cgroup the process joins instead.
    pub sub_cgroup: crate::cgroups::sub::SubPaths,
}

/// How `exec` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecOutcome {
    /// `--detach`: the process runs on.
    Detached,
    /// The process exited with this shell-style status.
    Exited(i32),
}

/// `berth exec ID …`.
pub fn exec(
    store: &StateStore,
    id: &str,
    process: ExecProcess,
    opts: &ExecOptions,
) -> Result<ExecOutcome, Error> {
    let id = ContainerId::parse(id)?;
    let state = store.read(&id)?;
    let status = super::current_status(&state, &store.fifo_path(&id));
    super::require(&state, status, Op::Exec { ignore_paused: opts.ignore_paused })?;
    trace::phase("reading state.json and the status")?;
    let container = crate::spec::load_existing(&state.bundle)?;
    trace::phase("loading config.json")?;
    let mut process = match process {
        ExecProcess::File(path) => crate::spec::load_process(&path)?,
        ExecProcess::Flags(flags) => apply_flags(container.process.clone(), flags)?,
    };
    check_console(&process, opts)?;
    // Each label is checked once: the config's by load_existing, the process file's by
    // load_process, the flags' here.
    apply_labels(&mut process, opts)?;
    let pid_joined = join_pid_namespace(&container, &state)?;
    trace::phase("joining the pid namespace")?;
    let spec = exec_spec(container, process, &state, pid_joined);
    let cgroup = exec_cgroup(&state, &opts.sub_cgroup)?;
    if !opts.detach {
        crate::process::signals::become_subreaper()?;
    }
    let mask = block_all()?;
    let blocked = ExecContext {
        paused: status == Status::Paused,
        mask: &mask,
        cgroup: cgroup.as_ref(),
        state: &state,
        cache: &store.root().join(crate::seccomp::CACHE_DIR),
    };
    let result = exec_blocked(&spec, opts, &blocked);
    restore(&mask)?;
    result
}

/// The cgroup the new process joins: the container's, or (`--cgroup`) one below it.
fn exec_cgroup(
    state: &State,
    sub: &crate::cgroups::sub::SubPaths,
) -> Result<Option<crate::cgroups::Cgroup>, Error> {
    if sub.is_empty() {
        return super::joined_cgroup(state);
    }
    Ok(Some(super::cgroup_of(state)?.sub_cgroup(sub)?))
}

/// The signals that end berth while it waits for the process of an exec into a paused
/// container, which stays frozen (and cannot say "ready") until `resume`: without them the
/// wait could only end by SIGKILL. The frozen process finds its parent gone once thawed.
const WAY_OUT: [nix::sys::signal::Signal; 4] = {
    use nix::sys::signal::Signal::*;
    [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
};

/// Lets [`WAY_OUT`] signals through (`unblock`) or blocks them again.
fn way_out(unblock: bool) -> Result<(), Error> {
    use nix::sys::signal::SigmaskHow;
    let set: SigSet = WAY_OUT.iter().copied().collect();
    let how = if unblock { SigmaskHow::SIG_UNBLOCK } else { SigmaskHow::SIG_BLOCK };
    nix::sys::signal::sigprocmask(how, Some(&set), None)
        .map_err(|errno| crate::sys::SysError::new("sigprocmask", "exec way out", errno))?;
    Ok(())
}

/// What [`exec_blocked`] needs besides the spec and the options.
struct ExecContext<'a> {
    /// The container is paused (`--ignore-paused`): the new process will be frozen.
    paused: bool,
    /// The signal mask to restore in the new process.
    mask: &'a SigSet,
    /// The container's cgroup, which the new process joins before it runs.
    cgroup: Option<&'a crate::cgroups::Cgroup>,
    /// The container's state.
    state: &'a State,
    /// The compiled-seccomp cache directory.
    cache: &'a std::path::Path,
}

fn exec_blocked(
    spec: &ValidSpec,
    opts: &ExecOptions,
    ctx: &ExecContext<'_>,
) -> Result<ExecOutcome, Error> {
    let ExecContext { mask, cgroup, state, cache, .. } = *ctx;
    // The container's filter applies to every process in it (runc does the same).
    let seccomp =
        spec.seccomp.as_ref().map(|p| crate::seccomp::compile_cached(p, cache)).transpose()?;
    // The spec's "initial" affinity: the runtime, and so the clone, runs there until the
    // clone joins the container's cgroup; "final" is the init's last step before execve.
    if let Some(cpus) = spec.process.exec_cpu_affinity.as_ref().and_then(|a| a.initial.as_ref()) {
        crate::sys::numa::set_cpu_affinity(cpus).map_err(|e| crate::spec::SpecError::Invalid {
            path: "process.execCPUAffinity.initial".into(),
            reason: crate::error::one_line(&e),
        })?;
    }
    let init = InitOptions::exec(opts.preserve_fds, mask, seccomp.as_ref());
    // Children inherit both the cgroup and the resctrl group of the clone.
    let entry = cgroup.map(|c| c.entry()).transpose()?;
    trace::phase("seccomp filter, cgroup files")?;
    // In the resctrl group before the program runs, which follows `Ready` without a wait.
    let join_rdt_group = |pid: Pid| -> Result<(), SetupError> {
        if let Some(rdt) = &spec.intel_rdt {
            crate::host::resctrl::add_task(rdt, &state.id, pid.as_raw())?;
        }
        Ok(())
    };
    let no_hooks = |_pid: Pid| Ok(String::new());
    let on_listener = |pid: Pid, listener: std::os::fd::BorrowedFd| -> Result<(), SetupError> {
        let Some(filter) = &seccomp else { return Ok(()) };
        let view = super::query::StateView::new(state.clone(), Status::Running);
        Ok(filter.send_listener(listener, pid.as_raw(), &view)?)
    };
    let options = SpawnOptions {
        fifo: None,
        init,
        cgroup: entry.as_ref(),
        place: if spec.intel_rdt.is_some() { Some(&join_rdt_group) } else { None },
        on_hooks: &no_hooks,
        on_listener: &on_listener,
    };
    if ctx.paused {
        way_out(true)?;
    }
    let spawned = spawn(spec, &options);
    if ctx.paused {
        way_out(false)?;
    }
    let Spawned { pid, console } = spawned?;
    let console = match (&opts.console_socket, console) {
        (Some(socket), Some(master)) => {
            crate::tty::send_to_console_socket(socket, master.as_raw_fd())?;
            None
        }
        (_, console) => console,
    };
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    if opts.detach {
        return Ok(ExecOutcome::Detached);
    }
    Ok(ExecOutcome::Exited(wait_forwarding(pid, console.map(crate::tty::Proxy::new), None)?))
}

/// Joins the pid namespace of the container's init in the runtime itself, when the container
/// has one and neither a user namespace (whose owner alone may let the runtime in, and which
/// the clone must join first) nor a time namespace (which keeps the clone in two stages
/// anyway). setns(2) of a pid namespace changes only where the caller's children are born:
/// the clone is then born in the container's pid namespace and is the exec'd process itself,
/// without the first stage that would otherwise join and fork it (one process, one reap and
/// two sync messages less). The runtime forks nothing else after it. Returns whether it
/// joined.
fn join_pid_namespace(container: &ValidSpec, state: &State) -> Result<bool, Error> {
    use crate::spec::NamespaceKind::{Pid, Time, User};
    if container.namespace(Pid).is_none()
        || container.namespace(User).is_some()
        || container.namespace(Time).is_some()
    {
        return Ok(false);
    }
    crate::namespaces::join_pid_namespace_of(state.pid)?;
    Ok(true)
}

/// The container's spec with `process` in place of its own, every namespace joined through
/// the init's `/proc/<pid>/ns` links (but the pid namespace when `pid_joined`: the runtime
/// joined it, see [`join_pid_namespace`]), and, for a container without a mount namespace,
/// the init's root as `root.path` (the process chroots there).
fn exec_spec(
    container: ValidSpec,
    process: ValidProcess,
    state: &State,
    pid_joined: bool,
) -> ValidSpec {
    let root = if crate::rootfs::has_mount_namespace(&container) {
        container.root.clone()
    } else {
        PathBuf::from(format!("/proc/{}/root", state.pid))
    };
    let namespaces = container
        .namespaces
        .iter()
        .filter(|ns| !(pid_joined && ns.kind == crate::spec::NamespaceKind::Pid))
        .map(|ns| Namespace {
            kind: ns.kind,
            path: Some(PathBuf::from(format!("/proc/{}/ns/{}", state.pid, proc_name(ns.kind)))),
        })
        .collect();
    ValidSpec { process, namespaces, root, ..container }
}

/// `--apparmor` and `--process-label`, each refused by its flag where its LSM is absent.
fn apply_labels(process: &mut ValidProcess, opts: &ExecOptions) -> Result<(), Error> {
    use crate::host::lsm::LsmError::NotEnabled;
    if let Some(profile) = &opts.apparmor {
        if !crate::host::lsm::apparmor_enabled() {
            return Err(NotEnabled { field: "--apparmor", lsm: "AppArmor" }.into());
        }
        process.apparmor_profile = Some(profile.clone());
    }
    if let Some(label) = &opts.process_label {
        if !crate::host::lsm::selinux_enabled() {
            return Err(NotEnabled { field: "--process-label", lsm: "SELinux" }.into());
        }
        process.selinux_label = Some(label.clone());
    }
    Ok(())
}

fn apply_flags(mut process: ValidProcess, flags: ExecFlags) -> Result<ValidProcess, Error> {
    if flags.args.is_empty() || flags.args[0].is_empty() {
        return Err(Error::Usage("exec needs a command (or --process FILE)".into()));
    }
    // The rules of process.env and process.cwd, worded for the flags.
    if let Some(bad) = flags.env.iter().find(|e| crate::spec::env_problem(e).is_some()) {
        return Err(Error::Usage(format!("--env {bad:?} is not KEY=VALUE")));
    }
    process.args = flags.args;
    process.env.extend(flags.env);
    if let Some(cwd) = flags.cwd {
        if let Some(reason) = crate::spec::cwd_problem(&cwd) {
            let sep = if cwd.is_absolute() { ":" } else { "" };
            return Err(Error::Usage(format!("--cwd {}{sep} {reason}", cwd.display())));
        }
        process.cwd = cwd;
    }
    if let Some((uid, gid)) = flags.user {
        let out_of_range = std::iter::once(uid).chain(gid).find_map(crate::spec::id_out_of_range);
        if let Some(reason) = out_of_range {
            return Err(Error::Usage(format!("--user: {reason}")));
        }
        process.uid = uid;
        process.gid = gid.unwrap_or(process.gid);
    }
    if let Some(reason) =
        flags.additional_gids.iter().copied().find_map(crate::spec::id_out_of_range)
    {
        return Err(Error::Usage(format!("--additional-gids: {reason}")));
    }
    if !flags.additional_gids.is_empty() {
        process.additional_gids = flags.additional_gids;
    }
    if !flags.caps.is_empty() {
        let sets = process.capabilities.get_or_insert_with(Default::default);
        for cap in flags.caps {
            for set in [&mut sets.bounding, &mut sets.effective, &mut sets.permitted] {
                if !set.contains(&cap) {
                    set.push(cap);
                }
            }
        }
    }
    process.no_new_privileges |= flags.no_new_privs;
    process.terminal = flags.tty;
    Ok(process)
}

/// As `create`: a detached terminal needs a socket to go to, and a socket needs a terminal.
fn check_console(process: &ValidProcess, opts: &ExecOptions) -> Result<(), Error> {
    match (process.terminal, opts.console_socket.is_some()) {
        (true, false) if opts.detach => {
            Err(Error::Usage("a detached exec with a terminal needs --console-socket".into()))
        }
        (false, true) => {
            Err(Error::Usage("--console-socket needs --tty (process.terminal)".into()))
        }
        _ => Ok(()),
    }
}
