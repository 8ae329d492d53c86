//! `tmpcopyup`: a tmpfs mounted over a directory of the image starts with a copy of what it
//! covers, owners and modes kept, so `/tmp` or `/run` of an image keep their content.
//!
//! Both trees are reached through `/proc/self/fd/N` of descriptors taken before and after
//! the mount; the walk never follows a symlink of the image (links are copied as links).

use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::sys::mount as sys;

/// The directory a tmpfs is about to cover, held open so its content stays reachable.
pub(super) struct Covered(OwnedFd);

impl Covered {
    /// Opens the directory `dest` refers to, before the tmpfs hides it.
    pub(super) fn hold(dest: BorrowedFd<'_>) -> std::io::Result<Self> {
        let path = sys::fd_path(dest);
        let dir = fs::File::open(&path)?;
        Ok(Covered(dir.into()))
    }

    /// Copies everything under the covered directory into the mount `new_root` refers to.
    pub(super) fn copy_into(&self, new_root: BorrowedFd<'_>) -> std::io::Result<()> {
        copy_dir(&fd_dir(self.0.as_fd()), &fd_dir(new_root))
    }
}

fn fd_dir(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = fs::symlink_metadata(&src)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            symlink(fs::read_link(&src)?, &dst)?;
        } else if kind.is_dir() {
            fs::create_dir(&dst)?;
            copy_dir(&src, &dst)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)?;
        } else {
            // Devices, fifos and sockets hold no content to copy.
            continue;
        }
        lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        if !kind.is_symlink() {
            // After chown, which clears set-id bits.
            fs::set_permissions(&dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    Ok(())
}
