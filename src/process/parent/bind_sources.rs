//! Bind sources the init of a new user namespace may not reach by path.
//!
//! The init is root only in its user namespace. A bind source below a directory that the
//! host's root owns with mode 0700 (a volume directory, a bundle made by a daemon) is closed
//! to it, although the config names it and the runtime's user may read it. So the runtime,
//! before the init starts mounting, enters the init's mount namespace for a moment, opens
//! each bind source there with O_PATH, and sends the descriptors over; the init binds from
//! `/proc/self/fd/N` where its own lookup is refused. Opened in the init's namespace, the
//! descriptors name the init's copies of the host mounts, which mount(2) requires of a bind
//! source, and the flags the kernel locked on those copies stay locked.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::unistd::Pid;

use crate::process::sync::{Channel, FromParent, SyncError};
use crate::sys::mount as sys;
use crate::sys::{SysError, SysResult};

/// Opens each of `sources` (index, host path) with O_PATH inside the mount namespace of
/// `pid`, and returns to the runtime's own namespace and working directory. A source that
/// does not open is left out: the init then reports it by path, as without this. When the
/// namespace cannot be entered (no CAP_SYS_ADMIN over it, say) nothing is opened, for the
/// same reason; only failing to come back is an error.
fn open_in_mount_namespace(
    pid: Pid,
    sources: &[(usize, PathBuf)],
) -> SysResult<Vec<(usize, OwnedFd)>> {
    let target = format!("/proc/{pid}/ns/mnt");
    let entered = (|| -> SysResult<_> {
        let own = sys::open(Path::new("/proc/thread-self/ns/mnt"), libc::O_RDONLY)?;
        let cwd = sys::open(Path::new("."), libc::O_PATH | libc::O_DIRECTORY)?;
        let theirs = sys::open(Path::new(&target), libc::O_RDONLY)?;
        nix::sched::setns(theirs.as_fd(), CloneFlags::CLONE_NEWNS)
            .map_err(|e| SysError::new("setns", &target, e))?;
        Ok((own, cwd))
    })();
    let (own, cwd) = match entered {
        Ok(back) => back,
        Err(err) => {
            let msg = format!("bind sources are looked up by the init only: {err}");
            crate::logging::log(crate::logging::Level::Debug, &msg);
            return Ok(Vec::new());
        }
    };
    let opened = (sources.iter())
        .filter_map(|(i, path)| Some((*i, sys::open(path, libc::O_PATH).ok()?)))
        .collect();
    // setns set the root and cwd to the namespace's root: go back to both.
    nix::sched::setns(own.as_fd(), CloneFlags::CLONE_NEWNS)
        .map_err(|e| SysError::new("setns", "the runtime's mount namespace", e))?;
    sys::fchdir(cwd.as_fd(), Path::new("."))?;
    Ok(opened)
}

/// Opens the bind sources of `sources` in the mount namespace of the init `pid` and sends
/// each to it as [`FromParent::BindSource`], before `SetupDone`.
pub(super) fn send(
    channel: &Channel,
    pid: Pid,
    sources: &[(usize, PathBuf)],
) -> Result<(), SyncError> {
    if sources.is_empty() {
        return Ok(());
    }
    for (index, fd) in open_in_mount_namespace(pid, sources)? {
        channel.send(&FromParent::BindSource { index }, Some(fd.as_raw_fd()))?;
    }
    Ok(())
}
