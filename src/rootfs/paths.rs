//! Resolving config paths inside the rootfs without ever leaving it.
//!
//! Every lookup is openat2(2) from an fd on the rootfs with `RESOLVE_IN_ROOT`, so `..` and
//! absolute symlinks stop at the rootfs (a symlink to `/` lands on the rootfs, not the host:
//! CVE-2021-30465), and `RESOLVE_NO_MAGICLINKS` refuses `/proc/self/fd`-style jumps.

use std::ffi::{OsStr, OsString};
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
/// deepest existing ancestor, with the missing components appended, dangling symlinks
/// followed): lets a destination be judged before anything is created for it.
#[cfg(test)]
pub(crate) fn landing(root: BorrowedFd<'_>, path: &Path) -> Result<PathBuf, SysError> {
    Ok(deepest_existing(root, &fd_target(root)?, path)?.landed)
}

/// How many symlinks a lookup follows before it gives up with ELOOP: the kernel's limit
/// for one path (path_resolution(7)), so a link loop in the image fails instead of hanging.
const MAX_LINKS: usize = 40;

/// A config path inside the rootfs as it stands before anything is created for it.
pub(crate) struct Found {
    /// Its deepest existing ancestor (the path itself when it exists), as an `O_PATH` fd.
    pub fd: OwnedFd,
    /// Where the path lands: [`path_below`] of `fd`, the missing components appended.
    pub landed: PathBuf,
    /// [`path_below`] of `fd`: no symlink is left in it.
    existing: PathBuf,
    /// The names below `fd` that do not exist yet (empty: `fd` is the path itself).
    pub missing: Vec<OsString>,
}

/// Looks `path` up inside the rootfs open at `root` (whose own path is `root_path`). A
/// symlink on the way whose target is missing (a dangling one, the last component
/// included) is followed inside the rootfs, as runc does, so what is missing is its target.
pub(crate) fn deepest_existing(
    root: BorrowedFd<'_>,
    root_path: &Path,
    path: &Path,
) -> Result<Found, SysError> {
    if let Some(fd) = open_existing(root, path)? {
        return found(root_path, fd, Vec::new());
    }
    // The usual case, a few directories missing: the deepest existing ancestor is found
    // from the whole path upwards, and the first missing name checked not to be a symlink.
    let parts =
        components(path).map_err(|e| SysError::new("resolve", path.display().to_string(), e))?;
    for existing in (0..parts.len()).rev() {
        let prefix: PathBuf =
            std::iter::once(OsStr::new("/")).chain(parts[..existing].iter().copied()).collect();
        let Some(fd) = open_existing(root, &prefix)? else { continue };
        return match sys::readlinkat(fd.as_fd(), Path::new(parts[existing])) {
            Err(e) if e.errno == Errno::ENOENT => {
                let missing = parts[existing..].iter().map(|p| p.to_os_string()).collect();
                found(root_path, fd, missing)
            }
            // A dangling symlink (or a name that appeared meanwhile): walked name by name.
            _ => {
                let walk = follow(root, path)?;
                found(root_path, open_in_root(root, &walk.existing)?, walk.missing)
            }
        };
    }
    Err(SysError::new("resolve", "/", Errno::ENOENT))
}

/// The [`Found`] of `fd`, the deepest existing ancestor, with `missing` below it.
fn found(root_path: &Path, fd: OwnedFd, missing: Vec<OsString>) -> Result<Found, SysError> {
    let existing = path_below(root_path, fd.as_fd())?;
    let mut landed = existing.clone();
    landed.extend(&missing);
    Ok(Found { fd, landed, existing, missing })
}

/// How far [`follow`] got: the deepest existing directory and the names missing below it.
struct Walk {
    /// An existing path of the rootfs without symlinks.
    existing: PathBuf,
    /// Plain names (no `.`, `..` or symlink among them) that do not exist below `existing`.
    missing: Vec<OsString>,
}

/// What one name in a directory of the rootfs is.
enum Kind {
    /// Not there.
    Missing,
    /// A symlink, with its target.
    Link(PathBuf),
    /// Anything else.
    Present,
}

/// Walks `path` inside the rootfs one component at a time, resolving as `RESOLVE_IN_ROOT`
/// does (a relative link target from the link's directory, an absolute one from the rootfs,
/// `..` stopping at the rootfs), but on through symlinks whose target does not exist yet.
/// At most [`MAX_LINKS`] symlinks are followed.
fn follow(root: BorrowedFd<'_>, path: &Path) -> Result<Walk, SysError> {
    let parts =
        components(path).map_err(|e| SysError::new("resolve", path.display().to_string(), e))?;
    // A stack: the next component on top.
    let mut todo: Vec<OsString> = parts.into_iter().rev().map(OsString::from).collect();
    let mut walk = Walk { existing: PathBuf::from("/"), missing: Vec::new() };
    let mut links = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            // `..` of a missing name is its parent; of an existing one, lexically its parent
            // as well, since `existing` holds no symlink.
            if walk.missing.pop().is_none() {
                walk.existing.pop();
            }
            continue;
        }
        if !walk.missing.is_empty() {
            walk.missing.push(part);
            continue;
        }
        match kind_of(root, &walk.existing, &part)? {
            Kind::Missing => walk.missing.push(part),
            Kind::Present => walk.existing.push(part),
            Kind::Link(target) => {
                links += 1;
                if links > MAX_LINKS {
                    let link = walk.existing.join(part).display().to_string();
                    return Err(SysError::new("resolve", link, Errno::ELOOP));
                }
                if target.is_absolute() {
                    walk.existing = PathBuf::from("/");
                }
                todo.extend(link_components(&target).into_iter().rev());
            }
        }
    }
    Ok(walk)
}

/// What `name` is in the directory `dir` of the rootfs, without following it.
fn kind_of(root: BorrowedFd<'_>, dir: &Path, name: &OsStr) -> Result<Kind, SysError> {
    let dir_fd = open_in_root(root, dir)?;
    match sys::readlinkat(dir_fd.as_fd(), Path::new(name)) {
        Ok(target) => Ok(Kind::Link(target)),
        Err(e) if e.errno == Errno::ENOENT => Ok(Kind::Missing),
        Err(e) if e.errno == Errno::EINVAL => Ok(Kind::Present),
        Err(e) => Err(SysError::new("readlinkat", dir.join(name).display().to_string(), e.errno)),
    }
}

/// The components of a symlink's target, `..` kept (as `..`) and `.` and `/` dropped.
fn link_components(target: &Path) -> Vec<OsString> {
    target
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Creates what [`deepest_existing`] found missing, directories and, for [`Create::File`],
/// an empty final file, and opens the whole path. Each entry is made in the directory its
/// parent resolved to and then opened from `root`, so the creation follows the same
/// in-root resolution as the lookup (an entry that appeared meanwhile is used as it is).
pub(crate) fn create_missing(
    root: BorrowedFd<'_>,
    found: Found,
    last: Create,
) -> Result<OwnedFd, SysError> {
    let Found { fd: mut dir, existing: mut prefix, missing, .. } = found;
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
pub(crate) fn components(path: &Path) -> Result<Vec<&OsStr>, Errno> {
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

/// Opens `path` inside `root` as an `O_PATH` fd, first creating, as [`deepest_existing`]
/// and [`create_missing`] do, the missing directories and, for [`Create::File`], an empty
/// final file.
pub(crate) fn create_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    last: Create,
) -> Result<OwnedFd, SysError> {
    if let Some(fd) = open_existing(root, path)? {
        return Ok(fd);
    }
    let found = deepest_existing(root, &fd_target(root)?, path)?;
    create_missing(root, found, last)
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

    /// A scratch rootfs under the temp dir, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("berth-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(dir.join("etc")).unwrap();
            Scratch(dir)
        }

        fn link(&self, path: &str, target: &str) {
            std::os::unix::fs::symlink(target, self.0.join(path)).unwrap();
        }

        fn root(&self) -> OwnedFd {
            crate::sys::mount::open(&self.0, libc::O_PATH | libc::O_DIRECTORY).unwrap()
        }

        /// Creates `path` as [`create_missing`] after [`deepest_existing`]; where it landed.
        fn create(&self, path: &str, last: Create) -> Result<PathBuf, SysError> {
            let root = self.root();
            let root_path = fd_target(root.as_fd()).unwrap();
            let found = deepest_existing(root.as_fd(), &root_path, Path::new(path))?;
            let fd = create_missing(root.as_fd(), found, last)?;
            path_below(&root_path, fd.as_fd())
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_dangling_relative_link_gets_its_target_made() {
        let s = Scratch::new("dangling-rel");
        s.link("etc/dir", "../foo/bar/not/here");
        s.link("etc/file", "../one/two");
        assert_eq!(s.create("/etc/dir", Create::Dir).unwrap(), Path::new("/foo/bar/not/here"));
        assert!(s.0.join("foo/bar/not/here").is_dir());
        assert_eq!(s.create("/etc/file", Create::File).unwrap(), Path::new("/one/two"));
        assert!(s.0.join("one/two").is_file());
        assert!(s.0.join("etc/dir").is_symlink(), "the link itself stays");
    }

    #[test]
    fn a_dangling_link_on_the_way_is_followed_too() {
        let s = Scratch::new("dangling-mid");
        s.link("mid", "/real/missing");
        s.link("etc/chain", "../mid/a");
        assert_eq!(s.create("/mid/x/y", Create::File).unwrap(), Path::new("/real/missing/x/y"));
        assert!(s.0.join("real/missing/x/y").is_file());
        assert_eq!(s.create("/etc/chain", Create::Dir).unwrap(), Path::new("/real/missing/a"));
        assert!(s.0.join("real/missing/a").is_dir());
    }

    #[test]
    fn dangling_links_never_leave_the_root() {
        let s = Scratch::new("dangling-escape");
        let host = format!("berth-escaped-{}", std::process::id());
        let up = "../".repeat(s.0.components().count() + 2);
        s.link("etc/up", &format!("{up}tmp/{host}"));
        s.link("etc/abs", &format!("/tmp/{host}-abs"));
        let inside = |p: &str| Path::new("/tmp").join(format!("{host}{p}"));
        assert_eq!(s.create("/etc/up", Create::Dir).unwrap(), inside(""));
        assert_eq!(s.create("/etc/abs/f", Create::File).unwrap(), inside("-abs/f"));
        assert!(
            s.0.join(format!("tmp/{host}")).is_dir()
                && s.0.join(format!("tmp/{host}-abs/f")).is_file()
        );
        assert!(!inside("").exists() && !inside("-abs").exists(), "made on the host");
    }

    #[test]
    fn following_stops_after_max_links() {
        /// A chain of `n` dangling links from `/l0`, each reached through a missing directory
        /// (so the kernel's own lookup stops early with ENOENT), ending at `/end`.
        fn chain(s: &Scratch, n: usize) {
            for i in 0..n {
                let next = if i + 1 == n { "end".to_string() } else { format!("l{}", i + 1) };
                s.link(&format!("l{i}"), &format!("d{i}/../{next}"));
            }
        }
        let s = Scratch::new("max-links");
        chain(&s, MAX_LINKS);
        assert_eq!(s.create("/l0", Create::Dir).unwrap(), Path::new("/end"));
        let s = Scratch::new("too-many-links");
        chain(&s, MAX_LINKS + 1);
        let e = s.create("/l0", Create::Dir).unwrap_err();
        assert_eq!((e.call, e.errno), ("resolve", Errno::ELOOP), "{e}");
        assert!(!s.0.join("end").exists() && !s.0.join("d0").exists());
    }

    #[test]
    fn a_link_loop_behind_a_dangling_link_is_eloop() {
        let s = Scratch::new("loop");
        s.link("loop", "loop");
        s.link("etc/x", "/d/../loop");
        let e = s.create("/etc/x", Create::Dir).unwrap_err();
        assert_eq!(e.errno, Errno::ELOOP, "{e}");
    }

    #[test]
    fn create_in_root_follows_a_dangling_link_too() {
        let s = Scratch::new("create-in-root");
        s.link("dev", "/image/dev");
        let root = s.root();
        create_in_root(root.as_fd(), Path::new("/dev/net"), Create::Dir).unwrap();
        assert!(s.0.join("image/dev/net").is_dir());
    }

    #[test]
    fn components_refuse_parent() {
        assert_eq!(components(Path::new("/a/./b/")).unwrap(), vec!["a", "b"]);
        assert_eq!(components(Path::new("/a/../b")), Err(Errno::EINVAL));
    }
}
