//! The parent's walk through the protocol of [`crate::process::sync`], in its documented
//! order, from the clone to the init's `Ready` (and, for `exec`, to the program's execve).

use std::os::fd::AsFd;
use std::path::Path;

use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use super::setup::CloneSetup;
use super::spawn::{Plan, SpawnOptions, Spawned};
use crate::namespaces;
use crate::process::child::init::Role;
use crate::process::error::{ProcessError, SetupError};
use crate::process::sync::{Channel, FdKind, FromParent};
use crate::spec::ValidSpec;
use crate::sys::procfs::ProcFs;

/// A fault-injection point of the runtime's setup of the clone.
fn fault(name: &'static str) -> Result<(), ProcessError> {
    crate::trace::phase(name).map_err(ProcessError::setup)
}

/// Writes `process.oomScoreAdj` of the clone (a second stage inherits it) from the runtime, as
/// the host's root: the non-dumpable init's own /proc files belong to the host's root, which a
/// user-namespaced init cannot write, and lowering the value needs CAP_SYS_RESOURCE in the
/// host's user namespace.
fn set_oom_score_adj(procfs: &ProcFs, pid: Pid, adj: i32) -> Result<(), ProcessError> {
    let adj = adj.to_string();
    procfs
        .write_pid(pid.as_raw(), "oom_score_adj", adj.as_bytes())
        .map_err(|source| ProcessError::setup(SetupError::OomScoreAdj(source)))
}

/// Follows the clone `first` until its init is ready, doing for it first what `setup` lists
/// (and ending that with `SetupDone` only when the clone waits for it); `init_pid` is set as
/// soon as the init's pid is known (a grandchild on the two-stage path), for the caller to
/// kill it on failure.
pub(super) fn follow(
    spec: &ValidSpec,
    channel: &Channel,
    first: Pid,
    plan: &Plan,
    setup: &CloneSetup,
    opts: &SpawnOptions,
    init_pid: &mut Option<Pid>,
) -> Result<Spawned, ProcessError> {
    let role = opts.init.role();
    fault("clone")?;
    fault("cloning the init")?;
    // The runtime's /proc, proven procfs, for the files it writes for the clone.
    let procfs = match setup.id_maps || setup.oom_score_adj.is_some() {
        true => Some(ProcFs::open(Path::new("/proc"))?),
        false => None,
    };
    if let (true, Some(procfs)) = (setup.id_maps, &procfs) {
        if plan.two_stage {
            channel.expect_user_namespace_ready()?;
        }
        namespaces::write_id_maps(procfs, first, spec).map_err(ProcessError::setup)?;
        fault("writing id maps")?;
    }
    if let (Some(adj), Some(procfs)) = (setup.oom_score_adj, &procfs) {
        set_oom_score_adj(procfs, first, adj)?;
    }
    fault("after the clone")?;
    if let Some(place) = opts.place {
        place(first).map_err(ProcessError::Setup)?;
    }
    fault("after the clone (resctrl)")?;
    if setup.bind_sources {
        let sources = crate::rootfs::bind_sources(spec);
        super::bind_sources::send(channel, first, &sources)?;
    }
    channel.send_setup_done(setup.wait())?;
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
    crate::trace::init_steps(steps);
    fault("waiting for the init's Ready")?;
    fault("receiving Ready")?;
    if role == Role::Exec {
        super::report::expect_exec(channel)?;
    }
    Ok(Spawned { pid, console })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::os::fd::AsRawFd;
    use std::thread::JoinHandle;

    use nix::sys::signal::SigSet;
    use serde_json::json;

    use super::*;
    use crate::process::child::init::InitOptions;
    use crate::process::sync::{channel_pair, FromInit, Setup, SyncError};
    use crate::process::testing::load_spec;

    const FAST: Plan =
        Plan { clone_flags: nix::sched::CloneFlags::empty(), two_stage: false, new_user_ns: false };
    const TWO_STAGE: Plan = Plan { two_stage: true, ..FAST };

    /// How the fake clone is started: its plan, whether it is an `exec`, whether the caller
    /// places it.
    struct Fake<'a> {
        plan: &'a Plan,
        exec: bool,
        places: bool,
    }

    /// Follows a fake init: `init` plays its side of the protocol on a real socketpair,
    /// given what the runtime decided it waits for.
    fn follow_fake(
        spec: &ValidSpec,
        fake: Fake,
        init: impl FnOnce(Channel, Setup) + Send + 'static,
    ) -> (Result<Spawned, ProcessError>, Option<Pid>, Option<Pid>) {
        let (parent, child) = channel_pair().unwrap();
        let mask = SigSet::empty();
        let init_options = match fake.exec {
            true => InitOptions::exec(0, &mask, None),
            false => InitOptions::container("fake", Default::default(), &mask, None, &[]),
        };
        let setup = CloneSetup::new(spec, fake.plan, init_options.role(), fake.places, || false);
        let wait = setup.wait();
        let peer: JoinHandle<()> = std::thread::spawn(move || init(child, wait));
        let placed = Cell::new(None);
        let place = |pid| {
            placed.set(Some(pid));
            Ok(())
        };
        let on_hooks = |pid: Pid| Ok(format!("state of {pid}"));
        let on_listener = |_, _: std::os::fd::BorrowedFd| Ok(());
        let opts = SpawnOptions {
            fifo: None,
            init: init_options,
            cgroup: None,
            place: if fake.places { Some(&place) } else { None },
            on_hooks: &on_hooks,
            on_listener: &on_listener,
        };
        let mut init_pid = None;
        let first = Pid::from_raw(4242);
        let result = follow(spec, &parent, first, fake.plan, &setup, &opts, &mut init_pid);
        drop(parent);
        peer.join().unwrap();
        (result, init_pid, placed.get())
    }

    /// Nothing to set up: the init speaks first, and a `SetupDone` sent anyway would reach
    /// its `expect_hooks_done` and fail there.
    #[test]
    fn a_container_init_is_followed_through_hooks_and_console() {
        let (_bundle, spec) = load_spec(|c| {
            c["process"]["terminal"] = json!(true);
            c["hooks"] = json!({ "createRuntime": [{ "path": "/bin/true" }] });
        });
        let fake = Fake { plan: &FAST, exec: false, places: false };
        let (result, init_pid, placed) = follow_fake(&spec, fake, |init, setup| {
            assert_eq!(setup, Setup::Skipped);
            init.send(&FromInit::RunHooks, None).unwrap();
            assert_eq!(init.expect_hooks_done().unwrap(), "state of 4242");
            let pty = std::fs::File::open("/dev/null").unwrap();
            init.send(&FromInit::ConsoleMaster, Some(pty.as_raw_fd())).unwrap();
            init.send(&FromInit::Ready { steps: Vec::new() }, None).unwrap();
        });
        let spawned = result.unwrap();
        assert_eq!(spawned.pid, Pid::from_raw(4242));
        assert!(spawned.console.is_some());
        assert_eq!((init_pid, placed), (Some(spawned.pid), None));
    }

    /// A placement is done before `SetupDone`, which the init waits for.
    #[test]
    fn a_placed_init_goes_on_only_after_setup_done() {
        let (_bundle, spec) = load_spec(|_| {});
        let fake = Fake { plan: &FAST, exec: false, places: true };
        let (result, _, placed) = follow_fake(&spec, fake, |init, setup| {
            assert_eq!(setup, Setup::Awaited);
            assert!(init.expect_setup_done(setup).unwrap().is_empty());
            init.send(&FromInit::Ready { steps: Vec::new() }, None).unwrap();
        });
        assert_eq!(result.unwrap().pid, Pid::from_raw(4242));
        assert_eq!(placed, Some(Pid::from_raw(4242)));
    }

    #[test]
    fn a_second_stage_init_is_known_by_the_pid_it_reports() {
        let (_bundle, spec) = load_spec(|_| {});
        let fake = Fake { plan: &TWO_STAGE, exec: true, places: true };
        let (result, init_pid, placed) = follow_fake(&spec, fake, |init, setup| {
            init.expect_setup_done(setup).unwrap();
            init.send(&FromInit::InitPid(77), None).unwrap();
            init.expect_init_pid_seen().unwrap();
            init.send(&FromInit::Ready { steps: Vec::new() }, None).unwrap();
            // An exec'd process: end of file once the program runs.
        });
        assert_eq!(result.unwrap().pid, Pid::from_raw(77));
        assert_eq!(init_pid, Some(Pid::from_raw(77)));
        assert_eq!(placed, Some(Pid::from_raw(4242)), "the clone is placed, not the init");
    }

    /// A first stage with nothing to wait for reports the init's pid at once.
    #[test]
    fn a_first_stage_without_setup_reports_its_init_at_once() {
        let (_bundle, spec) = load_spec(|_| {});
        let fake = Fake { plan: &TWO_STAGE, exec: true, places: false };
        let (result, init_pid, _) = follow_fake(&spec, fake, |init, setup| {
            assert_eq!(setup, Setup::Skipped);
            init.send(&FromInit::InitPid(78), None).unwrap();
            init.expect_init_pid_seen().unwrap();
            init.send(&FromInit::Ready { steps: Vec::new() }, None).unwrap();
        });
        assert_eq!(result.unwrap().pid, Pid::from_raw(78));
        assert_eq!(init_pid, Some(Pid::from_raw(78)));
    }

    #[test]
    fn every_failure_is_one_process_error() {
        let (_bundle, spec) = load_spec(|_| {});
        let fast = || Fake { plan: &FAST, exec: false, places: false };
        let (result, _, _) = follow_fake(&spec, fast(), |init, _| {
            let chain = vec!["preparing the rootfs".into(), "mount /proc: EPERM".into()];
            init.send(&FromInit::Failed { chain }, None).unwrap();
        });
        let err = result.unwrap_err();
        assert_eq!(err.to_string(), "container process: preparing the rootfs: mount /proc: EPERM");

        let (result, _, _) = follow_fake(&spec, fast(), |_, _| {});
        assert!(matches!(result, Err(ProcessError::Sync(SyncError::Closed))), "{result:?}");

        let two_stage = Fake { plan: &TWO_STAGE, exec: false, places: true };
        let (result, _, _) = follow_fake(&spec, two_stage, |init, setup| {
            init.expect_setup_done(setup).unwrap();
            init.send(&FromInit::Ready { steps: Vec::new() }, None).unwrap();
        });
        let err = crate::causes::one_line(&result.unwrap_err());
        let expected = "sync with the container process: sync protocol: expected InitPid, got";
        assert!(err.starts_with(expected), "{err}");
    }

    #[test]
    fn a_failed_placement_by_the_runtime_is_its_setup_failing() {
        let (_bundle, spec) = load_spec(|_| {});
        let (parent, child) = channel_pair().unwrap();
        let mask = SigSet::empty();
        let place = |_| {
            let source = std::io::Error::from(std::io::ErrorKind::NotFound);
            let path = "/sys/fs/resctrl/g1/tasks".into();
            Err(crate::host::resctrl::RdtError::Io { what: "writing", path, source }.into())
        };
        let (no_hooks, no_listener) =
            (|_| Ok(String::new()), |_, _: std::os::fd::BorrowedFd| Ok(()));
        let opts = SpawnOptions {
            fifo: None,
            init: InitOptions::exec(0, &mask, None),
            cgroup: None,
            place: Some(&place),
            on_hooks: &no_hooks,
            on_listener: &no_listener,
        };
        let setup = CloneSetup::new(&spec, &FAST, Role::Exec, true, || false);
        assert_eq!(setup.wait(), Setup::Awaited);
        let result = follow(&spec, &parent, Pid::from_raw(4242), &FAST, &setup, &opts, &mut None);
        let err = result.unwrap_err();
        assert!(matches!(err, ProcessError::Setup(SetupError::Resctrl(_))), "{err:?}");
        assert_eq!(
            crate::causes::one_line(&err),
            "setting up the container process: linux.intelRdt: writing /sys/fs/resctrl/g1/tasks: \
             entity not found"
        );
        drop(parent);
        // The clone was never let go on.
        assert!(matches!(child.expect_setup_done(setup.wait()), Err(SyncError::Closed)));
    }
}
