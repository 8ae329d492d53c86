//! The container init: a linear list of named steps run in the clone of the runtime, ending
//! in execve of the container's program. Each step says why it sits where it does.
//!
//! A failed step is reported to the parent with its whole cause chain and the init exits.

use std::error::Error as StdError;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::{Gid, Uid};

use super::program::Program;
use crate::namespaces::OpenedNamespace;
use crate::process::error::EXECUTING;
use crate::process::shim::{self, Shim};
use crate::process::sync::{self, Channel, FromInit, Setup, SyncError};
use crate::seccomp::Filter;
use crate::spec::{NamespaceKind, ValidSpec};
use crate::sys::procfs::ProcFs;
use crate::sys::SysContext;

type StepResult = Result<(), Box<dyn StdError + Send + Sync>>;

/// A call that applied a config field failed (in the init, or a write of the runtime for
/// the clone); the message names the field.
#[derive(Debug, thiserror::Error)]
#[error("{field}")]
pub(crate) struct FieldError {
    pub(crate) field: &'static str,
    #[source]
    pub(crate) source: crate::sys::SysError,
}

/// A step of the init that failed; its source holds the cause.
#[derive(Debug, thiserror::Error)]
#[error("{step}")]
pub struct StepError {
    /// The step's name.
    pub step: &'static str,
    /// Why it failed.
    #[source]
    pub source: Box<dyn StdError + Send + Sync>,
}

/// What the clone becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A container's init: rootfs, hostname, then a wait for `start`.
    Container,
    /// A process `exec`ed into a running container: only the process's own settings.
    Exec,
}

/// Where the init came from, which decides what it first waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The clone itself (fast path): waits for the parent's setup when the parent has any
    /// (as it decided before the clone), else goes straight on.
    Single(Setup),
    /// Forked by a first stage that did the setup: waits until the parent knows its pid, so
    /// its messages cannot overtake the first stage's `InitPid`.
    Second,
}

/// The `create` flags and runtime facts the init acts on; made by [`InitOptions::container`]
/// or [`InitOptions::exec`], read only by the init.
pub struct InitOptions<'a> {
    /// What the clone becomes.
    pub(crate) role: Role,
    /// `--no-pivot`.
    pub(crate) no_pivot: bool,
    /// `--preserve-fds`: fds 3..3+N stay open across exec.
    pub(crate) preserve_fds: u32,
    /// Join a new session keyring of this name (the container id), unless `--no-new-keyring`.
    pub(crate) new_keyring: Option<std::ffi::CString>,
    /// The signal mask the runtime had before it blocked signals for the clone.
    pub(crate) sigmask: &'a SigSet,
    /// `linux.seccomp`, compiled by the runtime before the clone.
    pub(crate) seccomp: Option<&'a Filter>,
    /// For each of `mounts`, the id-mapped tree the runtime prepared (id-mapped mounts only).
    pub(crate) idmapped: &'a [Option<OwnedFd>],
    /// The runtime's /proc/self/mountinfo, read before the clone (the init's mount
    /// namespace starts as a copy of it), when the runtime read it anyway.
    pub(crate) host_mountinfo: Option<&'a str>,
}

/// The flags of `create` that reach a container's init.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContainerFlags {
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--preserve-fds` (plus the sockets of socket activation passed on).
    pub preserve_fds: u32,
}

impl<'a> InitOptions<'a> {
    /// A container's init for the container `id`: `create`'s flags, the signal mask to
    /// restore, the config's compiled filter and the id-mapped trees made for its mounts.
    pub fn container(
        id: &str,
        flags: ContainerFlags,
        sigmask: &'a SigSet,
        seccomp: Option<&'a Filter>,
        idmapped: &'a [Option<OwnedFd>],
    ) -> Self {
        InitOptions {
            role: Role::Container,
            no_pivot: flags.no_pivot,
            preserve_fds: flags.preserve_fds,
            // Ids are validated to printable ASCII, so the name has no NUL.
            new_keyring: (!flags.no_new_keyring)
                .then(|| std::ffi::CString::new(id).unwrap_or_default()),
            sigmask,
            seccomp,
            idmapped,
            host_mountinfo: None,
        }
    }

    /// The runtime's mount table as read before the clone (see
    /// [`InitOptions::host_mountinfo`]), so that the init need not read it again.
    pub fn with_host_mountinfo(self, host_mountinfo: Option<&'a str>) -> Self {
        InitOptions { host_mountinfo, ..self }
    }

    /// A process `exec`ed into a running container: `--preserve-fds`, the signal mask to
    /// restore and the container's compiled filter.
    pub fn exec(preserve_fds: u32, sigmask: &'a SigSet, seccomp: Option<&'a Filter>) -> Self {
        InitOptions {
            role: Role::Exec,
            no_pivot: false,
            preserve_fds,
            new_keyring: None,
            sigmask,
            seccomp,
            idmapped: &[],
            host_mountinfo: None,
        }
    }

    /// What the clone becomes.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the init installs a filter that notifies (and so sends its listener).
    pub fn notifies(&self) -> bool {
        self.seccomp.is_some_and(|f| f.notifies())
    }
}

/// Everything the init needs, inherited from the parent through the clone.
pub struct Init<'a> {
    /// The validated config.
    pub spec: &'a ValidSpec,
    /// The init's end of the sync socket.
    pub channel: &'a Channel,
    /// `<root>/<id>/exec.fifo`, open read-write (a container's init only).
    pub fifo: Option<&'a OwnedFd>,
    /// Flags of `create` that reach the init.
    pub options: &'a InitOptions<'a>,
    /// Namespaces still to join (fast path), opened by the parent.
    pub joined: &'a [OpenedNamespace],
    /// Whether the init is the clone itself or the first stage's child.
    pub stage: Stage,
    pub(super) program: Option<Program>,
    pub(super) shim: Option<Shim>,
    pub(super) hook_state: String,
    /// `start` released the init: from now on failures go into exec.fifo, where `start`
    /// reads them (nobody listens on the sync socket any more).
    pub(super) started: bool,
    /// The seccomp filter is loaded: every later call of the init passes it.
    pub(super) filtered: bool,
    /// cwd was checked to lie in the container before the filter was loaded, so a refused
    /// getcwd afterwards does not stop the container.
    pub(super) cwd_checked: bool,
    /// cwd was entered (and checked) while still root: the user switch keeps it.
    pub(super) cwd_entered: bool,
    /// Step durations (name, microseconds) when tracing; they cross in `Ready`.
    pub(super) timings: Vec<(String, u64)>,
    /// The container's /proc, opened (and proven procfs) by the first step that writes there.
    pub(super) procfs: Option<ProcFs>,
    /// Bind sources the runtime opened in the init's mount namespace, by mount index.
    pub(super) bind_sources: Vec<(usize, OwnedFd)>,
}

type Step = fn(&mut Init) -> StepResult;

/// Which clones run a step: an `exec`ed process skips the container-wide setup and the
/// wait for `start`.
#[derive(Clone, Copy)]
enum Scope {
    /// Every clone.
    All,
    /// Only a clone of this role.
    Only(Role),
}

/// The steps a clone of `role` runs, in order.
fn steps_of(role: Role) -> impl Iterator<Item = (&'static str, Step)> {
    STEPS.iter().filter_map(move |(name, step, scope)| match scope {
        Scope::Only(only) if *only != role => None,
        _ => Some((*name, *step)),
    })
}

/// The init's steps in order; the comment on each says why it is there.
const STEPS: &[(&str, Step, Scope)] = &[
    // Nothing may touch the user namespace before its maps exist, nor run outside the
    // container's systemd unit or resctrl group: when the runtime has such setup to do
    // (else this step waits for nothing).
    ("waiting for the runtime's setup", wait_for_parent, Scope::All),
    // After the cgroup placement, so the cgroup namespace is rooted at the container's cgroup.
    ("creating the cgroup namespace", unshare_cgroup_namespace, Scope::Only(Role::Container)),
    // Joining by path uses the namespace fds opened before the clone.
    ("joining namespaces", join_namespaces, Scope::All),
    // Joining a mount namespace gave an exec'd process the container's root; without one it
    // still has the runtime's, and chroots into the init's.
    ("entering the container's root", enter_shared_root, Scope::Only(Role::Exec)),
    // A new session detaches the container from the caller's terminal.
    ("creating a session", new_session, Scope::All),
    // Keys of the host's session must not be reachable from the container.
    ("joining a new session keyring", join_session_keyring, Scope::Only(Role::Container)),
    // Non-dumpable until execve: no other process can open /proc/<init>/exe (CVE-2019-5736).
    ("making the process non-dumpable", non_dumpable, Scope::All),
    ("setting hostname", set_hostname, Scope::Only(Role::Container)),
    // Mounts need the host paths of the bundle, so they precede pivot_root.
    ("preparing the rootfs", prepare_rootfs, Scope::Only(Role::Container)),
    // Mounts are done, pivot_root is not: the spec's point for createRuntime (in the runtime,
    // through the parent) and createContainer (here, in the container's namespaces).
    ("running create hooks", run_create_hooks, Scope::Only(Role::Container)),
    ("pivoting into the rootfs", pivot_root, Scope::Only(Role::Container)),
    // cwd is created while / is still writable.
    ("creating cwd", create_cwd, Scope::Only(Role::Container)),
    // Through the container's /proc, before readonlyPaths make /proc/sys read-only.
    ("setting sysctls", set_sysctls, Scope::Only(Role::Container)),
    ("masking and read-only paths", finish_rootfs, Scope::Only(Role::Container)),
    // The pty comes from the container's own devpts, so after pivot.
    ("setting up the console", setup_console, Scope::All),
    // The console's mount point exists now: a read-only /dev may become so.
    ("making /dev read-only", readonly_dev, Scope::Only(Role::Container)),
    // Raising a hard limit needs CAP_SYS_RESOURCE: before the user switch.
    ("setting rlimits", set_rlimits, Scope::All),
    // Real-time policies and the RT I/O class need CAP_SYS_NICE/CAP_SYS_ADMIN: also before.
    ("setting the scheduler", set_scheduler, Scope::All),
    ("setting the I/O priority", set_io_priority, Scope::All),
    // Inherited by children and kept across execve, like the scheduler.
    ("setting the memory policy", set_memory_policy, Scope::All),
    // Ahead of every seccomp point: memfd_create, write and fcntl need not be in the profile.
    ("loading the exec shim", load_exec_shim, Scope::All),
    // Without no_new_privs installing needs CAP_SYS_ADMIN, which the user switch and the
    // capability sets may drop: then it has to come first (runc does the same).
    // As runc and crun: while still root, so a cwd only root may enter (a 0700 /root for
    // uid 1000) is entered; on a permission error it is tried again as the user.
    ("entering cwd as root", enter_cwd_as_root, Scope::All),
    ("installing seccomp before the user switch", install_seccomp_before_user_switch, Scope::All),
    // Bounding set while still root (needs CAP_SETPCAP), then the ids.
    ("switching user", switch_user, Scope::All),
    // As the container's user, when root could not: a directory only the user may enter.
    ("changing to cwd", change_cwd, Scope::All),
    // PATH lookup as the user, inside the container; failures reach `create` (runc does so).
    ("finding the executable", prepare_program, Scope::All),
    ("setting capabilities", set_capabilities, Scope::All),
    ("setting no_new_privs", set_no_new_privs, Scope::All),
    // Affects what the next execve sets up (e.g. LINUX32's uname and address space); an
    // exec'd process gets it too, as runc and crun give it.
    ("setting the personality", set_personality, Scope::All),
    // The listener must reach the agent during `create`: install (and hand the listener
    // over at once) before ready.
    ("installing seccomp with a listener", install_seccomp_before_ready, Scope::All),
    ("reporting ready", report_ready, Scope::All),
    // Blocks until `start` writes into the fifo.
    ("waiting for start", wait_for_start, Scope::Only(Role::Container)),
    // After start, before the program: in the container, as its user.
    ("running startContainer hooks", run_start_container_hooks, Scope::Only(Role::Container)),
    ("restoring signals", restore_signals, Scope::All),
    ("closing inherited descriptors", close_inherited_fds, Scope::All),
    // Read by the next execve; late so hooks and the init's own work keep the runtime's.
    // That execve is now the exec shim's, so the label applies from the shim on, and the
    // program's execve happens inside it (untested: this host runs no LSM; under SELinux
    // the memfd would need entrypoint permission — moving the write into the shim fixes it).
    ("setting LSM labels", set_lsm_labels, Scope::All),
    // The spec's "final" affinity: after the cgroup transition, right before execve.
    ("setting the final CPU affinity", set_final_cpu_affinity, Scope::Only(Role::Exec)),
    // Last, so that only execve passes the filter (the spec orders seccomp last).
    ("installing seccomp", install_seccomp_before_exec, Scope::All),
];

impl<'a> Init<'a> {
    /// An init with nothing prepared yet.
    pub fn new(
        spec: &'a ValidSpec,
        channel: &'a Channel,
        fifo: Option<&'a OwnedFd>,
        options: &'a InitOptions<'a>,
        joined: &'a [OpenedNamespace],
        stage: Stage,
    ) -> Self {
        Init {
            spec,
            channel,
            fifo,
            options,
            joined,
            stage,
            program: None,
            shim: None,
            hook_state: String::new(),
            started: false,
            filtered: false,
            cwd_checked: false,
            cwd_entered: false,
            timings: Vec::new(),
            procfs: None,
            bind_sources: Vec::new(),
        }
    }

    /// The container's /proc as a [`ProcFs`] handle, opened on first use: every write the
    /// init makes under /proc goes through it.
    fn procfs(&mut self) -> Result<&ProcFs, crate::sys::SysError> {
        if self.procfs.is_none() {
            self.procfs = Some(ProcFs::open(Path::new("/proc"))?);
        }
        Ok(self.procfs.as_ref().expect("just opened"))
    }

    /// Runs every step and execs the container's program; never returns.
    pub fn run(mut self) -> ! {
        let trace = crate::trace::tracing();
        for (name, step) in steps_of(self.options.role) {
            let begin = trace.then(std::time::Instant::now);
            let result =
                crate::trace::step(name).map_err(Into::into).and_then(|()| step(&mut self));
            if let Err(source) = result {
                let err = StepError { step: name, source };
                self.fail(&err);
            }
            if let Some(begin) = begin {
                self.timings.push((name.to_string(), crate::trace::micros(begin.elapsed())));
            }
        }
        let program = self.program.take().expect("prepare_program ran");
        let shim = self.shim.take().expect("load_exec_shim ran");
        // The shim reports the program's execve failure where the runtime listens: on the
        // socket for `exec`, in exec.fifo for `start` (whose close moves with it, so `start`
        // returns once the program, not the shim, runs), else on stderr.
        let report = match self.fifo {
            Some(fifo) if self.started => shim::Report::Fifo(fifo.as_raw_fd()),
            _ => shim::Report::Socket(self.channel.as_raw_fd()),
        };
        let errno = program.exec(&shim, report);
        let err = StepError {
            step: EXECUTING,
            source: Box::new(crate::sys::SysError::new("execveat", "exec shim", errno)),
        };
        self.report(&err, false);
        let code = if errno == nix::errno::Errno::ENOENT { 127 } else { 126 };
        crate::sys::init::exit_now(code)
    }

    fn fail(&self, err: &StepError) -> ! {
        // Unless the socket closed under a step that waited for the runtime: it gave up and
        // says why itself.
        let runtime_gave_up =
            matches!(err.source.downcast_ref::<SyncError>(), Some(SyncError::Closed));
        self.report(err, runtime_gave_up);
        crate::sys::init::exit_now(1)
    }

    /// Tells the runtime why the init gives up: on the socket until `start`, then in
    /// exec.fifo, where `start` reads it once the init is gone. When neither takes it (or
    /// `quiet` when the socket refuses), the container's stderr is the only witness left.
    fn report(&self, err: &StepError, quiet: bool) {
        let failed = FromInit::Failed { chain: crate::causes::chain(err) };
        let reported = match self.fifo {
            Some(fifo) if self.started => sync::report_into_fifo(fifo, &failed).is_ok(),
            _ => self.channel.send(&failed, None).is_ok() || quiet,
        };
        if !reported {
            let _ = writeln!(std::io::stderr(), "berth: {}", crate::causes::one_line(err));
        }
    }
}

fn prctl_result(call: &'static str, result: Result<(), i32>) -> StepResult {
    result.map_err(|errno| {
        crate::sys::SysError::new(call, "", nix::errno::Errno::from_raw(errno)).into()
    })
}

fn wait_for_parent(init: &mut Init) -> StepResult {
    let setup = match init.stage {
        Stage::Second => return Ok(init.channel.expect_init_pid_seen()?),
        Stage::Single(setup) => setup,
    };
    init.bind_sources = init.channel.expect_setup_done(setup)?;
    if init.spec.creates_namespace(NamespaceKind::User) {
        become_root()?;
    }
    Ok(())
}

fn unshare_cgroup_namespace(init: &mut Init) -> StepResult {
    if init.stage != Stage::Second && init.spec.creates_namespace(NamespaceKind::Cgroup) {
        crate::namespaces::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)?;
    }
    Ok(())
}

/// In a new user namespace we start as the overflow uid until we claim 0 under the maps.
pub fn become_root() -> StepResult {
    nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .sys("setresgid", "0")?;
    nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .sys("setresuid", "0")?;
    Ok(())
}

fn join_namespaces(init: &mut Init) -> StepResult {
    for ns in init.joined {
        ns.join()?;
    }
    Ok(())
}

fn new_session(_: &mut Init) -> StepResult {
    nix::unistd::setsid().sys("setsid", "")?;
    Ok(())
}

fn join_session_keyring(init: &mut Init) -> StepResult {
    let Some(name) = &init.options.new_keyring else { return Ok(()) };
    Ok(crate::sys::init::join_session_keyring(name)?)
}

fn non_dumpable(_: &mut Init) -> StepResult {
    prctl_result("prctl(PR_SET_DUMPABLE)", prctl::set_dumpable(false))
}

fn set_hostname(init: &mut Init) -> StepResult {
    if let Some(name) = &init.spec.hostname {
        nix::unistd::sethostname(name).sys("sethostname", name)?;
    }
    if let Some(name) = &init.spec.domainname {
        crate::sys::init::set_domainname(name)?;
    }
    Ok(())
}

fn prepare_rootfs(init: &mut Init) -> StepResult {
    let sources = std::mem::take(&mut init.bind_sources);
    let host_mountinfo = init.options.host_mountinfo;
    Ok(crate::rootfs::prepare(init.spec, init.options.idmapped, &sources, host_mountinfo)?)
}

/// An exec'd process of a container without a mount namespace shares the runtime's mounts:
/// it takes the init's root (`exec` points `root.path` at `/proc/<init>/root`).
fn enter_shared_root(init: &mut Init) -> StepResult {
    if crate::rootfs::has_mount_namespace(init.spec) {
        return Ok(());
    }
    Ok(crate::rootfs::pivot(init.spec, false)?)
}

fn run_create_hooks(init: &mut Init) -> StepResult {
    if !init.spec.hooks.run_during_create() {
        return Ok(());
    }
    init.channel.send(&FromInit::RunHooks, None)?;
    init.hook_state = init.channel.expect_hooks_done()?;
    let spec = init.spec;
    let state = init.hook_state.as_bytes();
    let hooks = &spec.hooks.create_container;
    Ok(crate::hooks::run_create_container(hooks, state, &spec.process.env, &spec.root)?)
}

/// A hook without `env` gets the container process's environment, as with runc and crun.
///
/// The hooks run under the container's seccomp filter, as runc runs them: they run in the
/// container, from its rootfs, with its credentials, and nothing there should escape the
/// filter its program gets. When the init has not installed the filter yet (it does so
/// last), each hook's process installs it before its execve; the init stays unfiltered.
fn run_start_container_hooks(init: &mut Init) -> StepResult {
    let hooks = &init.spec.hooks.start_container;
    if hooks.is_empty() {
        return Ok(());
    }
    let (state, env) = (init.hook_state.as_bytes(), &init.spec.process.env);
    let installer = init.options.seccomp.filter(|_| !init.filtered).map(Filter::installer);
    let run = crate::hooks::run_all_in_container;
    Ok(run("startContainer", hooks, state, env, installer.as_ref())?)
}

fn pivot_root(init: &mut Init) -> StepResult {
    Ok(crate::rootfs::pivot(init.spec, init.options.no_pivot)?)
}

fn create_cwd(init: &mut Init) -> StepResult {
    let cwd = &init.spec.process.cwd;
    std::fs::create_dir_all(cwd)
        .map_err(|e| format!("process.cwd: creating {}: {e}", cwd.display()))?;
    Ok(())
}

/// Each value goes through the procfs handle, so a mount over part of /proc/sys (or a
/// symlink) makes the write fail instead of landing in whatever covers it.
fn set_sysctls(init: &mut Init) -> StepResult {
    let spec = init.spec;
    if spec.sysctl.is_empty() {
        return Ok(());
    }
    let procfs = init.procfs().map_err(|source| SysctlError { key: None, source })?;
    for (key, value) in &spec.sysctl {
        let path = crate::sys::procfs::sysctl_path(key);
        procfs
            .write(&path, value.as_bytes())
            .map_err(|source| SysctlError { key: Some(key.clone()), source })?;
    }
    Ok(())
}

/// Writing `linux.sysctl` (one key, or all of them when /proc is not a procfs) failed.
#[derive(Debug, thiserror::Error)]
#[error("linux.sysctl{}", key.as_ref().map(|k| format!(".{k}")).unwrap_or_default())]
struct SysctlError {
    key: Option<String>,
    #[source]
    source: crate::sys::SysError,
}

fn finish_rootfs(init: &mut Init) -> StepResult {
    Ok(crate::rootfs::finish(init.spec)?)
}

fn readonly_dev(init: &mut Init) -> StepResult {
    Ok(crate::rootfs::readonly_dev(init.spec)?)
}

fn setup_console(init: &mut Init) -> StepResult {
    let process = &init.spec.process;
    if !process.terminal {
        return Ok(());
    }
    // Only the init's terminal is the container's console: an exec'd process's pty goes away
    // with it, and a bind over /dev/console would outlive it in the container's mounts.
    // Without a mount namespace the bind would land in the host's mount table.
    let console =
        init.options.role == Role::Container && crate::rootfs::has_mount_namespace(init.spec);
    let size = process.console_size.map(|s| (s.height, s.width));
    let master = crate::tty::setup_console(size, console)?;
    // The terminal belongs to the process's user (its group stays devpts's, "tty" by default),
    // as runc leaves it: a non-root user can then reopen /dev/console or /proc/self/fd/0.
    nix::unistd::fchown(std::io::stdin(), Some(Uid::from_raw(process.uid)), None)
        .sys("fchown", format!("the console to process.user.uid {}", process.uid))?;
    init.channel.send(&FromInit::ConsoleMaster, Some(master.as_raw_fd()))?;
    Ok(())
}

fn set_rlimits(init: &mut Init) -> StepResult {
    for (i, limit) in init.spec.process.rlimits.iter().enumerate() {
        let target = || {
            format!(
                "process.rlimits[{i}] (resource {} to {}/{})",
                limit.resource, limit.soft, limit.hard
            )
        };
        crate::sys::init::set_rlimit(limit.resource, limit.soft, limit.hard, target)?;
    }
    Ok(())
}

fn set_scheduler(init: &mut Init) -> StepResult {
    let Some(attr) = &init.spec.process.scheduler else { return Ok(()) };
    crate::sys::process::sched_setattr(attr)?;
    Ok(())
}

fn set_io_priority(init: &mut Init) -> StepResult {
    let Some(ioprio) = init.spec.process.io_priority else { return Ok(()) };
    crate::sys::process::ioprio_set(ioprio)?;
    Ok(())
}

fn set_memory_policy(init: &mut Init) -> StepResult {
    let Some(policy) = &init.spec.memory_policy else { return Ok(()) };
    crate::sys::numa::set_mempolicy(policy.mode, policy.flags, &policy.nodes)
        .map_err(|source| FieldError { field: "linux.memoryPolicy", source })?;
    Ok(())
}

fn load_exec_shim(init: &mut Init) -> StepResult {
    init.shim = Some(Shim::load()?);
    Ok(())
}

fn set_lsm_labels(init: &mut Init) -> StepResult {
    let process = &init.spec.process;
    if process.apparmor_profile.is_none() && process.selinux_label.is_none() {
        return Ok(());
    }
    let field = if process.apparmor_profile.is_some() {
        "process.apparmorProfile"
    } else {
        "process.selinuxLabel"
    };
    let procfs = init.procfs().map_err(|source| FieldError { field, source })?;
    Ok(crate::host::lsm::set_exec_labels(procfs, process)?)
}

fn set_final_cpu_affinity(init: &mut Init) -> StepResult {
    let affinity = init.spec.process.exec_cpu_affinity.as_ref();
    let Some(cpus) = affinity.and_then(|a| a.last.as_ref()) else { return Ok(()) };
    crate::sys::numa::set_cpu_affinity(cpus)
        .map_err(|source| FieldError { field: "process.execCPUAffinity.final", source })?;
    Ok(())
}

fn set_personality(init: &mut Init) -> StepResult {
    let Some(persona) = init.spec.personality else { return Ok(()) };
    crate::sys::process::personality(persona)?;
    Ok(())
}

fn switch_user(init: &mut Init) -> StepResult {
    let process = &init.spec.process;
    if let Some(sets) = &process.capabilities {
        crate::capabilities::limit_bounding(sets)?;
        // Keep the permitted set across setresuid; `set_capabilities` then trims it.
        prctl_result("prctl(PR_SET_KEEPCAPS)", prctl::set_keep_capabilities(true))?;
    }
    // Checked when the config was read; (uid_t)-1 here would leave the process root.
    if process.uid > crate::spec::MAX_ID || process.gid > crate::spec::MAX_ID {
        return Err(format!(
            "process.user: uid {} or gid {} out of range",
            process.uid, process.gid
        )
        .into());
    }
    let groups: Vec<Gid> = process.additional_gids.iter().map(|g| Gid::from_raw(*g)).collect();
    let target = format!("process.user.additionalGids ({} groups)", groups.len());
    match nix::unistd::setgroups(&groups) {
        // A user namespace whose gid_map an unprivileged runtime wrote denies setgroups(2)
        // (user_namespaces(7)); with no groups asked for there is nothing to set (runc skips
        // it too).
        Err(nix::errno::Errno::EPERM) if groups.is_empty() => {}
        other => other.sys("setgroups", target)?,
    }
    let gid = Gid::from_raw(process.gid);
    nix::unistd::setresgid(gid, gid, gid).sys("setresgid", process.gid)?;
    let uid = Uid::from_raw(process.uid);
    nix::unistd::setresuid(uid, uid, uid).sys("setresuid", process.uid)?;
    if process.capabilities.is_some() {
        prctl_result("prctl(PR_SET_KEEPCAPS)", prctl::set_keep_capabilities(false))?;
    }
    if let Some(umask) = process.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    }
    Ok(())
}

/// getcwd(2) failed while checking that process.cwd lies in the container.
#[derive(Debug, thiserror::Error)]
#[error("process.cwd: checking that {cwd} lies in the container{hint}")]
struct CwdCheckError {
    cwd: String,
    /// Says that the seccomp filter was loaded, the likely reason for a refused call.
    hint: &'static str,
    #[source]
    source: crate::sys::SysError,
}

fn change_cwd(init: &mut Init) -> StepResult {
    if init.cwd_entered {
        return Ok(());
    }
    match enter_cwd(init) {
        // Checked before the filter was loaded (the same descriptors, the same mounts): the
        // profile may refuse getcwd to the init as to the program.
        Err(err) if init.cwd_checked && err.is::<CwdCheckError>() => Ok(()),
        other => other,
    }
}

/// chdir to process.cwd as root; a permission error leaves it to [`change_cwd`], as the
/// user. Entered, cwd is checked at once (nothing filters the init yet).
fn enter_cwd_as_root(init: &mut Init) -> StepResult {
    let cwd = &init.spec.process.cwd;
    match nix::unistd::chdir(cwd) {
        Err(nix::errno::Errno::EACCES | nix::errno::Errno::EPERM) => return Ok(()),
        other => other.sys("chdir", format!("process.cwd {}", cwd.display()))?,
    }
    check_cwd_reachable(init)?;
    init.cwd_entered = true;
    init.cwd_checked = !init.filtered;
    Ok(())
}

/// chdir to process.cwd and make sure it lies in the container: a magic link such as
/// /proc/self/fd/N may lead out of the root (CVE-2024-21626 class).
fn enter_cwd(init: &Init) -> StepResult {
    let cwd = &init.spec.process.cwd;
    nix::unistd::chdir(cwd).sys("chdir", format!("process.cwd {}", cwd.display()))?;
    check_cwd_reachable(init)
}

/// The working directory lies under the process's root (see [`enter_cwd`]).
fn check_cwd_reachable(init: &Init) -> StepResult {
    let cwd = &init.spec.process.cwd;
    match crate::sys::process::cwd_is_reachable() {
        Ok(true) => Ok(()),
        Ok(false) => {
            Err(format!("process.cwd: {} resolves outside the container", cwd.display()).into())
        }
        Err(source) => {
            let hint = if init.filtered { " (the seccomp filter is loaded)" } else { "" };
            Err(CwdCheckError { cwd: cwd.display().to_string(), hint, source }.into())
        }
    }
}

fn prepare_program(init: &mut Init) -> StepResult {
    let process = &init.spec.process;
    if process.env.iter().any(|e| e.starts_with("LISTEN_FDS=")) {
        let mut process = process.clone();
        crate::process::activation::set_listen_pid(&mut process.env, std::process::id());
        init.program = Some(Program::prepare(&process)?);
    } else {
        init.program = Some(Program::prepare(process)?);
    }
    Ok(())
}

fn set_capabilities(init: &mut Init) -> StepResult {
    if let Some(sets) = &init.spec.process.capabilities {
        crate::capabilities::apply(sets)?;
    }
    Ok(())
}

fn set_no_new_privs(init: &mut Init) -> StepResult {
    if init.spec.process.no_new_privileges {
        prctl_result("prctl(PR_SET_NO_NEW_PRIVS)", prctl::set_no_new_privileges(true))?;
    }
    Ok(())
}

/// Where the init installs the seccomp filter: as late as its privileges and the listener
/// allow, because every syscall of the init after it passes the filter too.
// "Before" is the point of every variant: each names what the filter must precede.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeccompPoint {
    /// Neither no_new_privs nor CAP_SYS_ADMIN will be left after the user switch.
    BeforeUserSwitch,
    /// The listener has to be passed on before ready.
    BeforeReady,
    /// Nothing but execve follows.
    BeforeExec,
}

fn seccomp_point(spec: &ValidSpec, filter: &Filter) -> SeccompPoint {
    let process = &spec.process;
    let keeps_sys_admin = match &process.capabilities {
        Some(sets) => sets.effective.contains(&caps::Capability::CAP_SYS_ADMIN),
        None => process.uid == 0,
    };
    if !process.no_new_privileges && !keeps_sys_admin {
        SeccompPoint::BeforeUserSwitch
    } else if filter.notifies() {
        SeccompPoint::BeforeReady
    } else {
        SeccompPoint::BeforeExec
    }
}

fn install_seccomp_at(init: &mut Init, point: SeccompPoint) -> StepResult {
    let Some(filter) = init.options.seccomp else { return Ok(()) };
    if seccomp_point(init.spec, filter) != point {
        return Ok(());
    }
    if !filter.notifies() {
        filter.install()?;
        init.filtered = true;
        return Ok(());
    }
    // From the install on, any call of the init may be one the profile notifies, and only
    // the agent can answer it: so the listener goes to the parent (which forwards it to the
    // agent at once) in a sendmsg prepared beforehand, with no other syscall in between.
    // sendmsg itself may not be notified (validation refuses that). Everything after it,
    // closing the listener included, is answered by the agent like the program's calls.
    let message = Channel::prepare(&FromInit::SeccompListener)?;
    let listener = filter.install()?;
    init.filtered = true;
    let listener = listener.ok_or("seccomp gave no listener for a notifying filter")?;
    init.channel.send_prepared(&message, listener.as_raw_fd())?;
    Ok(())
}

fn installs_at(init: &Init, point: SeccompPoint) -> bool {
    init.options.seccomp.is_some_and(|filter| seccomp_point(init.spec, filter) == point)
}

/// The cwd check needs getcwd, which a profile may refuse: while nothing filters the init
/// yet, enter cwd (as root) and check it, before the filter; `change_cwd` enters it again
/// as the user after.
fn install_seccomp_before_user_switch(init: &mut Init) -> StepResult {
    if installs_at(init, SeccompPoint::BeforeUserSwitch) && !init.cwd_entered {
        enter_cwd(init)?;
        init.cwd_checked = true;
    }
    install_seccomp_at(init, SeccompPoint::BeforeUserSwitch)
}

fn install_seccomp_before_ready(init: &mut Init) -> StepResult {
    install_seccomp_at(init, SeccompPoint::BeforeReady)
}

fn install_seccomp_before_exec(init: &mut Init) -> StepResult {
    install_seccomp_at(init, SeccompPoint::BeforeExec)
}

fn report_ready(init: &mut Init) -> StepResult {
    let steps = std::mem::take(&mut init.timings);
    Ok(init.channel.send(&FromInit::Ready { steps }, None)?)
}

/// Blocks reading exec.fifo (opened read-write by the parent, so it is its own writer and
/// never sees end-of-file) until `start` writes a byte into it.
fn wait_for_start(init: &mut Init) -> StepResult {
    let fifo = init.fifo.ok_or("a container init needs exec.fifo")?;
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(fifo, &mut byte) {
            Ok(1) => {
                init.started = true;
                return Ok(());
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => return Err("exec.fifo: unexpected end of file".into()),
            Err(errno) => return Err(crate::sys::SysError::new("read", "exec.fifo", errno).into()),
        }
    }
}

fn restore_signals(init: &mut Init) -> StepResult {
    // Rust ignores SIGPIPE at start-up, and an ignored signal stays ignored across execve.
    let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for signal in Signal::iterator().filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP)) {
        // SAFETY: installing SIG_DFL is always sound.
        match unsafe { sigaction(signal, &default) } {
            Ok(_) => {}
            // A profile that refuses the call: the program starts with the dispositions the
            // runtime had (SIGPIPE ignored), as it would have to live with them anyway.
            Err(_) if init.filtered => break,
            Err(errno) => {
                return Err(crate::sys::SysError::new("sigaction", signal.to_string(), errno).into())
            }
        }
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(init.options.sigmask), None)
        .sys("sigprocmask", "")?;
    Ok(())
}

/// Only stdio and the `--preserve-fds` ones survive execve (CVE-2024-21626 class).
///
/// Nothing in 3..3+N is touched: a descriptor the caller passed is open and not close-on-exec
/// (it came through the caller's execve), while every descriptor berth opens is close-on-exec,
/// the placeholders that kept berth's own above the range (`fill_fd_gaps`) among them. So
/// what the caller passed stays open and what it left closed is closed again in the program.
fn close_inherited_fds(init: &mut Init) -> StepResult {
    // Descriptors the init still needs: where close_range is refused and the fallback
    // cannot mark one close-on-exec, it closes the others but not these.
    let own: Vec<_> = [Some(init.channel.as_raw_fd()), init.fifo.map(|f| f.as_raw_fd())]
        .into_iter()
        .chain([init.shim.as_ref().map(Shim::as_raw_fd)])
        .flatten()
        .collect();
    crate::sys::process::cloexec_from(3 + init.options.preserve_fds, &own)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::sync::{channel_pair, FromParent};
    use crate::process::testing::load_spec;

    fn names(role: Role) -> Vec<&'static str> {
        steps_of(role).map(|(name, _)| name).collect()
    }

    /// Step names are fault-injection points and the first message of a failure: unique.
    #[test]
    fn step_names_are_unique() {
        let mut all: Vec<_> = STEPS.iter().map(|(name, _, _)| *name).collect();
        all.sort_unstable();
        let count = all.len();
        all.dedup();
        assert_eq!(all.len(), count, "a step name repeats");
    }

    /// The order the comments on STEPS explain, checked for both roles.
    #[test]
    fn steps_keep_their_order() {
        for role in [Role::Container, Role::Exec] {
            let steps = names(role);
            let at = |name: &str| steps.iter().position(|s| *s == name);
            assert_eq!(steps.first(), Some(&"waiting for the runtime's setup"), "{role:?}");
            assert_eq!(steps.last(), Some(&"installing seccomp"), "{role:?}");
            let before = |a: &str, b: &str| {
                if let (Some(a_at), Some(b_at)) = (at(a), at(b)) {
                    assert!(a_at < b_at, "{role:?}: {a} must come before {b}");
                }
            };
            before("joining namespaces", "making the process non-dumpable");
            before("preparing the rootfs", "running create hooks");
            before("running create hooks", "pivoting into the rootfs");
            before("pivoting into the rootfs", "setting up the console");
            before("setting sysctls", "masking and read-only paths");
            before("setting up the console", "making /dev read-only");
            before("setting rlimits", "switching user");
            before("setting the scheduler", "switching user");
            before("loading the exec shim", "installing seccomp before the user switch");
            before("installing seccomp before the user switch", "switching user");
            before("entering cwd as root", "switching user");
            before("switching user", "changing to cwd");
            before("changing to cwd", "finding the executable");
            before("setting capabilities", "setting no_new_privs");
            before("installing seccomp with a listener", "reporting ready");
            before("reporting ready", "waiting for start");
            before("waiting for start", "running startContainer hooks");
            before("closing inherited descriptors", "installing seccomp");
        }
    }

    #[test]
    fn an_exec_skips_the_container_wide_setup() {
        let exec = names(Role::Exec);
        let container = names(Role::Container);
        for only_container in [
            "creating the cgroup namespace",
            "joining a new session keyring",
            "setting hostname",
            "preparing the rootfs",
            "running create hooks",
            "pivoting into the rootfs",
            "waiting for start",
            "running startContainer hooks",
        ] {
            assert!(!exec.contains(&only_container), "{only_container}");
            assert!(container.contains(&only_container), "{only_container}");
        }
        assert!(exec.contains(&"entering the container's root"));
        assert!(!container.contains(&"entering the container's root"));
        assert!(exec.contains(&"reporting ready") && exec.contains(&"finding the executable"));
    }

    #[test]
    fn options_come_from_the_flags() {
        let mask = SigSet::empty();
        let flags = ContainerFlags { no_pivot: true, no_new_keyring: false, preserve_fds: 2 };
        let opts = InitOptions::container("web-1", flags, &mask, None, &[]);
        assert_eq!(opts.role(), Role::Container);
        assert!(opts.no_pivot && opts.preserve_fds == 2 && !opts.notifies());
        assert_eq!(opts.new_keyring.as_deref(), Some(c"web-1"));
        let flags = ContainerFlags { no_new_keyring: true, ..flags };
        let opts = InitOptions::container("web-1", flags, &mask, None, &[]);
        assert!(opts.new_keyring.is_none());
        let opts = InitOptions::exec(3, &mask, None);
        assert_eq!((opts.role(), opts.preserve_fds, opts.no_pivot), (Role::Exec, 3, false));
        assert!(opts.new_keyring.is_none() && opts.idmapped.is_empty());
    }

    /// The first step over a real socketpair, the runtime played by a thread.
    #[test]
    fn the_first_step_takes_bind_sources_until_setup_is_done() {
        let (_bundle, spec) = load_spec(|_| {});
        let mask = SigSet::empty();
        let opts = InitOptions::exec(0, &mask, None);
        let (parent, child) = channel_pair().unwrap();
        let runtime = std::thread::spawn(move || {
            let file = std::fs::File::open("/dev/null").unwrap();
            parent.send(&FromParent::BindSource { index: 2 }, Some(file.as_raw_fd())).unwrap();
            parent.send(&FromParent::SetupDone, None).unwrap();
            parent
        });
        let mut init = Init::new(&spec, &child, None, &opts, &[], Stage::Single(Setup::Awaited));
        wait_for_parent(&mut init).unwrap();
        assert_eq!(init.bind_sources.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2]);
        let parent = runtime.join().unwrap();

        // With nothing to set up the step reads nothing: what comes next is the next step's.
        parent.send(&FromParent::HooksDone { state: "{}".into() }, None).unwrap();
        let mut fast = Init::new(&spec, &child, None, &opts, &[], Stage::Single(Setup::Skipped));
        wait_for_parent(&mut fast).unwrap();
        assert!(fast.bind_sources.is_empty());
        assert_eq!(child.expect_hooks_done().unwrap(), "{}");

        // A second stage waits for InitPidSeen and refuses anything else.
        parent.send(&FromParent::SetupDone, None).unwrap();
        let mut second = Init::new(&spec, &child, None, &opts, &[], Stage::Second);
        let err = wait_for_parent(&mut second).unwrap_err();
        assert_eq!(err.to_string(), "sync protocol: expected InitPidSeen, got SetupDone");
        drop(parent);
        let err = wait_for_parent(&mut second).unwrap_err();
        assert!(matches!(err.downcast_ref::<SyncError>(), Some(SyncError::Closed)), "{err}");
    }

    /// Without create hooks the step sends nothing and waits for nothing.
    #[test]
    fn create_hooks_are_asked_for_only_when_there_are_some() {
        let (_bundle, spec) = load_spec(|_| {});
        let mask = SigSet::empty();
        let opts = InitOptions::exec(0, &mask, None);
        let (parent, child) = channel_pair().unwrap();
        let mut init = Init::new(&spec, &child, None, &opts, &[], Stage::Single(Setup::Skipped));
        run_create_hooks(&mut init).unwrap();
        drop(child);
        assert!(matches!(parent.recv::<FromInit>(), Err(SyncError::Closed)));
    }
}
