//! The container's filesystem view, built inside the init's new mount namespace:
//! propagation, the config's mounts, /dev, pivot_root, then masked and read-only paths.
//!
//! Every config path is resolved inside the rootfs with openat2(2) `RESOLVE_IN_ROOT` and
//! mounted on through its fd, so no symlink in the image can redirect a mount to the host.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::spec::ValidSpec;
use crate::sys::mount as sys;
use crate::sys::SysError;

mod copyup;
mod devices;
mod idmap;
mod mountinfo;
mod mounts;
pub mod options;
mod paths;
mod pivot;
mod protect;

pub use idmap::detached_tree;
pub use options::KNOWN as MOUNT_OPTIONS;

#[cfg(test)]
mod tests;

/// A rootfs step that failed, naming the config path or the file it was about.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A syscall failed while handling `what` (e.g. `mounts[3] (/proc)`).
    #[error("{what}")]
    Sys {
        /// The config entry or file being handled.
        what: String,
        /// The failed call.
        #[source]
        source: SysError,
    },
    /// The config asks for something berth cannot do here.
    #[error("{what}: {reason}")]
    Invalid {
        /// The config entry.
        what: String,
        /// Why.
        reason: String,
    },
    /// A path inside the rootfs could not be resolved (or created) safely.
    #[error("{what}: resolving {path} inside the rootfs")]
    Resolve {
        /// The config entry being handled.
        what: String,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: SysError,
    },
    /// A host file needed for `what` could not be read.
    #[error("{what}: reading {path}")]
    Io {
        /// The config entry being handled.
        what: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Wraps a failed call as the error of config entry `what`.
fn sys_err(what: &str) -> impl Fn(SysError) -> RootfsError + '_ {
    move |source| RootfsError::Sys { what: what.to_string(), source }
}

/// Whether the config has a mount namespace of its own (new or joined). Without one, nothing
/// here mounts: the checks refused every field that would, and the root is only a chroot.
pub fn has_mount_namespace(spec: &ValidSpec) -> bool {
    spec.namespace(crate::spec::NamespaceKind::Mount).is_some()
}

/// The bind mounts of `mounts` that are not id-mapped: their index and host source path.
pub fn bind_sources(spec: &ValidSpec) -> Vec<(usize, PathBuf)> {
    let idmapped = |i: usize| spec.mount_idmaps.get(i).is_some_and(Option::is_some);
    (spec.mounts.iter().enumerate())
        .filter(|(i, m)| !idmapped(*i) && mounts::is_bind(spec, *i, m))
        .filter_map(|(i, m)| Some((i, spec.bundle.join(m.source().as_ref()?))))
        .collect()
}

/// Before pivot: sets root propagation, bind-mounts the rootfs onto itself, mounts every
/// entry of `mounts` in order, and populates /dev (default nodes, `linux.devices`, symlinks).
/// `idmapped[i]` is the id-mapped tree ([`detached_tree`]) that `mounts[i]` attaches;
/// `reachable` holds, by index, bind sources the runtime opened in the init's mount
/// namespace, used where the init itself may not look the source up (see [`bind_sources`]).
pub fn prepare(
    spec: &ValidSpec,
    idmapped: &[Option<OwnedFd>],
    reachable: &[(usize, OwnedFd)],
    host_mountinfo: Option<&str>,
) -> Result<(), RootfsError> {
    if !has_mount_namespace(spec) {
        return Ok(());
    }
    // Propagation first: every later mount must stay out of the host's namespace.
    mounts::set_root_propagation(spec)?;
    mounts::bind_rootfs(spec)?;
    // Opened after the self-bind so that lookups start on the new mount, not beneath it.
    let root = open_root(&spec.root, "root.path")?;
    // Read back once: each mount judges its destination against it.
    let root_path = paths::fd_target(root.as_fd()).map_err(|source| RootfsError::Resolve {
        what: "root.path".into(),
        path: spec.root.clone(),
        source,
    })?;
    let rootfs = (root.as_fd(), root_path.as_path());
    for (i, m) in spec.mounts.iter().enumerate() {
        let tree = idmapped.get(i).and_then(|t| t.as_ref()).map(|t| t.as_fd());
        let source = reachable.iter().find(|(at, _)| *at == i).map(|(_, fd)| fd.as_fd());
        mounts::mount_entry(spec, rootfs, (i, m), tree, source, host_mountinfo)?;
    }
    devices::create(spec, root.as_fd())
}

/// Makes the rootfs the process's `/`: pivot_root, or MS_MOVE + chroot when `no_pivot`;
/// only chroot when the config has no mount namespace (it shares the runtime's).
pub fn pivot(spec: &ValidSpec, no_pivot: bool) -> Result<(), RootfsError> {
    if !has_mount_namespace(spec) {
        return pivot::chroot_only(&spec.root);
    }
    if no_pivot {
        pivot::move_root(&spec.root)?;
    } else {
        pivot::pivot_root(&spec.root)?;
    }
    // The rootfs was made private so pivot_root (and the rootfs bind) would accept it; a
    // shared or unbindable propagation the config asked for is applied to the new root.
    mounts::finish_root_propagation(spec)
}

/// After pivot: masked paths, read-only paths, and `root.readonly`.
pub fn finish(spec: &ValidSpec) -> Result<(), RootfsError> {
    if !has_mount_namespace(spec) {
        return Ok(());
    }
    let root = open_root(Path::new("/"), "/")?;
    protect::mask(root.as_fd(), &spec.masked_paths)?;
    protect::readonly(root.as_fd(), &spec.readonly_paths)?;
    // Last: masks and read-only binds need mount points that a read-only root cannot gain.
    if spec.root_readonly {
        protect::readonly_root(root.as_fd())?;
    }
    Ok(())
}

/// After the console is set up: makes /dev read-only when its mount entry says `ro`.
pub fn readonly_dev(spec: &ValidSpec) -> Result<(), RootfsError> {
    if !has_mount_namespace(spec) {
        return Ok(());
    }
    let root = open_root(Path::new("/"), "/")?;
    mounts::readonly_dev(spec, root.as_fd())
}

fn open_root(path: &Path, what: &str) -> Result<OwnedFd, RootfsError> {
    sys::open(path, libc::O_PATH | libc::O_DIRECTORY).map_err(sys_err(what))
}
