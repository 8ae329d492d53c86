//! Root propagation, the rootfs self-bind, and the config's `mounts`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

use super::copyup;
use super::options::{self, MountOptions};
use super::paths::{create_missing, deepest_existing, fd_target, open_in_root, path_below, Create};
use super::{mountinfo, sys_err, RootfsError};
use crate::spec::{NamespaceKind, ValidSpec};
use crate::sys::mount as sys;
use crate::sys::mount_api;

/// Filesystems that take `linux.mountLabel` as their SELinux `context=`.
const LABELLED: &[&str] = &["tmpfs", "devpts", "mqueue"];

/// Flags that a bind mount only honours through a second, remounting call.
const REMOUNT_ONLY: MsFlags = MsFlags::MS_BIND.union(MsFlags::MS_REC).union(MsFlags::MS_REMOUNT);

/// Sets `linux.rootfsPropagation` (default rslave) on `/`, so nothing mounted for the
/// container reaches the host. An unbindable tree cannot be the source of the rootfs bind
/// (or of any bind mount): it is made private now, and unbindable after pivot.
pub(super) fn set_root_propagation(spec: &ValidSpec) -> Result<(), RootfsError> {
    let what = "linux.rootfsPropagation";
    let flags = spec.rootfs_propagation.unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    let flags = if flags.contains(MsFlags::MS_UNBINDABLE) {
        MsFlags::MS_PRIVATE | MsFlags::MS_REC
    } else {
        flags
    };
    sys::mount(None, Path::new("/"), None, flags, None).map_err(sys_err(what))
}

/// Bind-mounts the rootfs onto itself so pivot_root can use it as the new root. When the
/// root propagation is shared, the rootfs's mount and its parent are made private first:
/// pivot_root and MS_MOVE refuse shared mounts there.
pub(super) fn bind_rootfs(spec: &ValidSpec) -> Result<(), RootfsError> {
    let what = format!("root.path ({})", spec.root.display());
    let shared = spec.rootfs_propagation.is_some_and(|p| p.contains(MsFlags::MS_SHARED));
    if shared {
        let mounts = mountinfo::read().map_err(|e| RootfsError::Io {
            what: what.clone(),
            path: "/proc/self/mountinfo".into(),
            source: e,
        })?;
        let parent = spec.root.parent().unwrap_or(Path::new("/"));
        for path in [spec.root.as_path(), parent] {
            if let Some(m) = mountinfo::containing(&mounts, path).filter(|m| m.shared) {
                sys::mount(None, &m.mount_point, None, MsFlags::MS_PRIVATE, None)
                    .map_err(sys_err(&what))?;
            }
        }
    }
    let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
    sys::mount(Some(&spec.root), &spec.root, None, flags, None).map_err(sys_err(&what))
}

/// Applies a shared or unbindable `linux.rootfsPropagation` to the new `/` after pivot: the
/// rootfs bind and pivot_root needed it otherwise until then.
pub(super) fn finish_root_propagation(spec: &ValidSpec) -> Result<(), RootfsError> {
    let what = "linux.rootfsPropagation";
    let deferred = MsFlags::MS_SHARED | MsFlags::MS_UNBINDABLE;
    match spec.rootfs_propagation {
        Some(flags) if flags.intersects(deferred) => {
            sys::mount(None, Path::new("/"), None, flags, None).map_err(sys_err(what))
        }
        _ => Ok(()),
    }
}

/// The files below /proc a mount may cover: the ones lxcfs-style tools bind their own
/// versions over (runc's list).
const PROC_FILES_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
];

/// One `mounts[i]` entry on its way to the kernel.
struct Entry<'a> {
    what: String,
    dest: &'a Path,
    opts: MountOptions,
    /// Whether it may land on /proc itself: a proc mount, or a bind of a procfs.
    procfs: bool,
    /// Where the rootfs open as `root` is ([`fd_target`] of it, read once for all mounts).
    root_path: &'a Path,
}

/// Whether `m`, `mounts[index]`, is a bind mount (type `bind`, or a `bind`/`rbind` option).
pub(super) fn is_bind(spec: &ValidSpec, index: usize, m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind") || options_of(spec, index).flags.contains(MsFlags::MS_BIND)
}

/// The parsed options of `mounts[index]` (spec's build parsed them, one per mount).
fn options_of(spec: &ValidSpec, index: usize) -> MountOptions {
    spec.mount_options.get(index).cloned().unwrap_or_default()
}

/// Mounts `mounts[index]` (`m`) inside the rootfs open at `root`, whose path is
/// `root_path`. `reachable` is the bind source opened by the runtime, for when the init may
/// not look it up by path; `host_mountinfo` the runtime's /proc/self/mountinfo, read before
/// the clone, if it has it.
pub(super) fn mount_entry(
    spec: &ValidSpec,
    (root, root_path): (BorrowedFd<'_>, &Path),
    (index, m): (usize, &Mount),
    idmapped: Option<BorrowedFd<'_>>,
    reachable: Option<BorrowedFd<'_>>,
    host_mountinfo: Option<&str>,
) -> Result<(), RootfsError> {
    let dest = m.destination().as_path();
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = options_of(spec, index).clone();
    let is_bind = typ == "bind" || opts.flags.contains(MsFlags::MS_BIND);
    let procfs = typ == "proc"
        || (is_bind && bind_source(spec, m).is_some_and(|s| crate::sys::procfs::is_procfs(&s)));
    let what = format!("mounts[{index}] ({})", dest.display());
    let mut entry = Entry { what, dest, opts, procfs, root_path };
    // A read-only /dev is populated first (nodes, /dev/pts, the console) and made read-only
    // at the end by `readonly_dev`, as runc does.
    if is_dev(m) {
        entry.opts.flags.remove(MsFlags::MS_RDONLY);
    }
    if let Some(label) = spec.mount_label.as_deref().filter(|_| LABELLED.contains(&typ)) {
        let data = &mut entry.opts.data;
        data.push_str(if data.is_empty() { "" } else { "," });
        data.push_str(&crate::host::lsm::mount_context(label));
    }
    if is_bind {
        let source = bind_source(spec, m).ok_or_else(|| RootfsError::Invalid {
            what: entry.what.clone(),
            reason: "a bind mount needs a source".into(),
        })?;
        return match idmapped {
            Some(tree) => attach(root, &entry, &source, tree),
            None => bind(root, &entry, &reachable_source(&source, reachable)),
        };
    }
    if matches!(typ, "proc" | "sysfs") {
        refuse_unless_plain_dir(root, &entry)?;
    }
    match typ {
        "cgroup" => {
            let cgroupns = spec.namespace(NamespaceKind::Cgroup).is_some();
            mount_cgroup(root, &entry, cgroupns, host_mountinfo)
        }
        // Mounting sysfs needs CAP_SYS_ADMIN over the network namespace's owner; without
        // that the host's /sys is bound instead, read-only all the way down.
        "sysfs" if !may_mount_sysfs(spec) => bind_host_sys(root, &entry),
        "" => Err(RootfsError::Invalid {
            what: entry.what.clone(),
            reason: "no type and not a bind mount".into(),
        }),
        _ => {
            let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
            mount_fs(root, &entry, &source, typ)
        }
    }
}

/// Whether `m` mounts on /dev.
fn is_dev(m: &Mount) -> bool {
    m.destination().as_path() == Path::new("/dev")
}

/// Remounts /dev read-only when the last entry on /dev asks for `ro` (which `mount_entry`
/// left out so that the nodes and mount points beneath could be made).
pub(super) fn readonly_dev(spec: &ValidSpec, root: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let Some((index, _)) = spec.mounts.iter().enumerate().rev().find(|(_, m)| is_dev(m)) else {
        return Ok(());
    };
    let opts = options_of(spec, index);
    if !opts.flags.contains(MsFlags::MS_RDONLY) {
        return Ok(());
    }
    let per_mount = MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | MsFlags::MS_NOATIME
        | MsFlags::MS_NODIRATIME
        | MsFlags::MS_RELATIME
        | MsFlags::MS_STRICTATIME;
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | (opts.flags & per_mount);
    let dest = Path::new("/dev");
    let what = format!("mounts[{index}] (/dev)");
    let root_path = &fd_target(root).map_err(|e| RootfsError::Resolve {
        what: what.clone(),
        path: dest.to_path_buf(),
        source: e,
    })?;
    let entry = Entry { what, dest, opts, procfs: false, root_path };
    let fd = reopen(root, &entry)?;
    sys::mount_on(None, fd.as_fd(), dest, None, flags, None).map_err(sys_err(&entry.what))
}

/// Whether the init will be privileged over its network namespace: without a user
/// namespace it is root over every one, the host's included (a sysfs of its own, as runc
/// mounts it, rather than the host's /sys with the host's cgroup trees writable in it);
/// in a user namespace only over a network namespace it creates there.
fn may_mount_sysfs(spec: &ValidSpec) -> bool {
    match (spec.namespace(NamespaceKind::User), spec.namespace(NamespaceKind::Network)) {
        (None, _) => true,
        (Some(_), Some(net)) => net.path.is_none(),
        (Some(_), None) => false,
    }
}

/// Binds the host's /sys for a `sysfs` entry that cannot be mounted, read-only, nosuid,
/// nodev and noexec recursively whatever the entry asked: every mount beneath it (the
/// host's cgroup hierarchies among them) is the host's, and the container must not write
/// any host file through it.
fn bind_host_sys(root: BorrowedFd<'_>, entry: &Entry<'_>) -> Result<(), RootfsError> {
    let locked = mount_api::ATTR_RDONLY
        | mount_api::ATTR_NOSUID
        | mount_api::ATTR_NODEV
        | mount_api::ATTR_NOEXEC;
    let mut entry = entry.recursive();
    entry.opts.rec_set |= locked;
    entry.opts.rec_clear &= !locked;
    bind(root, &entry, Path::new("/sys"))
}

impl Entry<'_> {
    fn recursive(&self) -> Self {
        let mut opts = self.opts.clone();
        opts.flags.insert(MsFlags::MS_BIND | MsFlags::MS_REC);
        Entry { what: self.what.clone(), opts, ..*self }
    }
}

/// A bind source: absolute, or relative to the bundle.
fn bind_source(spec: &ValidSpec, m: &Mount) -> Option<PathBuf> {
    m.source().as_ref().map(|s| spec.bundle.join(s))
}

fn dest_fd(root: BorrowedFd<'_>, entry: &Entry<'_>, last: Create) -> Result<OwnedFd, RootfsError> {
    let resolve_err = |e| RootfsError::Resolve {
        what: entry.what.clone(),
        path: entry.dest.to_path_buf(),
        source: e,
    };
    let root_path = entry.root_path;
    // Judged before anything is created for it, and again on what was opened.
    let found = deepest_existing(root, root_path, entry.dest).map_err(resolve_err)?;
    refuse_inside_proc(entry, &found.landed)?;
    if found.missing.is_empty() {
        // The destination itself was opened and judged.
        return Ok(found.fd);
    }
    let fd = create_missing(root, found, last).map_err(resolve_err)?;
    refuse_inside_proc(entry, &path_below(root_path, fd.as_fd()).map_err(resolve_err)?)?;
    Ok(fd)
}

/// Refuses a proc or sysfs destination that is not a plain directory of the image: one that
/// is, or passes through, a symlink (followed inside the rootfs, it would put the filesystem
/// elsewhere, and the masked and read-only paths under the wrong place), or that is not a
/// directory. runc and crun refuse the same (the CVE-2019-16884 and CVE-2019-19921 class).
/// A missing destination is fine: it is made a directory.
fn refuse_unless_plain_dir(root: BorrowedFd<'_>, entry: &Entry<'_>) -> Result<(), RootfsError> {
    const RESOLVE: u64 =
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_SYMLINKS;
    let refused = |what: &str| RootfsError::Invalid {
        what: entry.what.clone(),
        reason: format!("must be mounted on an ordinary directory, not {what}"),
    };
    match sys::openat2(root, entry.dest, libc::O_PATH, 0, RESOLVE) {
        Err(e) if e.errno == Errno::ELOOP => Err(refused("through a symlink")),
        Ok(fd)
            if !nix::sys::stat::fstat(&fd)
                .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR) =>
        {
            Err(refused("a file"))
        }
        _ => Ok(()),
    }
}

/// Refuses a destination that landed (after the image's symlinks) inside /proc: a mount
/// there would cover a procfs file the runtime or the container relies on (a bind over
/// /proc/sys/net would catch sysctl writes). Allowed: proc or a procfs bind at /proc itself,
/// and the lxcfs-style files of [`PROC_FILES_ALLOWED`].
fn refuse_inside_proc(entry: &Entry<'_>, landed: &Path) -> Result<(), RootfsError> {
    let Ok(below) = landed.strip_prefix("/proc") else { return Ok(()) };
    let reason = if below.as_os_str().is_empty() {
        if entry.procfs {
            return Ok(());
        }
        "only proc, or a bind of a procfs, may be mounted at /proc".to_string()
    } else {
        if PROC_FILES_ALLOWED.iter().any(|f| Path::new(f) == landed) {
            return Ok(());
        }
        let via = if landed == entry.dest {
            String::new()
        } else {
            format!("resolves through a symlink to {}, which ", landed.display())
        };
        format!(
            "{via}is inside /proc, where only {} may be mounted over",
            PROC_FILES_ALLOWED.join(", ")
        )
    };
    Err(RootfsError::Invalid { what: entry.what.clone(), reason })
}

/// Reopens the destination after a mount, so the fd names the new mount, not the directory
/// beneath it.
fn reopen(root: BorrowedFd<'_>, entry: &Entry<'_>) -> Result<OwnedFd, RootfsError> {
    open_in_root(root, entry.dest).map_err(|e| RootfsError::Resolve {
        what: entry.what.clone(),
        path: entry.dest.to_path_buf(),
        source: e,
    })
}

/// Applies the entry's propagation options, each by its own call.
fn propagate(root: BorrowedFd<'_>, entry: &Entry<'_>) -> Result<(), RootfsError> {
    if entry.opts.propagation.is_empty() {
        return Ok(());
    }
    let fd = reopen(root, entry)?;
    for &flags in &entry.opts.propagation {
        sys::mount_on(None, fd.as_fd(), entry.dest, None, flags, None)
            .map_err(sys_err(&entry.what))?;
    }
    // Recursive options cover the tmpfs and every hierarchy in it.
    set_tree_attributes(root, entry)
}

/// `source`, or when the init may not look it up (a directory on the way is closed to the
/// user namespace's root: the host's root owns it, mode 0700) the runtime's descriptor of it
/// as `/proc/self/fd/N`, which reaches the same file without searching those directories.
/// The path stays first, so a source that an earlier mount changed is seen as changed.
fn reachable_source(source: &Path, reachable: Option<BorrowedFd<'_>>) -> PathBuf {
    match (std::fs::metadata(source), reachable) {
        (Err(e), Some(fd)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)))
        }
        _ => source.to_path_buf(),
    }
}

fn bind(root: BorrowedFd<'_>, entry: &Entry<'_>, source: &Path) -> Result<(), RootfsError> {
    let is_dir = std::fs::metadata(source)
        .map_err(|e| RootfsError::Io { what: entry.what.clone(), path: source.into(), source: e })?
        .is_dir();
    let fd = dest_fd(root, entry, if is_dir { Create::Dir } else { Create::File })?;
    let flags = MsFlags::MS_BIND | (entry.opts.flags & MsFlags::MS_REC);
    sys::mount_on(Some(source), fd.as_fd(), entry.dest, None, flags, None)
        .map_err(sys_err(&entry.what))?;
    remount_bind(root, entry)?;
    propagate(root, entry)?;
    set_tree_attributes(root, entry)
}

/// Attaches the id-mapped copy of `source` that the runtime prepared, in place of a bind,
/// then applies the entry's flags like [`bind`].
fn attach(
    root: BorrowedFd<'_>,
    entry: &Entry<'_>,
    source: &Path,
    tree: BorrowedFd<'_>,
) -> Result<(), RootfsError> {
    let is_dir = std::fs::metadata(source)
        .map_err(|e| RootfsError::Io { what: entry.what.clone(), path: source.into(), source: e })?
        .is_dir();
    let fd = dest_fd(root, entry, if is_dir { Create::Dir } else { Create::File })?;
    mount_api::move_mount(tree, fd.as_fd(), entry.dest).map_err(sys_err(&entry.what))?;
    remount_bind(root, entry)?;
    propagate(root, entry)?;
    set_tree_attributes(root, entry)
}

/// The recursive options (`rro`, `rnosuid`, `rnoatime`, …): one mount_setattr(2) with
/// `AT_RECURSIVE` on the new mount and everything beneath it.
fn set_tree_attributes(root: BorrowedFd<'_>, entry: &Entry<'_>) -> Result<(), RootfsError> {
    let (set, clear) = (entry.opts.rec_set, entry.opts.rec_clear);
    if set == 0 && clear == 0 {
        return Ok(());
    }
    let fd = reopen(root, entry)?;
    let attr = mount_api::MountAttr { attr_set: set, attr_clr: clear, ..Default::default() };
    mount_api::mount_setattr(fd.as_fd(), entry.dest, true, &attr).map_err(sys_err(&entry.what))
}

/// The second call a bind mount needs for ro/nosuid/nodev/noexec/atime flags, keeping the
/// flags the kernel locked on the source.
fn remount_bind(root: BorrowedFd<'_>, entry: &Entry<'_>) -> Result<(), RootfsError> {
    let asked = entry.opts.flags - REMOUNT_ONLY;
    if asked.is_empty() {
        return Ok(());
    }
    let fd = reopen(root, entry)?;
    let current = sys::fstatvfs_flags(fd.as_fd(), entry.dest).map_err(sys_err(&entry.what))?;
    let kept = options::kept_flags(current, asked, entry.opts.cleared);
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | asked | kept;
    sys::mount_on(None, fd.as_fd(), entry.dest, None, flags, None).map_err(sys_err(&entry.what))
}

fn mount_fs(
    root: BorrowedFd<'_>,
    entry: &Entry<'_>,
    source: &Path,
    typ: &str,
) -> Result<(), RootfsError> {
    let fd = dest_fd(root, entry, Create::Dir)?;
    if entry.opts.copy_up && typ != "tmpfs" {
        return Err(RootfsError::Invalid {
            what: entry.what.clone(),
            reason: format!("tmpcopyup needs a tmpfs, not {typ}"),
        });
    }
    // Opened before the mount, this fd keeps naming the image's directory beneath it.
    let image_dir = match entry.opts.copy_up {
        true => Some(copyup::open_dir(fd.as_fd(), Path::new(".")).map_err(sys_err(&entry.what))?),
        false => None,
    };
    let data = Some(entry.opts.data.as_str()).filter(|d| !d.is_empty());
    match sys::mount_on(Some(source), fd.as_fd(), entry.dest, Some(typ), entry.opts.flags, data) {
        // A user namespace that does not own the IPC namespace may not mount mqueue: the
        // host's /dev/mqueue is bound instead, as runc does.
        Err(e) if e.errno == Errno::EPERM && typ == "mqueue" => {
            let host = Path::new("/dev/mqueue");
            if !host.is_dir() {
                return Err(RootfsError::Invalid {
                    what: entry.what.clone(),
                    reason: "mqueue needs an IPC namespace of the container's user namespace, \
                             and the runtime has no /dev/mqueue to bind instead"
                        .into(),
                });
            }
            return bind(root, &entry.recursive(), host);
        }
        // The same for sysfs where the kernel refuses it (a network namespace of another
        // user namespace, or a host /sys too covered to be shown again).
        Err(e) if e.errno == Errno::EPERM && typ == "sysfs" => return bind_host_sys(root, entry),
        result => result.map_err(sys_err(&entry.what))?,
    }
    if let Some(image_dir) = image_dir {
        let tmpfs = reopen(root, entry)?;
        copyup::copy_tree(image_dir, tmpfs.as_fd(), entry.dest).map_err(sys_err(&entry.what))?;
    }
    propagate(root, entry)?;
    set_tree_attributes(root, entry)
}

/// `cgroup`: cgroup2 on a pure v2 host; otherwise a tmpfs holding each host hierarchy
/// (v1 controllers, named hierarchies, and a hybrid host's unified cgroup2). In a cgroup
/// namespace (`cgroupns`) a new mount of a hierarchy shows the namespace's root, the
/// container's cgroup. Without one a new v1 mount would show the host's whole hierarchy
/// (every other cgroup, and the root's unlimited memory.limit_in_bytes), so, like runc,
/// the container's own cgroup directory of each hierarchy is bound there instead. The
/// hierarchies are those of `host_mountinfo` (the runtime's mount table, which the init's
/// namespace copied, read before the clone) or else of the init's own: on a node with a
/// thousand mounts a read of mountinfo was a tenth of the CPU time of a `run`.
fn mount_cgroup(
    root: BorrowedFd<'_>,
    entry: &Entry<'_>,
    cgroupns: bool,
    host_mountinfo: Option<&str>,
) -> Result<(), RootfsError> {
    let host = Path::new("/sys/fs/cgroup");
    let io_err = |path: &'static str| {
        let what = entry.what.clone();
        move |e| RootfsError::Io { what, path: path.into(), source: e }
    };
    if sys::is_cgroup2(host).map_err(sys_err(&entry.what))? {
        // Only where the kernel refuses the mount (a user namespace without its own cgroup
        // namespace): bind the container's own cgroup, found then.
        let own_or_host = || -> Result<PathBuf, RootfsError> {
            let mounts = mountinfo::read().map_err(io_err("/proc/self/mountinfo"))?;
            let own = std::fs::read_to_string("/proc/self/cgroup")
                .map_err(io_err("/proc/self/cgroup"))?;
            let h = mounts.iter().rev().find(|m| m.fstype == "cgroup2" && m.mount_point == host);
            Ok(h.and_then(|h| mountinfo::own_cgroup(h, &own)).unwrap_or_else(|| host.into()))
        };
        mount_hierarchy(root, entry, "cgroup2", "", own_or_host)?;
        return set_tree_attributes(root, entry);
    }
    let readonly = entry.opts.flags.contains(MsFlags::MS_RDONLY);
    let tmpfs = Entry {
        what: entry.what.clone(),
        dest: entry.dest,
        opts: MountOptions {
            flags: entry.opts.flags - MsFlags::MS_RDONLY,
            data: "mode=755".into(),
            ..MountOptions::default()
        },
        procfs: false,
        root_path: entry.root_path,
    };
    mount_fs(root, &tmpfs, Path::new("tmpfs"), "tmpfs")?;

    let mounts = match host_mountinfo {
        Some(text) => mountinfo::parse(text),
        None => mountinfo::read().map_err(io_err("/proc/self/mountinfo"))?,
    };
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(io_err("/proc/self/cgroup"))?;
    let hierarchies = mounts.iter().filter(|m| {
        (m.fstype == "cgroup" || m.fstype == "cgroup2") && m.mount_point.parent() == Some(host)
    });
    let dir = reopen(root, entry)?;
    for h in hierarchies {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        let sub = entry.dest.join(name);
        let sub_entry =
            Entry { what: entry.what.clone(), dest: &sub, opts: entry.opts.clone(), ..*entry };
        let own_dir = mountinfo::own_cgroup(h, &own);
        match own_dir {
            // A hierarchy the container has no cgroup of (berth places it in the v1
            // controllers only: the named systemd one and a hybrid host's unified one stay
            // at the host's root) is left out; runc 1.1 leaves the unified one out too.
            Some(own_dir) if !cgroupns && own_dir == h.mount_point => continue,
            Some(own_dir) if !cgroupns => bind(root, &sub_entry.recursive(), &own_dir)?,
            _ => {
                let data =
                    if h.fstype == "cgroup" { v1_options(&h.super_options) } else { String::new() };
                let fallback = || Ok(own_dir.clone().unwrap_or_else(|| h.mount_point.clone()));
                mount_hierarchy(root, &sub_entry, &h.fstype, &data, fallback)?;
            }
        }
        // A co-mounted hierarchy (cpu,cpuacct) is also reachable by each controller's name.
        let name = name.to_string_lossy();
        for controller in name.split(',').filter(|c| *c != name && !c.contains('=')) {
            match sys::symlinkat(Path::new(name.as_ref()), dir.as_fd(), Path::new(controller)) {
                Err(e) if e.errno != Errno::EEXIST => return Err(sys_err(&entry.what)(e)),
                _ => {}
            }
        }
    }
    if readonly {
        let fd = reopen(root, entry)?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | tmpfs.opts.flags;
        sys::mount_on(None, fd.as_fd(), entry.dest, None, flags, None)
            .map_err(sys_err(&entry.what))?;
    }
    // Recursive options cover the tmpfs and every hierarchy in it.
    set_tree_attributes(root, entry)
}

/// Mounts one cgroup hierarchy; where the kernel refuses (a user namespace without its own
/// cgroup namespace) the directory `fallback` names is bound instead, as runc does.
fn mount_hierarchy(
    root: BorrowedFd<'_>,
    entry: &Entry<'_>,
    fstype: &str,
    data: &str,
    fallback: impl FnOnce() -> Result<PathBuf, RootfsError>,
) -> Result<(), RootfsError> {
    let fd = dest_fd(root, entry, Create::Dir)?;
    let flags = entry.opts.flags - REMOUNT_ONLY;
    let data = Some(data).filter(|d| !d.is_empty());
    match sys::mount_on(Some(Path::new(fstype)), fd.as_fd(), entry.dest, Some(fstype), flags, data)
    {
        Ok(()) => propagate(root, entry),
        Err(e) if e.errno == Errno::EPERM => bind(root, &entry.recursive(), &fallback()?),
        Err(e) => Err(sys_err(&entry.what)(e)),
    }
}

/// A v1 hierarchy's superblock options as mount data: its controllers and name, without the
/// access mode and the host's release agent.
fn v1_options(super_options: &str) -> String {
    super_options
        .split(',')
        .filter(|o| *o != "rw" && *o != "ro" && !o.starts_with("release_agent="))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(dest: &Path, procfs: bool) -> Entry<'_> {
        let root_path = Path::new("/");
        Entry { what: "mounts[0]".into(), dest, opts: MountOptions::default(), procfs, root_path }
    }

    #[test]
    fn destinations_inside_proc_are_refused_but_the_allowed_ones() {
        let at = |dest: &str, landed: &str, procfs: bool| {
            refuse_inside_proc(&entry(Path::new(dest), procfs), Path::new(landed)).is_ok()
        };
        assert!(at("/proc", "/proc", true));
        assert!(!at("/proc", "/proc", false));
        assert!(at("/proc/uptime", "/proc/uptime", false));
        assert!(at("/proc/sys/kernel/ns_last_pid", "/proc/sys/kernel/ns_last_pid", false));
        assert!(!at("/proc/sys", "/proc/sys", false));
        assert!(!at("/mnt/ps", "/proc/sys", true));
        assert!(!at("/proc/self/attr/current", "/proc/1/attr/current", false));
        assert!(at("/procfs", "/procfs", false));
        assert!(at("/data", "/srv/data", false));
        let err = refuse_inside_proc(&entry(Path::new("/mnt/ps"), false), Path::new("/proc/sys"));
        let text = err.unwrap_err().to_string();
        assert!(text.starts_with("mounts[0]: resolves through a symlink to /proc/sys"), "{text}");
    }

    #[test]
    fn v1_options_keep_controllers_and_name() {
        assert_eq!(v1_options("rw,cpu,cpuacct"), "cpu,cpuacct");
        assert_eq!(v1_options("rw,xattr,release_agent=/x,name=systemd"), "xattr,name=systemd");
    }
}
