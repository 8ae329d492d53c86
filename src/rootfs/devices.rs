//! /dev: the default nodes, `linux.devices`, and the standard symlinks.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::paths::{create_in_root, device_location, open_in_root, Create};
use super::{sys_err, RootfsError};
use crate::spec::{NamespaceKind, ValidSpec};
use crate::sys::{mount as sys, SysError};

/// A device node to create: where, its type and permission bits, its number and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Absolute path inside the container (usually below /dev).
    pub path: PathBuf,
    /// File type bits (`S_IFCHR`, `S_IFBLK`, `S_IFIFO`) and permission bits.
    pub mode: libc::mode_t,
    /// Device number; 0 for a FIFO.
    pub dev: libc::dev_t,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The nodes every container gets (runc's defaults): null, zero, full, random, urandom, tty.
pub(crate) fn default_nodes() -> Vec<Node> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| Node {
        path: Path::new("/dev").join(name),
        mode: libc::S_IFCHR | 0o666,
        dev: libc::makedev(major, minor),
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// A `linux.devices` entry as a node; `fileMode` defaults to 0666 and keeps only permission bits.
pub(crate) fn node(device: &LinuxDevice) -> Result<Node, String> {
    let kind = match device.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => return Err("type must be c, b, u or p".into()),
    };
    let number =
        |n: i64, field: &str| u32::try_from(n).map_err(|_| format!("{field} {n} is out of range"));
    let dev = if kind == libc::S_IFIFO {
        0
    } else {
        libc::makedev(number(device.major(), "major")?, number(device.minor(), "minor")?)
    };
    Ok(Node {
        path: device.path().clone(),
        mode: kind | (device.file_mode().unwrap_or(0o666) & 0o7777),
        dev,
        uid: device.uid().unwrap_or(0),
        gid: device.gid().unwrap_or(0),
    })
}

/// Whether the config binds the host's /dev, in which case berth leaves /dev alone.
fn dev_is_bound(spec: &ValidSpec) -> bool {
    (spec.mounts.iter().enumerate())
        .any(|(i, m)| m.destination() == Path::new("/dev") && super::mounts::is_bind(spec, i, m))
}

/// Restores the umask when dropped; nodes are created with umask 0 so their modes are exact.
struct UmaskGuard(libc::mode_t);

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        sys::umask(self.0);
    }
}

/// Creates the default nodes, then `linux.devices`, then the /dev symlinks.
pub(super) fn create(spec: &ValidSpec, root: BorrowedFd<'_>) -> Result<(), RootfsError> {
    if dev_is_bound(spec) {
        return Ok(());
    }
    // mknod is not allowed in a user namespace: bind the host's node instead.
    let bind = spec.namespace(NamespaceKind::User).is_some();
    let _umask = UmaskGuard(sys::umask(0));
    for n in default_nodes() {
        if spec.devices.iter().all(|d| d.path() != &n.path) {
            let what = format!("{} (default device)", n.path.display());
            create_node(root, &what, &n, bind)?;
        }
    }
    for (i, d) in spec.devices.iter().enumerate() {
        let what = format!("linux.devices[{i}] ({})", d.path().display());
        let n = node(d).map_err(|reason| RootfsError::Invalid { what: what.clone(), reason })?;
        create_node(root, &what, &n, bind)?;
    }
    symlinks(root)
}

fn ignore_exists(r: Result<(), SysError>) -> Result<(), SysError> {
    match r {
        Err(e) if e.errno == Errno::EEXIST => Ok(()),
        r => r,
    }
}

fn create_node(root: BorrowedFd<'_>, what: &str, n: &Node, bind: bool) -> Result<(), RootfsError> {
    let invalid = |reason| RootfsError::Invalid { what: what.into(), reason };
    let (dir, name) = device_location(&n.path).map_err(invalid)?;
    let resolve = |path: &Path, e| RootfsError::Resolve {
        what: what.into(),
        path: path.to_path_buf(),
        source: e,
    };
    let dir_fd = create_in_root(root, &dir, Create::Dir).map_err(|e| resolve(&dir, e))?;
    let bind_node = || {
        ignore_exists(sys::create_file_at(dir_fd.as_fd(), &name, 0o644)).map_err(sys_err(what))?;
        let fd = open_in_root(root, &n.path).map_err(|e| resolve(&n.path, e))?;
        sys::mount_on(Some(&n.path), fd.as_fd(), &n.path, None, MsFlags::MS_BIND, None)
            .map_err(sys_err(what))
    };
    if bind {
        return bind_node();
    }
    match sys::mknodat(dir_fd.as_fd(), &name, n.mode, n.dev) {
        // An existing node (from the image or an earlier entry) is kept, as runc does.
        Err(e) if e.errno == Errno::EEXIST => return Ok(()),
        // A runtime that is itself in a user namespace (rootless podman's, with no user
        // namespace in the config) may not mknod either: bind, as runc does on EPERM.
        Err(e) if e.errno == Errno::EPERM => return bind_node(),
        r => r.map_err(sys_err(what))?,
    }
    sys::fchownat(dir_fd.as_fd(), &name, n.uid, n.gid).map_err(sys_err(what))
}

/// /dev/fd, stdin, stdout, stderr, ptmx and (when the host has it) core; existing entries win.
fn symlinks(root: BorrowedFd<'_>) -> Result<(), RootfsError> {
    let what = "/dev symlinks";
    let dev = create_in_root(root, Path::new("/dev"), Create::Dir)
        .map_err(|e| RootfsError::Resolve { what: what.into(), path: "/dev".into(), source: e })?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        ignore_exists(sys::symlinkat(Path::new(target), dev.as_fd(), Path::new(name)))
            .map_err(sys_err(what))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceBuilder;

    #[test]
    fn defaults_are_runc_s() {
        let d = default_nodes();
        assert_eq!(d.len(), 6);
        assert_eq!(d[0].path, Path::new("/dev/null"));
        assert_eq!(d[0].dev, libc::makedev(1, 3));
        assert_eq!(d[5].path, Path::new("/dev/tty"));
        assert_eq!(d[5].dev, libc::makedev(5, 0));
        assert!(d.iter().all(|n| n.mode == libc::S_IFCHR | 0o666));
    }

    #[test]
    fn spec_device_to_node() {
        let d = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10)
            .minor(229)
            .file_mode(0o100620u32)
            .uid(1u32)
            .gid(2u32)
            .build()
            .unwrap();
        let n = node(&d).unwrap();
        assert_eq!(n.mode, libc::S_IFCHR | 0o620);
        assert_eq!(n.dev, libc::makedev(10, 229));
        assert_eq!((n.uid, n.gid), (1, 2));
    }

    #[test]
    fn block_fifo_and_defaults() {
        let b = LinuxDeviceBuilder::default()
            .path("/dev/sda")
            .typ(LinuxDeviceType::B)
            .major(8)
            .minor(0)
            .build()
            .unwrap();
        let n = node(&b).unwrap();
        assert_eq!(n.mode, libc::S_IFBLK | 0o666);
        assert_eq!((n.uid, n.gid), (0, 0));
        let p = LinuxDeviceBuilder::default()
            .path("/dev/fifo")
            .typ(LinuxDeviceType::P)
            .major(4)
            .build()
            .unwrap();
        assert_eq!(node(&p).unwrap().dev, 0);
        assert_eq!(node(&p).unwrap().mode & libc::S_IFMT, libc::S_IFIFO);
    }

    #[test]
    fn bad_devices_are_refused() {
        let a =
            LinuxDeviceBuilder::default().path("/dev/x").typ(LinuxDeviceType::A).build().unwrap();
        assert!(node(&a).is_err());
        let neg = LinuxDeviceBuilder::default()
            .path("/dev/x")
            .typ(LinuxDeviceType::C)
            .major(-1)
            .build()
            .unwrap();
        assert!(node(&neg).is_err());
    }
}
