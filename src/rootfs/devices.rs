//! /dev: the default nodes, `linux.devices`, and the standard symlinks. The nodes come
//! parsed and checked ([`Device`], built with the spec): here they are only made (mknod, or
//! a bind of the host's node where mknod is not allowed).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::paths::{create_in_root, open_in_root, Create};
use super::{sys_err, RootfsError};
use crate::spec::{Device, NamespaceKind, ValidSpec};
use crate::sys::{mount as sys, SysError};

/// The nodes every container gets (runc's defaults): null, zero, full, random, urandom, tty.
pub(crate) fn default_nodes() -> Vec<Device> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| Device::char_node(&Path::new("/dev").join(name), major, minor))
    .collect()
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
        if spec.devices.iter().all(|d| d.path != n.path) {
            let what = format!("{} (default device)", n.path.display());
            create_node(root, &what, &n, bind)?;
        }
    }
    for (i, d) in spec.devices.iter().enumerate() {
        let what = format!("linux.devices[{i}] ({})", d.path.display());
        create_node(root, &what, d, bind)?;
    }
    symlinks(root)
}

fn ignore_exists(r: Result<(), SysError>) -> Result<(), SysError> {
    match r {
        Err(e) if e.errno == Errno::EEXIST => Ok(()),
        r => r,
    }
}

fn create_node(
    root: BorrowedFd<'_>,
    what: &str,
    n: &Device,
    bind: bool,
) -> Result<(), RootfsError> {
    let (dir, name) = (&n.dir, &n.name);
    let resolve = |path: &Path, e| RootfsError::Resolve {
        what: what.into(),
        path: path.to_path_buf(),
        source: e,
    };
    let dir_fd = create_in_root(root, dir, Create::Dir).map_err(|e| resolve(dir, e))?;
    let bind_node = || {
        ignore_exists(sys::create_file_at(dir_fd.as_fd(), name, 0o644)).map_err(sys_err(what))?;
        let fd = open_in_root(root, &n.path).map_err(|e| resolve(&n.path, e))?;
        sys::mount_on(Some(&n.path), fd.as_fd(), &n.path, None, MsFlags::MS_BIND, None)
            .map_err(sys_err(what))
    };
    if bind {
        return bind_node();
    }
    match sys::mknodat(dir_fd.as_fd(), name, n.st_mode(), n.dev) {
        // An existing node (from the image or an earlier entry) is kept, as runc does.
        Err(e) if e.errno == Errno::EEXIST => return Ok(()),
        // A runtime that is itself in a user namespace (rootless podman's, with no user
        // namespace in the config) may not mknod either: bind, as runc does on EPERM.
        Err(e) if e.errno == Errno::EPERM => return bind_node(),
        r => r.map_err(sys_err(what))?,
    }
    sys::fchownat(dir_fd.as_fd(), name, n.uid, n.gid).map_err(sys_err(what))
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

    #[test]
    fn defaults_are_runc_s() {
        let d = default_nodes();
        assert_eq!(d.len(), 6);
        assert_eq!(d[0].path, Path::new("/dev/null"));
        assert_eq!(
            (d[0].dir.as_path(), d[0].name.as_path()),
            (Path::new("/dev"), Path::new("null"))
        );
        assert_eq!(d[0].dev, libc::makedev(1, 3));
        assert_eq!(d[5].path, Path::new("/dev/tty"));
        assert_eq!(d[5].dev, libc::makedev(5, 0));
        assert!(d.iter().all(|n| n.st_mode() == libc::S_IFCHR | 0o666));
        assert!(d.iter().all(|n| (n.uid, n.gid) == (0, 0)));
    }
}
