//! The parent side of process creation: clone into the init (directly, or through a first
//! stage when namespaces must be joined or a user namespace made before the others), write
//! the id maps, and follow the init through the sync protocol until it is ready.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::init::{become_root, expect_setup_done, Init, InitOptions, Role, Stage};
use super::sync::{channel_pair, Channel, FromInit, FromParent, SyncError};
use super::ProcessError;
use crate::cgroups::Entry;
use crate::namespaces::{self, OpenedNamespace};
use crate::spec::{NamespaceKind, ValidSpec};
use crate::sys::process::{clone_fork, clone_fork_into, close_all_except, Forked};
use crate::sys::procfs::ProcFs;
use crate::sys::SysContext;
use crate::trace;

/// How to start the init.
pub struct SpawnOptions<'a> {
    /// `<root>/<id>/exec.fifo`, already created (a container's init only).
    pub fifo: Option<&'a Path>,
    /// What the init takes from `create`'s flags.
    pub init: InitOptions<'a>,
    /// The cgroup the clone is born in (v2) or moves itself into before anything else (v1).
    pub cgroup: Option<&'a Entry>,
    /// Runs in the parent once the clone exists and before it may go on (resctrl placement).
    pub on_clone: &'a dyn Fn(Pid) -> Result<(), BoxError>,
    /// Runs prestart and createRuntime hooks for the init `Pid`; returns the state JSON the
    /// init's own hooks get. Called only when the config has hooks to run during create.
    pub on_hooks: &'a dyn Fn(Pid) -> Result<String, BoxError>,
    /// Hands the seccomp notify listener of the init `Pid` to the agent. Called as soon as
    /// the listener arrives: the init may already be stopped in a call only the agent answers.
    pub on_listener: &'a dyn Fn(Pid, BorrowedFd) -> Result<(), BoxError>,
}

/// A cause from a caller's hook, kept whole.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An init that reported ready and now blocks on exec.fifo.
#[derive(Debug)]
pub struct Spawned {
    /// Its pid in the runtime's pid namespace.
    pub pid: Pid,
    /// The pty master when `process.terminal` is true.
    pub console: Option<OwnedFd>,
}

/// Starts the container init and waits until it is ready (or failed, in which case nothing
/// of it is left running).
pub fn spawn(spec: &ValidSpec, opts: &SpawnOptions) -> Result<Spawned, ProcessError> {
    // Read-write: the open never blocks, and the init can later block reading from it
    // without reopening through /proc (which a non-dumpable init may not do).
    let fifo = match opts.fifo {
        Some(path) => Some(
            nix::fcntl::open(path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
                .sys("open", path.display())?,
        ),
        None => None,
    };
    let joined = namespaces::open_joined(spec)?;
    let (parent, child) = channel_pair()?;
    let plan = Plan::for_spec(spec);
    // The clone inherits this: it is never dumpable, not even before its own step makes it
    // so, while a process of the container could already open /proc/<pid>/exe (an exec
    // joins the container's pid namespace before that step; CVE-2019-5736).
    // Rootless, a new user namespace's maps are the runtime's to write only while the clone
    // is dumpable (else its /proc files belong to the host's root): it stays so until its
    // own step, with no process of the container in its new namespaces yet.
    let rootless_maps = plan.new_user_ns && crate::rootless::detected();
    if !rootless_maps {
        prctl::set_dumpable(false).map_err(|errno| {
            let errno = nix::errno::Errno::from_raw(errno);
            crate::sys::SysError::new("prctl(PR_SET_DUMPABLE)", "", errno)
        })?;
    }
    trace::phase("opening exec.fifo, namespaces, sync socket")
        .map_err(|e| ProcessError::Setup(Box::new(e)))?;
    let flags = plan.clone_flags.bits() as u64;
    let (forked, born_inside) = match opts.cgroup.and_then(Entry::directory) {
        Some(directory) => clone_fork_into(flags, directory)?,
        None => (clone_fork(flags)?, false),
    };
    let first = match forked {
        Forked::Child => {
            drop(parent);
            // First of all, so that everything the container does is in its cgroup.
            if let Some(Err(err)) = opts.cgroup.map(|e| e.join_self(born_inside)) {
                fail_in_clone(&child, &err);
            }
            // The clone holds copies of all the runtime's descriptors, the state dir's lock
            // and the cgroup files among them; only what the init uses may stay (or `start`
            // would wait for it).
            let mut keep = vec![child.as_raw_fd()];
            keep.extend(fifo.as_ref().map(|f| f.as_raw_fd()));
            keep.extend(joined.iter().map(|ns| ns.as_raw_fd()));
            keep.extend(opts.init.idmapped.iter().flatten().map(|t| t.as_raw_fd()));
            if let Err(err) = close_all_except(3 + opts.init.preserve_fds, &keep) {
                fail_in_clone(&child, &err);
            }
            let init = Init::new(spec, &child, fifo.as_ref(), &opts.init, &joined, Stage::Single);
            if plan.two_stage {
                first_stage(spec, init, &joined)
            }
            init.run()
        }
        Forked::Parent(pid) => pid,
    };
    drop(child);
    follow(spec, &parent, first, &plan, opts).map_err(|mut err| {
        // The init may have failed first, and our step only because it was gone.
        if let Some(chain) = parent.failure_left() {
            err.cause = FollowCause::Sync(SyncError::InitFailed { chain });
        }
        // The init may be a grandchild (two stages): kill by pid, reap the direct child.
        if let Some(init_pid) = err.init_pid {
            let _ = kill(init_pid, Signal::SIGKILL);
        }
        let _ = kill(first, Signal::SIGKILL);
        let status = waitpid(first, None).ok();
        err.into_process_error(status)
    })
}

/// Reports a failure of the clone before its init steps to the runtime, and ends the clone.
fn fail_in_clone(child: &Channel, err: &(dyn std::error::Error + 'static)) -> ! {
    let chain = crate::error::chain(err);
    let _ = child.send(&FromInit::Failed { chain }, None);
    // SAFETY: leave the clone without running the parent's destructors.
    unsafe { libc::_exit(1) }
}

/// Whether the init of `spec` is started in two stages, and so is the runtime's grandchild
/// (a foreground `run` must then be a subreaper to wait for it).
pub fn init_is_grandchild(spec: &ValidSpec) -> bool {
    Plan::for_spec(spec).two_stage
}

/// How the namespaces of a config are set up.
struct Plan {
    /// Flags for the clone itself.
    clone_flags: CloneFlags,
    /// The clone is a first stage that joins, unshares and forks the real init.
    two_stage: bool,
    /// A new user namespace whose maps the parent writes.
    new_user_ns: bool,
}

impl Plan {
    /// One clone straight into all new namespaces is the fast path. It cannot serve when
    /// the user namespace is joined, or made new while others are joined (they must be
    /// joined first, with the host's privileges), or when the pid or time namespace is
    /// joined (setns of those only affects children), or time offsets are set.
    fn for_spec(spec: &ValidSpec) -> Self {
        let joins = |kind| spec.namespace(kind).is_some_and(|ns| ns.path.is_some());
        let new_user_ns = spec.creates_namespace(NamespaceKind::User);
        let joins_other =
            spec.namespaces.iter().any(|ns| ns.path.is_some() && ns.kind != NamespaceKind::User);
        // Time offsets must be written after unshare and before any process enters.
        let two_stage = joins(NamespaceKind::User)
            || joins(NamespaceKind::Pid)
            || joins(NamespaceKind::Time)
            || writes_time_offsets(spec)
            || (new_user_ns && joins_other);
        // The cgroup namespace waits for the cgroup placement: the init unshares it.
        let clone_flags = if two_stage {
            CloneFlags::empty()
        } else {
            namespaces::new_namespace_flags(spec, &[NamespaceKind::Cgroup])
        };
        Plan { clone_flags, two_stage, new_user_ns }
    }
}

/// The first stage of the two-stage path: join, make the user namespace, unshare the rest,
/// then fork the init (pid and time namespaces apply to children only) and report its pid.
fn first_stage(spec: &ValidSpec, init: Init, joined: &[OpenedNamespace]) -> ! {
    let channel = init.channel;
    let result = (|| -> Result<Pid, Box<dyn std::error::Error + Send + Sync>> {
        let user = joined.iter().find(|ns| ns.kind() == NamespaceKind::User);
        // Rootless, only the joined user namespace gives the right to join the others (they
        // are its own); as root the others go first, with the host's privileges.
        let user_first = user.filter(|_| crate::rootless::detected());
        if let Some(user) = user_first {
            user.join()?;
        }
        for ns in joined.iter().filter(|ns| ns.kind() != NamespaceKind::User) {
            ns.join()?;
        }
        if let Some(user) = user.filter(|_| user_first.is_none()) {
            user.join()?;
        } else if spec.creates_namespace(NamespaceKind::User) {
            namespaces::unshare(CloneFlags::CLONE_NEWUSER)?;
            channel.send(&FromInit::UserNamespaceReady, None)?;
        }
        expect_setup_done(channel)?;
        if spec.namespace(NamespaceKind::User).is_some() {
            become_root()?;
        }
        namespaces::unshare(namespaces::new_namespace_flags(spec, &[NamespaceKind::User]))?;
        write_time_offsets(spec)?;
        match clone_fork(0)? {
            Forked::Child => Init { joined: &[], stage: Stage::Second, ..init }.run(),
            Forked::Parent(pid) => {
                trace::phase("forking the init (first stage)")?;
                Ok(pid)
            }
        }
    })();
    let code = match result {
        Ok(pid) => channel.send(&FromInit::InitPid(pid.as_raw()), None).map_or(1, |_| 0),
        Err(source) => {
            let err = super::init::StepError { step: "setting up namespaces", source };
            let _ = channel.send(&FromInit::Failed { chain: crate::error::chain(&err) }, None);
            1
        }
    };
    // SAFETY: leave the clone without running the parent's destructors.
    unsafe { libc::_exit(code) }
}

/// Whether `linux.timeOffsets` is to be written: only into a time namespace made for this
/// config. A joined one (an `exec`, or a path in the config) has its offsets already, and the
/// kernel takes them only before a process enters.
fn writes_time_offsets(spec: &ValidSpec) -> bool {
    !spec.time_offsets.is_empty() && spec.creates_namespace(NamespaceKind::Time)
}

/// Writes `linux.timeOffsets` for the time namespace just unshared. The switch to the user
/// namespace's root made this process non-dumpable, which leaves its /proc files owned by
/// the host's root and so unwritable from inside: dumpable only for the write.
fn write_time_offsets(spec: &ValidSpec) -> Result<(), crate::sys::SysError> {
    if !writes_time_offsets(spec) {
        return Ok(());
    }
    let in_user_ns = spec.namespace(NamespaceKind::User).is_some();
    let dumpable = |on: bool| {
        prctl::set_dumpable(on).map_err(|errno| {
            let errno = nix::errno::Errno::from_raw(errno);
            crate::sys::SysError::new("prctl(PR_SET_DUMPABLE)", on.to_string(), errno)
        })
    };
    if in_user_ns {
        dumpable(true)?;
        namespaces::write_time_offsets(&spec.time_offsets)?;
        return dumpable(false);
    }
    namespaces::write_time_offsets(&spec.time_offsets)
}

/// A failure while following the init, with the init's pid when it was known.
struct FollowError {
    init_pid: Option<Pid>,
    cause: FollowCause,
}

enum FollowCause {
    Sync(SyncError),
    Sys(crate::sys::SysError),
    Parent(Box<dyn std::error::Error + Send + Sync>),
}

impl FollowError {
    fn into_process_error(self, status: Option<WaitStatus>) -> ProcessError {
        match self.cause {
            FollowCause::Sync(SyncError::InitFailed { chain }) => ProcessError::Init { chain },
            FollowCause::Sync(SyncError::Closed) => {
                ProcessError::InitExited { status: describe(status) }
            }
            FollowCause::Sync(other) => ProcessError::Sync(other),
            FollowCause::Sys(err) => ProcessError::Sys(err),
            FollowCause::Parent(source) => ProcessError::Setup(source),
        }
    }
}

fn describe(status: Option<WaitStatus>) -> String {
    match status {
        Some(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Some(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        _ => "unknown status".into(),
    }
}

/// Writes `process.oomScoreAdj` of the clone (a second stage inherits it) from the runtime, as
/// the host's root: the non-dumpable init's own /proc files belong to the host's root, which a
/// user-namespaced init cannot write, and lowering the value needs CAP_SYS_RESOURCE in the
/// host's user namespace.
fn set_oom_score_adj(procfs: &ProcFs, pid: Pid, adj: i32) -> crate::sys::SysResult<()> {
    procfs.write_pid(pid.as_raw(), "oom_score_adj", adj.to_string().as_bytes())
}

/// Walks the protocol of [`super::sync`] in its documented order.
fn follow(
    spec: &ValidSpec,
    channel: &Channel,
    first: Pid,
    plan: &Plan,
    opts: &SpawnOptions,
) -> Result<Spawned, FollowError> {
    let role = opts.init.role;
    let mut init_pid = None;
    let fail = |init_pid: Option<Pid>| move |cause| FollowError { init_pid, cause };
    let fault = |init_pid: Option<Pid>, name| {
        trace::phase(name).map_err(|e| fail(init_pid)(FollowCause::Parent(Box::new(e))))
    };
    fault(None, "clone")?;
    fault(None, "cloning the init")?;
    let sync = |init_pid: Option<Pid>| {
        move |e: SyncError| FollowError { init_pid, cause: FollowCause::Sync(e) }
    };
    let oom_score_adj = spec.process.oom_score_adj.filter(|_| role == Role::Container);
    // The runtime's /proc, proven procfs, for the files it writes for the clone.
    let procfs = match plan.new_user_ns || oom_score_adj.is_some() {
        true => {
            Some(ProcFs::open(Path::new("/proc")).map_err(|e| fail(None)(FollowCause::Sys(e)))?)
        }
        false => None,
    };
    if let (true, Some(procfs)) = (plan.new_user_ns, &procfs) {
        if plan.two_stage {
            channel
                .expect("UserNamespaceReady", |m| *m == FromInit::UserNamespaceReady)
                .map_err(sync(None))?;
        }
        namespaces::write_id_maps(procfs, first, spec)
            .map_err(|e| fail(None)(FollowCause::Parent(Box::new(e))))?;
        fault(None, "writing id maps")?;
    }
    if let (Some(adj), Some(procfs)) = (oom_score_adj, &procfs) {
        set_oom_score_adj(procfs, first, adj).map_err(|source| {
            let field = super::init::FieldError { field: "process.oomScoreAdj", source };
            fail(None)(FollowCause::Parent(Box::new(field)))
        })?;
    }
    (opts.on_clone)(first).map_err(|e| fail(None)(FollowCause::Parent(e)))?;
    fault(None, "after the clone (resctrl)")?;
    if plan.new_user_ns && !plan.two_stage && role == Role::Container {
        let sources = crate::rootfs::bind_sources(spec);
        super::bind_sources::send(channel, first, &sources).map_err(sync(None))?;
    }
    channel.send(&FromParent::SetupDone, None).map_err(sync(None))?;
    let pid = if plan.two_stage {
        let (msg, _) =
            channel.expect("InitPid", |m| matches!(m, FromInit::InitPid(_))).map_err(sync(None))?;
        let FromInit::InitPid(raw) = msg else { unreachable!("checked by expect") };
        let pid = Pid::from_raw(raw);
        init_pid = Some(pid);
        // The first stage has done its part; reap it now.
        let _ = waitpid(first, None);
        fault(init_pid, "receiving the init's pid")?;
        channel.send(&FromParent::InitPidSeen, None).map_err(sync(init_pid))?;
        pid
    } else {
        first
    };
    if role == Role::Container && spec.hooks.run_during_create() {
        channel.expect("RunHooks", |m| *m == FromInit::RunHooks).map_err(sync(init_pid))?;
        let state = (opts.on_hooks)(pid).map_err(|e| fail(init_pid)(FollowCause::Parent(e)))?;
        channel.send(&FromParent::HooksDone { state }, None).map_err(sync(init_pid))?;
    }
    let console = if spec.process.terminal {
        let (_, fd) = channel
            .expect("ConsoleMaster", |m| *m == FromInit::ConsoleMaster)
            .map_err(sync(init_pid))?;
        let fd = fd.ok_or_else(|| {
            sync(init_pid)(SyncError::Malformed("ConsoleMaster without a descriptor".into()))
        })?;
        Some(fd)
    } else {
        None
    };
    if opts.init.seccomp.is_some_and(|f| f.notifies()) {
        let (_, fd) = channel
            .expect("SeccompListener", |m| *m == FromInit::SeccompListener)
            .map_err(sync(init_pid))?;
        let fd = fd.ok_or_else(|| {
            sync(init_pid)(SyncError::Malformed("SeccompListener without a descriptor".into()))
        })?;
        (opts.on_listener)(pid, fd.as_fd()).map_err(|e| fail(init_pid)(FollowCause::Parent(e)))?;
    }
    let (ready, _) =
        channel.expect("Ready", |m| matches!(m, FromInit::Ready { .. })).map_err(sync(init_pid))?;
    if let FromInit::Ready { steps } = ready {
        trace::init_steps(steps);
    }
    fault(Some(pid), "waiting for the init's Ready")?;
    fault(Some(pid), "receiving Ready")?;
    if role == Role::Exec {
        channel.expect_exec().map_err(sync(Some(pid)))?;
    }
    Ok(Spawned { pid, console })
}
