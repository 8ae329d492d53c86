//! Id-mapped bind mounts (`mounts[].uidMappings`/`gidMappings`, `idmap`/`ridmap`): the
//! runtime clones the source tree detached and id-maps it with mount_setattr(2)
//! `MOUNT_ATTR_IDMAP` while it still has the host's privileges over the filesystem; the init
//! inherits the tree's fd and attaches it with move_mount(2) in place of the bind.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use super::{sys_err, RootfsError};
use crate::sys::mount as sys;
use crate::sys::mount_api::{self, MountAttr};

/// A detached copy of `source` (with its submounts when `rbind`), id-mapped through the
/// user namespace `userns` (the submounts too when `ridmap`). `what` names the entry.
pub fn detached_tree(
    what: &str,
    source: &Path,
    rbind: bool,
    userns: BorrowedFd<'_>,
    ridmap: bool,
) -> Result<OwnedFd, RootfsError> {
    let src = sys::open(source, libc::O_PATH).map_err(sys_err(what))?;
    let tree = mount_api::clone_tree(src.as_fd(), source, rbind).map_err(sys_err(what))?;
    let attr = MountAttr {
        attr_set: mount_api::ATTR_IDMAP,
        userns_fd: std::os::fd::AsRawFd::as_raw_fd(&userns) as u64,
        ..Default::default()
    };
    mount_api::mount_setattr(tree.as_fd(), source, ridmap, &attr).map_err(sys_err(what))?;
    Ok(tree)
}
