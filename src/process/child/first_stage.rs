//! The first stage of the two-stage path: when namespaces must be joined, or a user
//! namespace made before the others, the clone joins and unshares them itself, then forks
//! the init (pid and time namespaces apply to children only) and reports its pid.

use nix::sched::CloneFlags;
use nix::unistd::Pid;

use super::init::{become_root, Init, Stage, StepError};
use crate::namespaces::{self, OpenedNamespace};
use crate::process::sync::{FromInit, Setup};
use crate::spec::{NamespaceKind, ValidSpec};
use crate::sys::process::{clone_fork, Forked};

/// The step name a failure of the first stage is reported under.
const STEP: &str = "setting up namespaces";

/// Joins, makes the user namespace, waits for the parent's setup when `setup` says so,
/// unshares the rest, forks the init (which runs `init`'s steps as [`Stage::Second`]) and
/// reports its pid; never returns.
pub fn run(spec: &ValidSpec, init: Init, joined: &[OpenedNamespace], setup: Setup) -> ! {
    let channel = init.channel;
    let result = (|| -> Result<Pid, crate::process::BoxError> {
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
        // The parent sends bind sources only on the fast path: none arrive here.
        channel.expect_setup_done(setup)?;
        if spec.namespace(NamespaceKind::User).is_some() {
            become_root()?;
        }
        namespaces::unshare(namespaces::new_namespace_flags(spec, &[NamespaceKind::User]))?;
        write_time_offsets(spec)?;
        match clone_fork(0)? {
            Forked::Child => Init { joined: &[], stage: Stage::Second, ..init }.run(),
            Forked::Parent(pid) => {
                crate::trace::phase("forking the init (first stage)")?;
                Ok(pid)
            }
        }
    })();
    let code = match result {
        Ok(pid) => channel.send(&FromInit::InitPid(pid.as_raw()), None).map_or(1, |_| 0),
        Err(source) => {
            let err = StepError { step: STEP, source };
            let _ = channel.send(&FromInit::Failed { chain: crate::causes::chain(&err) }, None);
            1
        }
    };
    crate::sys::init::exit_now(code)
}

/// Whether `linux.timeOffsets` is to be written: only into a time namespace made for this
/// config. A joined one (an `exec`, or a path in the config) has its offsets already, and the
/// kernel takes them only before a process enters.
pub fn writes_time_offsets(spec: &ValidSpec) -> bool {
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
