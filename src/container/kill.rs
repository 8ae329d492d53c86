//! `kill`: signal the init (or, with `--all`, every process of the container).

use nix::unistd::Pid;

use super::{require_alive, signal_init};
use crate::cgroups::Cgroup;
use crate::state::{process_stat, ContainerId, Op, State, StateStore};
use crate::sys::process::kill_raw;
use crate::Error;

/// How far up the parent chain a process is followed in search of the init.
const MAX_ANCESTRY: usize = 256;

/// `berth kill [--all] ID SIGNAL`.
pub fn kill(store: &StateStore, id: &str, signal: i32, all: bool) -> Result<(), Error> {
    let id = ContainerId::parse(id)?;
    let state = store.read(&id)?;
    if all {
        // Processes may outlive an init that had no pid namespace: --all reaches them too.
        return signal_container(&state, signal);
    }
    require_alive(&state, Op::Kill)?;
    signal_init(&state, signal)
}

/// Signals every process of the container: all of its cgroup (proven) when berth made it, else only
/// the init and the processes of its pid namespace or below it (the cgroup may be one the
/// host's own processes live in, such as /system.slice). Without a cgroup (rootless, not
/// delegated) the same processes are found among all of the host's.
pub(super) fn signal_container(state: &State, signal: i32) -> Result<(), Error> {
    signal_recorded(state, super::recorded_cgroup(state)?.as_ref(), signal)
}

/// [`signal_container`] with the container's cgroup already proven (`recorded`, with the
/// directories berth made).
pub(super) fn signal_recorded(
    state: &State,
    recorded: Option<&(Cgroup, &[std::path::PathBuf])>,
    signal: i32,
) -> Result<(), Error> {
    match recorded {
        Some((cgroup, created)) if cgroup.is_owned(created) => signal_all(cgroup, signal),
        _ => {
            let cgroup = recorded.map(|(cgroup, _)| cgroup);
            signal_pids(&container_pids(cgroup, state.pid, state.pid_start_time)?, signal)
        }
    }
}

/// Signals every process of `cgroup`, frozen meanwhile so that none forks past the list.
/// A SIGKILL leaves the cgroup thawed, so the processes can die. Only for a cgroup berth
/// made.
pub(super) fn signal_all(cgroup: &Cgroup, signal: i32) -> Result<(), Error> {
    let was_frozen = cgroup.is_frozen();
    if !was_frozen {
        cgroup.freeze(true)?;
    }
    let result = cgroup.pids().map_err(Error::from).and_then(|pids| signal_pids(&pids, signal));
    if !was_frozen || signal == libc::SIGKILL {
        cgroup.freeze(false)?;
    }
    result
}

/// The processes of `cgroup` that belong to the container whose init is `init` (checked
/// against its start time): the init, the members of its pid namespace when it has its
/// own, and its descendants. Empty when the init is gone: then nothing in the cgroup can
/// be told from the host's processes. Without a cgroup, every process of the host is a
/// candidate.
pub(super) fn container_pids(
    cgroup: Option<&Cgroup>,
    init: i32,
    start: u64,
) -> Result<Vec<i32>, Error> {
    if process_stat(init).is_none_or(|s| s.start_time != start) {
        return Ok(Vec::new());
    }
    let own_ns = pid_namespace("self");
    let init_ns = pid_namespace(&init.to_string()).filter(|ns| Some(*ns) != own_ns);
    let candidates = match cgroup {
        Some(cgroup) => cgroup.pids()?,
        None => all_pids()?,
    };
    let mut pids: Vec<i32> = candidates
        .into_iter()
        .filter(|&pid| {
            pid == init
                || (init_ns.is_some() && pid_namespace(&pid.to_string()) == init_ns)
                || descends_from(pid, init)
        })
        .collect();
    if !pids.contains(&init) {
        pids.push(init);
    }
    Ok(pids)
}

/// Every pid in /proc.
fn all_pids() -> Result<Vec<i32>, Error> {
    let io = |source| Error::Io { what: "listing", path: "/proc".into(), source };
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        pids.extend(name.to_str().and_then(|n| n.parse::<i32>().ok()));
    }
    Ok(pids)
}

/// The inode of `/proc/<which>/ns/pid`.
fn pid_namespace(which: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{which}/ns/pid")).ok().map(|m| m.ino())
}

/// Whether `ancestor` is found up the parent chain of `pid`.
fn descends_from(pid: i32, ancestor: i32) -> bool {
    let mut current = pid;
    for _ in 0..MAX_ANCESTRY {
        match process_stat(current) {
            Some(stat) if stat.ppid == ancestor => return true,
            Some(stat) if stat.ppid > 1 => current = stat.ppid,
            _ => return false,
        }
    }
    false
}

/// The raw number goes to kill(2): converting it to nix's `Signal` turned every real-time
/// signal (SIGRTMIN+3, which systemd in a container takes as "halt") into signal 0.
fn signal_pids(pids: &[i32], signal: i32) -> Result<(), Error> {
    for &pid in pids {
        match kill_raw(Pid::from_raw(pid), signal) {
            Err(err) if err.errno == nix::errno::Errno::ESRCH => {}
            other => other?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_descends_from_this_process() {
        let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
        let (me, pid) = (std::process::id() as i32, child.id() as i32);
        let (down, up) = (descends_from(pid, me), descends_from(me, pid));
        let _ = child.kill();
        let _ = child.wait();
        assert!(down, "a child of this process is its descendant");
        assert!(!up, "this process is not its child's descendant");
    }
}
