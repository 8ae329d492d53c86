//! `kill`: signal the init (or, with `--all`, every process of the container).

use std::os::unix::fs::MetadataExt;

use nix::sys::signal::kill as kill_pid;
use nix::unistd::Pid;

use super::{signal_init, still_running};
use crate::state::{ContainerId, StateStore};
use crate::sys::SysContext;
use crate::Error;

/// `berth kill [--all] ID SIGNAL`.
pub fn kill(store: &StateStore, id: &str, signal: i32, all: bool) -> Result<(), Error> {
    let id = ContainerId::parse(id)?;
    let state = store.read(&id)?;
    if !still_running(&state) {
        return Err(Error::WrongStatus { id: state.id, status: "stopped".into(), reason: "container not running" });
    }
    if all {
        signal_pid_namespace(state.pid, signal)?;
    }
    signal_init(&state, signal)
}

/// Until cgroups give the container's process list, `--all` means every process in the
/// init's pid namespace when the container has its own; else only the init.
fn signal_pid_namespace(init: i32, signal: i32) -> Result<(), Error> {
    let ns_of = |pid: &str| std::fs::metadata(format!("/proc/{pid}/ns/pid")).map(|m| m.ino()).ok();
    let Some(init_ns) = ns_of(&init.to_string()) else { return Ok(()) };
    if ns_of("self") == Some(init_ns) {
        return Ok(());
    }
    let signal = nix::sys::signal::Signal::try_from(signal).ok();
    let entries = std::fs::read_dir("/proc").map_err(|source| Error::Io { what: "reading", path: "/proc".into(), source })?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if pid != init && ns_of(&pid.to_string()) == Some(init_ns) {
            match kill_pid(Pid::from_raw(pid), signal) {
                Err(nix::errno::Errno::ESRCH) => {}
                other => other.sys("kill", pid)?,
            }
        }
    }
    Ok(())
}
