//! Namespaces: the ordered table of kinds, joining by path (setns), creating (unshare or
//! clone flags) and the uid/gid maps the parent writes for a new user namespace.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use crate::spec::{IdMap, NamespaceKind, TimeClock, ValidSpec};
use crate::sys::procfs::ProcFs;
use crate::sys::{SysContext, SysResult};

/// The `CLONE_NEW*` flag of `kind` (from the namespace table, [`crate::spec::NAMESPACES`]).
pub fn clone_flag(kind: NamespaceKind) -> CloneFlags {
    CloneFlags::from_bits_retain(kind.clone_flag())
}

/// The name of `kind` under `/proc/<pid>/ns/`.
pub fn proc_name(kind: NamespaceKind) -> &'static str {
    kind.proc_name()
}

/// The flags of every namespace the config asks to create, except `except`.
pub fn new_namespace_flags(spec: &ValidSpec, except: &[NamespaceKind]) -> CloneFlags {
    spec.namespaces
        .iter()
        .filter(|ns| ns.path.is_none() && !except.contains(&ns.kind))
        .fold(CloneFlags::empty(), |flags, ns| flags | clone_flag(ns.kind))
}

/// A namespace file opened before any setns, so that joining one (the mount namespace in
/// particular) cannot change how the next path resolves.
pub struct OpenedNamespace {
    kind: NamespaceKind,
    path: PathBuf,
    fd: OwnedFd,
}

/// Opens the `path` of every namespace the config joins, in config order.
pub fn open_joined(spec: &ValidSpec) -> SysResult<Vec<OpenedNamespace>> {
    spec.namespaces
        .iter()
        .filter_map(|ns| ns.path.as_ref().map(|path| (ns.kind, path)))
        .map(|(kind, path)| {
            let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .sys("open", path.display())?;
            Ok(OpenedNamespace { kind, path: path.clone(), fd })
        })
        .collect()
}

impl OpenedNamespace {
    /// The kind of namespace.
    pub fn kind(&self) -> NamespaceKind {
        self.kind
    }

    /// The open namespace file's descriptor number.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.fd)
    }

    /// setns(2) into it; see <https://man7.org/linux/man-pages/man2/setns.2.html>.
    pub fn join(&self) -> SysResult<()> {
        nix::sched::setns(self.fd.as_fd(), clone_flag(self.kind)).sys("setns", self.path.display())
    }
}

/// setns(2) into the pid namespace of process `pid` (`/proc/<pid>/ns/pid`): the caller's
/// children are born in it from now on; the caller itself stays where it is.
pub fn join_pid_namespace_of(pid: i32) -> SysResult<()> {
    let path = proc_file(Pid::from_raw(pid), "ns/pid");
    let fd = nix::fcntl::open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .sys("open", path.display())?;
    nix::sched::setns(fd, CloneFlags::CLONE_NEWPID).sys("setns", path.display())
}

/// unshare(2) the namespaces in `flags`.
pub fn unshare(flags: CloneFlags) -> SysResult<()> {
    if flags.is_empty() {
        return Ok(());
    }
    nix::sched::unshare(flags).sys("unshare", format!("{:#x}", flags.bits()))
}

/// The id map of a new user namespace could not be written.
#[derive(Debug, thiserror::Error)]
pub enum IdMapError {
    /// Writing the map file failed.
    #[error("{field}")]
    Write {
        /// `linux.uidMappings` or `linux.gidMappings`.
        field: &'static str,
        /// The write that failed.
        #[source]
        source: crate::sys::SysError,
    },
    /// The setuid helper an unprivileged caller needs for more than its own id failed.
    #[error("{field}: an unprivileged user maps more than its own id only through {helper}, within its ranges in {ranges}")]
    Helper {
        /// `linux.uidMappings` or `linux.gidMappings`.
        field: &'static str,
        /// `newuidmap` or `newgidmap`.
        helper: &'static str,
        /// `/etc/subuid` or `/etc/subgid`.
        ranges: &'static str,
        /// What the helper said.
        #[source]
        source: crate::sys::idmap_helper::HelperError,
    },
}

/// One of the two id maps.
struct MapKind {
    file: &'static str,
    field: &'static str,
    helper: &'static str,
    ranges: &'static str,
}

const UID_MAP: MapKind = MapKind {
    file: "uid_map",
    field: "linux.uidMappings",
    helper: "newuidmap",
    ranges: "/etc/subuid",
};
const GID_MAP: MapKind = MapKind {
    file: "gid_map",
    field: "linux.gidMappings",
    helper: "newgidmap",
    ranges: "/etc/subgid",
};

/// Writes `/proc/<pid>/uid_map` and `gid_map` from the config's mappings, through the
/// runtime's procfs handle. An unprivileged caller may itself write only a map of its own
/// id (a gid_map only after setgroups(2) is denied in the namespace, user_namespaces(7)); a
/// map of more goes through the setuid helpers newuidmap and newgidmap, as with runc.
pub fn write_id_maps(procfs: &ProcFs, pid: Pid, spec: &ValidSpec) -> Result<(), IdMapError> {
    let euid = nix::unistd::geteuid();
    let (uid, gid) = (euid.as_raw(), nix::unistd::getegid().as_raw());
    let unprivileged = !euid.is_root();
    write_id_map(procfs, pid, &UID_MAP, &spec.uid_mappings, unprivileged.then_some(uid))?;
    write_id_map(procfs, pid, &GID_MAP, &spec.gid_mappings, unprivileged.then_some(gid))
}

/// Writes one map; `own` is an unprivileged caller's own id.
fn write_id_map(
    procfs: &ProcFs,
    pid: Pid,
    kind: &MapKind,
    maps: &[IdMap],
    own: Option<u32>,
) -> Result<(), IdMapError> {
    let only_own = |id| matches!(maps, [m] if m.host_id == id && m.size == 1);
    if own.is_some_and(|id| !only_own(id)) {
        let triples: Vec<_> = maps.iter().map(|m| (m.container_id, m.host_id, m.size)).collect();
        return crate::sys::idmap_helper::map_ids(kind.helper, pid.as_raw(), &triples).map_err(
            |source| IdMapError::Helper {
                field: kind.field,
                helper: kind.helper,
                ranges: kind.ranges,
                source,
            },
        );
    }
    let write = || match write_map(procfs, pid, kind.file, maps) {
        Err(err)
            if kind.file == "gid_map"
                && err.errno == nix::errno::Errno::EPERM
                && crate::rootless::detected() =>
        {
            procfs.write_pid(pid.as_raw(), "setgroups", b"deny")?;
            write_map(procfs, pid, kind.file, maps)
        }
        other => other,
    };
    write().map_err(|source| IdMapError::Write { field: kind.field, source })
}

/// Writes the offsets of a time namespace just unshared (none of its processes exist yet)
/// to `/proc/self/timens_offsets`, through a procfs handle on `/proc`.
pub fn write_time_offsets(offsets: &[(TimeClock, i64, u32)]) -> SysResult<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let text: String = offsets
        .iter()
        .map(|(clock, secs, nanos)| {
            let name = match clock {
                TimeClock::Monotonic => "monotonic",
                TimeClock::Boottime => "boottime",
            };
            format!("{name} {secs} {nanos}\n")
        })
        .collect();
    ProcFs::open(Path::new("/proc"))?.write_own("timens_offsets", text.as_bytes())
}

fn proc_file(pid: Pid, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/{name}"))
}

/// A user namespace with the maps `uids` and `gids` and no process in it, as the fd that an
/// id-mapped mount takes: a helper child is forked into a new user namespace, its maps are
/// written, its namespace opened, and the child killed and reaped.
pub fn user_namespace_fd(uids: &[IdMap], gids: &[IdMap]) -> SysResult<OwnedFd> {
    use crate::sys::process::{clone_fork, Forked};
    let child = match clone_fork(CloneFlags::CLONE_NEWUSER.bits() as u64)? {
        Forked::Child => loop {
            // SAFETY: the helper only waits for its SIGKILL.
            unsafe { libc::pause() };
        },
        Forked::Parent(pid) => pid,
    };
    let opened = (|| {
        let procfs = ProcFs::open(Path::new("/proc"))?;
        write_map(&procfs, child, "uid_map", uids)?;
        write_map(&procfs, child, "gid_map", gids)?;
        let path = proc_file(child, "ns/user");
        nix::fcntl::open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .sys("open", path.display())
    })();
    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(child, None);
    opened
}

/// The map file `/proc/<pid>/<name>` takes all lines in one write(2).
fn write_map(procfs: &ProcFs, pid: Pid, name: &str, maps: &[IdMap]) -> SysResult<()> {
    let text: String =
        maps.iter().map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size)).collect();
    procfs.write_pid(pid.as_raw(), name, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_flag() {
        use NamespaceKind::*;
        let kinds = [User, Mount, Uts, Ipc, Pid, Network, Cgroup, Time];
        let all = kinds.iter().fold(0, |acc, k| {
            let bit = clone_flag(*k).bits();
            assert_eq!(acc & bit, 0, "{k:?} shares a flag");
            acc | bit
        });
        assert_eq!(all.count_ones(), 8);
    }
}
