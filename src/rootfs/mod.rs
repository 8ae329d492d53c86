//! The container's filesystem view, built inside the init's new mount namespace:
//! propagation, the config's mounts, /dev, pivot_root, then masked and read-only paths.

use std::path::PathBuf;

use crate::spec::ValidSpec;
use crate::sys::SysError;

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
    /// A path inside the rootfs could not be resolved safely.
    #[error("resolving {path} inside the rootfs")]
    Resolve {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: SysError,
    },
}

/// Before pivot: sets root propagation, bind-mounts the rootfs onto itself, mounts every
/// entry of `mounts` in order, and populates /dev (default nodes, `linux.devices`, symlinks).
pub fn prepare(spec: &ValidSpec) -> Result<(), RootfsError> {
    let _ = spec;
    todo!()
}

/// Makes the rootfs the process's `/`: pivot_root, or MS_MOVE + chroot when `no_pivot`.
pub fn pivot(spec: &ValidSpec, no_pivot: bool) -> Result<(), RootfsError> {
    let _ = (spec, no_pivot);
    todo!()
}

/// After pivot: masked paths, read-only paths, and `root.readonly`.
pub fn finish(spec: &ValidSpec) -> Result<(), RootfsError> {
    let _ = spec;
    todo!()
}
