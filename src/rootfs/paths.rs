//! Resolving config paths inside the rootfs without ever leaving it.
//!
//! Every lookup is openat2(2) from an fd on the rootfs with `RESOLVE_IN_ROOT`, so `..` and
//! absolute symlinks stop at the rootfs (a symlink to `/` lands on the rootfs, not the host:
//! CVE-2021-30465), and `RESOLVE_NO_MAGICLINKS` refuses `/proc/self/fd`-style jumps.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;

use crate::sys::{mount as sys, SysError};

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// What to create at a missing destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// A directory (a mount of a filesystem or of a directory).
    Dir,
    /// An empty file (a bind mount of a file or device node).
    File,
}

/// Opens `path` (absolute or relative, taken relative to `root`) as an `O_PATH` fd.
pub(crate) fn open_in_root(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, SysError> {
    sys::openat2(root, path, libc::O_PATH, 0, RESOLVE)
}

/// Like [`open_in_root`], but `None` when the path does not exist.
pub(crate) fn open_existing(
    root: BorrowedFd<'_>,
    path: &Path,
) -> Result<Option<OwnedFd>, SysError> {
    match open_in_root(root, path) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.errno == Errno::ENOENT => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the descriptor `fd` names, read back from /proc/self/fd.
pub(crate) fn fd_target(fd: BorrowedFd<'_>) -> Result<PathBuf, SysError> {
    let link = sys::fd_path(fd);
    nix::fcntl::readlink(&link)
        .map(PathBuf::from)
        .map_err(|e| SysError::new("readlink", link.display().to_string(), e))
}

/// Where the file open at `fd` sits inside the rootfs whose own path ([`fd_target`] of its
/// fd) is `root_path`, as an absolute path of the container (`/proc/sys` for
/// `<rootfs>/proc/sys`): every symlink already resolved, since it is read back from the
/// descriptor. EXDEV when `fd` is not below the rootfs.
pub(crate) fn path_below(root_path: &Path, fd: BorrowedFd<'_>) -> Result<PathBuf, SysError> {
    let path = fd_target(fd)?;
    match path.strip_prefix(root_path) {
        Ok(rest) => Ok(Path::new("/").join(rest)),
        Err(_) => Err(SysError::new("resolve", path.display().to_string(), Errno::EXDEV)),
    }
}

/// Where `path` would land inside the rootfs open at `root` ([`path_below`] of its
/// deepest existing ancestor, with the missing components appended as written): lets a
/// destination be judged before anything is created for it.
#[cfg(test)]
pub(crate) fn landing(root: BorrowedFd<'_>, path: &Path) -> Result<PathBuf, SysError> {
    Ok(deepest_existing(root, &fd_target(root)?, path)?.landed)
}

/// A config path inside the rootfs as it stands before anything is created for it.
pub(crate) struct Found<'p> {
    /// Its deepest existing ancestor (the path itself when it exists), as an `O_PATH` fd.
    pub fd: OwnedFd,
    /// Where the path lands: [`path_below`] of `fd`, the missing components appended.
    pub landed: PathBuf,
    /// The config path of `fd`.
    prefix: PathBuf,
    /// The components below `fd` that do not exist yet (empty: `fd` is the path itself).
    pub missing: Vec<&'p std::ffi::OsStr>,
}

/// Looks `path` up inside the rootfs open at `root` (whose own path is `root_path`), from
/// the whole path up to `/`, stopping at the first that exists.
pub(crate) fn deepest_existing<'p>(
    root: BorrowedFd<'_>,
    root_path: &Path,
    path: &'p Path,
) -> Result<Found<'p>, SysError> {
    let parts =
        components(path).map_err(|e| SysError::new("resolve", path.display().to_string(), e))?;
    for existing in (0..=parts.len()).rev() {
        let prefix: PathBuf = std::iter::once(std::ffi::OsStr::new("/"))
            .chain(parts[..existing].iter().copied())
            .collect();
        if let Some(fd) = open_existing(root, &prefix)? {
            let mut landed = path_below(root_path, fd.as_fd())?;
            landed.extend(&parts[existing..]);
            return Ok(Found { fd, landed, prefix, missing: parts[existing..].to_vec() });
        }
    }
    Err(SysError::new("resolve", "/", Errno::ENOENT))
}

/// Creates what [`deepest_existing`] found missing, directories and, for [`Create::File`],
/// an empty final file, and opens the whole path. Each entry is made in the directory its
/// parent resolved to and then opened from `root`, so the creation follows the same
/// in-root resolution as the lookup (an entry that appeared meanwhile is used as it is).
pub(crate) fn create_missing(
    root: BorrowedFd<'_>,
    found: Found<'_>,
    last: Create,
) -> Result<OwnedFd, SysError> {
    let Found { fd: mut dir, mut prefix, missing, .. } = found;
    for (i, part) in missing.iter().enumerate() {
        prefix.push(part);
        let name = Path::new(part);
        if i + 1 == missing.len() && last == Create::File {
            sys::create_file_at(dir.as_fd(), name, 0o644)
        } else {
            sys::mkdirat(dir.as_fd(), name, 0o755)
        }
        .or_else(|e| if e.errno == Errno::EEXIST { Ok(()) } else { Err(e) })?;
        dir = open_in_root(root, &prefix)?;
    }
    Ok(dir)
}

/// The normal components of `path`, refusing `..` so a config path cannot walk upwards.
pub(crate) fn components(path: &Path) -> Result<Vec<&std::ffi::OsStr>, Errno> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => return Err(Errno::EINVAL),
        }
    }
    Ok(out)
}

/// Opens `path` inside `root` as an `O_PATH` fd, first creating the missing directories and,
/// for [`Create::File`], an empty final file. Each missing entry is made in the directory its
/// parent resolved to, so the creation follows the same in-root resolution as the lookup.
pub(crate) fn create_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    last: Create,
) -> Result<OwnedFd, SysError> {
    if let Some(fd) = open_existing(root, path)? {
        return Ok(fd);
    }
    let parts =
        components(path).map_err(|e| SysError::new("resolve", path.display().to_string(), e))?;
    let mut prefix = PathBuf::from("/");
    let mut dir: OwnedFd = open_in_root(root, &prefix)?;
    for (i, part) in parts.iter().enumerate() {
        prefix.push(part);
        let fd =
            match open_existing(root, &prefix)? {
                Some(fd) => fd,
                None => {
                    let name = Path::new(part);
                    if i + 1 == parts.len() && last == Create::File {
                        sys::create_file_at(dir.as_fd(), name, 0o644)
                    } else {
                        sys::mkdirat(dir.as_fd(), name, 0o755)
                    }
                    .or_else(|e| {
                        if e.errno == Errno::EEXIST {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })?;
                    open_in_root(root, &prefix)?
                }
            };
        dir = fd;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landing_follows_symlinks_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("berth-landing-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("proc/sys")).unwrap();
        std::os::unix::fs::symlink("/proc/sys", dir.join("ps")).unwrap();
        let root = crate::sys::mount::open(&dir, libc::O_PATH | libc::O_DIRECTORY).unwrap();
        let landed = |p: &str| landing(root.as_fd(), Path::new(p)).unwrap();
        assert_eq!(landed("/ps"), Path::new("/proc/sys"));
        assert_eq!(landed("/ps/net/ipv4"), Path::new("/proc/sys/net/ipv4"));
        assert_eq!(landed("/srv/x"), Path::new("/srv/x"));
        assert_eq!(landed("/"), Path::new("/"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_components_are_made_where_their_parent_resolved() {
        let dir = std::env::temp_dir().join(format!("berth-create-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real")).unwrap();
        std::os::unix::fs::symlink("/real", dir.join("link")).unwrap();
        let root = crate::sys::mount::open(&dir, libc::O_PATH | libc::O_DIRECTORY).unwrap();
        let root_path = fd_target(root.as_fd()).unwrap();
        let found = deepest_existing(root.as_fd(), &root_path, Path::new("/link/a/f")).unwrap();
        assert_eq!(found.landed, Path::new("/real/a/f"));
        assert_eq!(found.missing, ["a", "f"]);
        let fd = create_missing(root.as_fd(), found, Create::File).unwrap();
        assert_eq!(path_below(&root_path, fd.as_fd()).unwrap(), Path::new("/real/a/f"));
        assert!(dir.join("real/a/f").is_file());
        let found = deepest_existing(root.as_fd(), &root_path, Path::new("/real/a")).unwrap();
        assert!(found.missing.is_empty(), "an existing path is opened itself");
        assert_eq!(found.landed, Path::new("/real/a"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn components_refuse_parent() {
        assert_eq!(components(Path::new("/a/./b/")).unwrap(), vec!["a", "b"]);
        assert_eq!(components(Path::new("/a/../b")), Err(Errno::EINVAL));
    }
}
