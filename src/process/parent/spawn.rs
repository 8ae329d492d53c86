//! Starting the container process: plan the clone (directly into the init, or through a
//! first stage when namespaces must be joined or a user namespace made before the others),
//! clone, let [`super::follow`] walk the protocol, and leave nothing running on failure.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::setup::CloneSetup;
use crate::cgroups::Entry;
use crate::namespaces;
use crate::process::child::{self, first_stage, init::InitOptions};
use crate::process::error::{ProcessError, SetupError};
use crate::process::sync::{channel_pair, SyncError};
use crate::spec::{NamespaceKind, ValidSpec};
use crate::sys::process::{clone_fork, clone_fork_into, Forked};
use crate::sys::SysContext;
use crate::trace;

/// How to start the init.
pub struct SpawnOptions<'a> {
    /// `<root>/<id>/exec.fifo`, already created (a container's init only).
    pub fifo: Option<&'a Path>,
    /// What the init takes from `create`'s flags ([`InitOptions::container`] or
    /// [`InitOptions::exec`]).
    pub init: InitOptions<'a>,
    /// The cgroup the clone is born in (v2) or moves itself into before anything else (v1).
    pub cgroup: Option<&'a Entry>,
    /// Places the clone where it must be before it goes on (a systemd unit, a resctrl
    /// group), in the parent once the clone exists. `None` when the caller has no such
    /// place: the clone then need not wait for the parent (see `setup.rs`).
    pub place: Option<&'a dyn Fn(Pid) -> Result<(), SetupError>>,
    /// Runs prestart and createRuntime hooks for the init `Pid`; returns the state JSON the
    /// init's own hooks get. Called only when the config has hooks to run during create.
    pub on_hooks: &'a dyn Fn(Pid) -> Result<String, SetupError>,
    /// Hands the seccomp notify listener of the init `Pid` to the agent. Called as soon as
    /// the listener arrives: the init may already be stopped in a call only the agent answers.
    pub on_listener: &'a dyn Fn(Pid, BorrowedFd) -> Result<(), SetupError>,
}

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
    let rootless = crate::rootless::detected;
    let setup = CloneSetup::new(spec, &plan, opts.init.role(), opts.place.is_some(), rootless);
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
    trace::phase("opening exec.fifo, namespaces, sync socket").map_err(ProcessError::setup)?;
    let flags = plan.clone_flags.bits() as u64;
    let (forked, born_inside) = match opts.cgroup.and_then(Entry::directory) {
        Some(directory) => clone_fork_into(flags, directory)?,
        None => (clone_fork(flags)?, false),
    };
    let first = match forked {
        Forked::Child => {
            drop(parent);
            child::run(child::CloneStart {
                spec,
                channel: &child,
                fifo: fifo.as_ref(),
                options: &opts.init,
                joined: &joined,
                cgroup: opts.cgroup,
                born_inside,
                two_stage: plan.two_stage,
                setup: setup.wait(),
            })
        }
        Forked::Parent(pid) => pid,
    };
    drop(child);
    let mut init_pid = None;
    super::follow::follow(spec, &parent, first, &plan, &setup, opts, &mut init_pid).map_err(|err| {
        // The init may have failed first, and our step only because it was gone.
        let err = match parent.failure_left() {
            Some(chain) => ProcessError::Init { chain },
            None => err,
        };
        // The init may be a grandchild (two stages): kill by pid, reap the direct child.
        if let Some(init_pid) = init_pid {
            let _ = kill(init_pid, Signal::SIGKILL);
        }
        let _ = kill(first, Signal::SIGKILL);
        let status = waitpid(first, None).ok();
        match err {
            ProcessError::Sync(SyncError::Closed) => {
                ProcessError::InitExited { status: describe(status) }
            }
            other => other,
        }
    })
}

fn describe(status: Option<WaitStatus>) -> String {
    match status {
        Some(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
        Some(WaitStatus::Signaled(_, sig, _)) => format!("killed by {sig}"),
        _ => "unknown status".into(),
    }
}

/// Whether the init of `spec` is started in two stages, and so is the runtime's grandchild
/// (a foreground `run` must then be a subreaper to wait for it).
pub fn init_is_grandchild(spec: &ValidSpec) -> bool {
    Plan::for_spec(spec).two_stage
}

/// How the namespaces of a config are set up.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Plan {
    /// Flags for the clone itself.
    pub(super) clone_flags: CloneFlags,
    /// The clone is a first stage that joins, unshares and forks the real init.
    pub(super) two_stage: bool,
    /// A new user namespace whose maps the parent writes.
    pub(super) new_user_ns: bool,
}

impl Plan {
    /// One clone straight into all new namespaces is the fast path. It cannot serve when
    /// the user namespace is joined, or made new while others are joined (they must be
    /// joined first, with the host's privileges), or when the pid or time namespace is
    /// joined (setns of those only affects children), or time offsets are set.
    pub(super) fn for_spec(spec: &ValidSpec) -> Self {
        let joins = |kind| spec.namespace(kind).is_some_and(|ns| ns.path.is_some());
        let new_user_ns = spec.creates_namespace(NamespaceKind::User);
        let joins_other =
            spec.namespaces.iter().any(|ns| ns.path.is_some() && ns.kind != NamespaceKind::User);
        // Time offsets must be written after unshare and before any process enters.
        let two_stage = joins(NamespaceKind::User)
            || joins(NamespaceKind::Pid)
            || joins(NamespaceKind::Time)
            || first_stage::writes_time_offsets(spec)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::testing::{load_spec, with_namespace, with_user_namespace};
    use serde_json::json;

    #[test]
    fn one_clone_makes_every_new_namespace_but_the_cgroup_one() {
        let (_bundle, spec) = load_spec(|c| with_namespace(c, json!({ "type": "cgroup" })));
        let plan = Plan::for_spec(&spec);
        assert!(!plan.two_stage && !plan.new_user_ns, "{plan:?}");
        let made = CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC;
        assert!(plan.clone_flags.contains(made), "{plan:?}");
        // The init unshares it once the runtime placed it in its cgroup.
        assert!(!plan.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP), "{plan:?}");
        assert!(!init_is_grandchild(&spec));
    }

    #[test]
    fn a_new_user_namespace_alone_is_still_one_clone() {
        let (_bundle, spec) = load_spec(with_user_namespace);
        let plan = Plan::for_spec(&spec);
        assert!(!plan.two_stage && plan.new_user_ns, "{plan:?}");
        assert!(plan.clone_flags.contains(CloneFlags::CLONE_NEWUSER), "{plan:?}");
    }

    #[test]
    fn joining_what_applies_to_children_takes_two_stages() {
        let joins = |ns: &'static str, path: &'static str| {
            load_spec(move |c| with_namespace(c, json!({ "type": ns, "path": path })))
        };
        for (ns, path) in [("pid", "/proc/self/ns/pid"), ("user", "/proc/self/ns/user")] {
            let (_bundle, spec) = joins(ns, path);
            let plan = Plan::for_spec(&spec);
            assert!(plan.two_stage, "{ns}: {plan:?}");
            assert_eq!(plan.clone_flags, CloneFlags::empty(), "{ns}: the first stage unshares");
            assert!(init_is_grandchild(&spec));
        }
        // A joined network namespace alone is joined by the init itself.
        let (_bundle, spec) = joins("network", "/proc/self/ns/net");
        assert!(!Plan::for_spec(&spec).two_stage);
        // With a new user namespace, the joined one must be joined first, as the host's root.
        let (_bundle, spec) = load_spec(|c| {
            with_user_namespace(c);
            with_namespace(c, json!({ "type": "network", "path": "/proc/self/ns/net" }));
        });
        let plan = Plan::for_spec(&spec);
        assert!(plan.two_stage && plan.new_user_ns, "{plan:?}");
    }

    #[test]
    fn wait_statuses_read_as_words() {
        let pid = Pid::from_raw(1);
        assert_eq!(describe(Some(WaitStatus::Exited(pid, 3))), "exit status 3");
        let killed = WaitStatus::Signaled(pid, Signal::SIGKILL, false);
        assert_eq!(describe(Some(killed)), "killed by SIGKILL");
        assert_eq!(describe(None), "unknown status");
    }
}
