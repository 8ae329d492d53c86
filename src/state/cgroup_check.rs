//! The cgroup directories a state file records, proven before berth acts on them.
//!
//! state.json names host directories that `delete` removes, `kill --all` signals the
//! processes of and `pause` freezes. A state file berth did not write could name any
//! directory, so each is proven to lie strictly below a cgroup mount before it is used —
//! and only then: `state` and `list` of a live container prove the one directory they read
//! the freezer state from, not the nine of a v1 host (the per-container cost of `list`).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A value of state.json that names host cgroup directories, unusable until proven: only
/// [`super::State::cgroup`] and [`super::State::freezer_cgroup`] read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Unproven<T>(T);

impl<T> Unproven<T> {
    /// What berth itself made and records (`create`, `restore`).
    pub fn new(value: T) -> Self {
        Unproven(value)
    }

    /// The value, for the proofs of this module only.
    pub(super) fn unproven(&self) -> &T {
        &self.0
    }
}

impl Unproven<BTreeMap<String, PathBuf>> {
    /// No cgroup recorded (serde's `skip_serializing_if`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Unproven<Vec<PathBuf>> {
    /// No directory recorded as made (serde's `skip_serializing_if`).
    pub fn is_none_made(&self) -> bool {
        self.0.is_empty()
    }
}

/// A container's recorded cgroup whose directories are proven to lie below a cgroup
/// mount: `paths` per v1 controller (or `unified`), `created` the ones berth made.
#[derive(Debug, Clone, Copy)]
pub struct ProvenCgroup<'a> {
    /// The cgroup's directories, as recorded.
    pub paths: &'a BTreeMap<String, PathBuf>,
    /// The directories berth made, parents first.
    pub created: &'a [PathBuf],
}

impl<'a> ProvenCgroup<'a> {
    /// Proves every recorded directory (see [`check_cgroup_paths`]); the error says which
    /// field names a directory outside the cgroup hierarchies.
    pub(super) fn prove(
        paths: &'a BTreeMap<String, PathBuf>,
        created: &'a [PathBuf],
    ) -> Result<Self, String> {
        check_recorded_cgroups(paths, created)?;
        Ok(ProvenCgroup { paths, created })
    }
}

/// The directory the freezer state of a cgroup berth made is read from — v1's `freezer`
/// or v2's `unified` — once `check` proves it: `state`'s and `list`'s only use of the
/// recorded cgroup. `None` when berth did not make the whole cgroup (it never freezes one
/// it did not make) or the directory is not proven.
pub(super) fn proven_freezer_dir(
    paths: &BTreeMap<String, PathBuf>,
    created: &[PathBuf],
    check: &mut CgroupPathCheck,
) -> Option<BTreeMap<String, PathBuf>> {
    let owned = !paths.is_empty() && paths.values().all(|dir| recorded_as_made(dir, created));
    let (key, dir) = ["freezer", "unified"]
        .into_iter()
        .find_map(|key| paths.get_key_value(key))
        .filter(|_| owned)?;
    check.below_cgroup_mount(dir).then(|| BTreeMap::from([(key.clone(), dir.clone())]))
}

/// [`check_cgroup_paths`] against the cgroup mounts of berth's mount namespace, with `/`
/// opened once for all the paths (a v1 host records one path per hierarchy).
pub(super) fn check_recorded_cgroups(
    paths: &BTreeMap<String, PathBuf>,
    created: &[PathBuf],
) -> Result<(), String> {
    if paths.is_empty() && created.is_empty() {
        return Ok(());
    }
    let root = crate::sys::mount::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY).ok();
    check_cgroup_paths(paths, created, |path| {
        root.as_ref().is_some_and(|root| below_cgroup_mount(root.as_fd(), path))
    })
}

/// [`below_cgroup_mount`] for the recorded paths of many containers (`list`), which usually share
/// their parent directories (`berth-test/…` in each v1 hierarchy): a parent, opened from
/// `/` without following a symlink and found on a cgroup filesystem, is kept open, and a
/// path below it is its last name looked up from there, again following no symlink. That
/// path is then on the parent's cgroup filesystem unless it is the root of a mount, which
/// is checked as before; a path that does not exist takes the full check.
#[derive(Debug, Default)]
pub struct CgroupPathCheck {
    root: Option<std::os::fd::OwnedFd>,
    /// Parent directories looked at so far: open when below a cgroup mount's root or at it.
    parents: HashMap<PathBuf, Option<std::os::fd::OwnedFd>>,
}

impl CgroupPathCheck {
    /// Whether `path` lies strictly below a cgroup mount (see [`below_cgroup_mount`]).
    fn below_cgroup_mount(&mut self, path: &Path) -> bool {
        const RESOLVE: u64 =
            libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_BENEATH;
        if self.root.is_none() {
            self.root =
                crate::sys::mount::open(Path::new("/"), libc::O_PATH | libc::O_DIRECTORY).ok();
        }
        let Some(root) = self.root.as_ref().map(AsFd::as_fd) else { return false };
        if let (true, Some(parent), Some(name)) = (plain(path), path.parent(), path.file_name()) {
            let parent_fd = self
                .parents
                .entry(parent.to_path_buf())
                .or_insert_with(|| cgroup_dir(root, parent));
            if let Some(parent_fd) = parent_fd.as_ref() {
                if let Ok(fd) = crate::sys::mount::openat2(
                    parent_fd.as_fd(),
                    Path::new(name),
                    libc::O_PATH,
                    0,
                    RESOLVE,
                ) {
                    return !is_mount_root(&fd, path);
                }
            }
        }
        below_cgroup_mount(root, path)
    }
}

/// Whether `dir` is, byte for byte, one of the directories `created` records. `Path`'s own
/// equality compares component by component from the end, which for the nine paths of a v1
/// host was a third of the instructions of `list`; berth records each directory in the one
/// spelling it made it by, so any other spelling is not berth's.
fn recorded_as_made(dir: &Path, created: &[PathBuf]) -> bool {
    created.iter().any(|made| made.as_os_str() == dir.as_os_str())
}

/// `path` is absolute and made of plain names only (no `.` or `..` part).
fn plain(path: &Path) -> bool {
    use std::path::Component;
    path.is_absolute()
        && path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// `dir` opened (`O_PATH`) from `root` without following a symlink, when it exists and is
/// on a cgroup filesystem.
fn cgroup_dir(root: std::os::fd::BorrowedFd<'_>, dir: &Path) -> Option<std::os::fd::OwnedFd> {
    const RESOLVE: u64 = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    if !plain(dir) {
        return None;
    }
    let fd = crate::sys::mount::openat2(root, dir, libc::O_PATH, 0, RESOLVE).ok()?;
    on_cgroup_fs(&fd).then_some(fd)
}

/// Whether `fd` is on a cgroup (v1 or v2) filesystem.
fn on_cgroup_fs(fd: &std::os::fd::OwnedFd) -> bool {
    nix::sys::statfs::fstatfs(fd).is_ok_and(|s| {
        let kind = s.filesystem_type();
        kind == nix::sys::statfs::CGROUP_SUPER_MAGIC
            || kind == nix::sys::statfs::CGROUP2_SUPER_MAGIC
    })
}

/// `path` is absolute, has no `..` part, and lies strictly below a cgroup mount of berth's
/// mount namespace (`root` is its `/`): the path, or its nearest existing ancestor when it
/// is gone, opened without following any symlink, is on a cgroup filesystem, and an
/// existing path is not itself the root of a mount. A few syscalls per path, whatever the
/// size of the mount table (`state` runs on every status poll, and reading mountinfo on a
/// node with a thousand mounts cost more than the rest of `state`).
fn below_cgroup_mount(root: std::os::fd::BorrowedFd<'_>, path: &Path) -> bool {
    use std::path::Component;
    let plain = path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    if !path.is_absolute() || !plain || path.parent().is_none() {
        return false;
    }
    let Some((fd, found)) = nearest_existing(root, path) else { return false };
    let on_cgroup = on_cgroup_fs(&fd);
    // A missing path is strictly below its ancestor, which is on the cgroup filesystem.
    on_cgroup && (found != path || !is_mount_root(&fd, path))
}

/// Opens (`O_PATH`, no symlink followed) `path` or, while it does not exist, its nearest
/// ancestor; returns the fd and the path it names.
fn nearest_existing<'p>(
    root: std::os::fd::BorrowedFd<'_>,
    path: &'p Path,
) -> Option<(std::os::fd::OwnedFd, &'p Path)> {
    const RESOLVE: u64 = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    let mut at = path;
    loop {
        match crate::sys::mount::openat2(root, at, libc::O_PATH, 0, RESOLVE) {
            Ok(fd) => return Some((fd, at)),
            Err(e) if e.errno == nix::errno::Errno::ENOENT => at = at.parent()?,
            Err(_) => return None,
        }
    }
}

/// statx(2)'s `STATX_ATTR_MOUNT_ROOT` for `fd`; where the kernel does not report it
/// (before 5.8), whether `path`'s parent is on another device.
fn is_mount_root(fd: &std::os::fd::OwnedFd, path: &Path) -> bool {
    match crate::sys::file::is_mount_root(fd.as_fd()) {
        Err(_) => return true,
        Ok(Some(root)) => return root,
        Ok(None) => {}
    }
    let dev = |p: &Path| fs::symlink_metadata(p).ok().map(|m| m.dev());
    match (path.parent().and_then(dev), dev(path)) {
        (Some(parent), Some(own)) => parent != own,
        _ => true,
    }
}

/// `path` is absolute, has no `..` part, and lies strictly below one of `mounts`.
pub(super) fn strictly_below(path: &Path, mounts: &[PathBuf]) -> bool {
    use std::path::Component;
    let plain = path.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    path.is_absolute() && plain && mounts.iter().any(|m| path.starts_with(m) && path != m)
}

/// Refuses recorded cgroup directories `delete` and `kill --all` must not act on: the
/// container's cgroup must lie below a cgroup mount, and every directory recorded as made
/// by berth must be that cgroup or one of its parents below the mount. A state file that
/// says otherwise was not written by berth, and berth would remove directories and signal
/// the processes listed in files outside the cgroup hierarchies on its word. `below_mount`
/// is asked once per distinct path (the created directories are usually the paths again).
pub fn check_cgroup_paths(
    paths: &BTreeMap<String, PathBuf>,
    created: &[PathBuf],
    mut below_mount: impl FnMut(&Path) -> bool,
) -> Result<(), String> {
    for (key, dir) in paths {
        if !below_mount(dir) {
            return Err(format!("cgroup_paths.{key}: {dir:?} is not below a cgroup mount"));
        }
    }
    for (i, dir) in created.iter().enumerate() {
        // A recorded cgroup directory itself (the usual entry) was checked just above: only
        // a parent costs the syscalls of another check.
        let checked = paths.values().any(|p| p == dir);
        if !paths.values().any(|p| p.starts_with(dir)) || (!checked && !below_mount(dir)) {
            return Err(format!(
                "cgroup_created[{i}]: {dir:?} is not the container's cgroup or a parent of it"
            ));
        }
    }
    Ok(())
}
