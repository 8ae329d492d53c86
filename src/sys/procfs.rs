//! Writes under /proc that reach procfs and nothing else (the class of CVE-2025-52881).
//!
//! A path such as `/proc/sys/net/ipv4/ip_forward` names a procfs file only while nothing is
//! mounted over it and no symlink redirects it: a bind mount over `/proc/sys/net/ipv4`
//! would turn a sysctl write into a write to a host file. So every write goes through a
//! [`ProcFs`] handle: its root is opened once and proven to be the root of a procfs
//! (fstatfs(2) says `PROC_SUPER_MAGIC`, the inode is procfs's root inode), each file below
//! it is opened with openat2(2) refusing to cross a mount or follow any symlink, and the
//! opened file is proven to be on procfs again before a byte is written.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use super::{mount as sys, SysError, SysResult};

/// The inode number of every procfs instance's root directory (`PROC_ROOT_INO`).
const ROOT_INO: u64 = 1;

/// Lookups below the root: no mount crossed, no symlink of any kind followed, no escape.
const RESOLVE: u64 = libc::RESOLVE_NO_XDEV
    | libc::RESOLVE_NO_SYMLINKS
    | libc::RESOLVE_NO_MAGICLINKS
    | libc::RESOLVE_BENEATH;

/// An open procfs root, proven to be one.
#[derive(Debug)]
pub struct ProcFs {
    root: OwnedFd,
    /// Where it was opened, for error messages.
    path: PathBuf,
}

impl ProcFs {
    /// Opens `path` (normally `/proc`) and checks that it is the root of a procfs mount.
    pub fn open(path: &Path) -> SysResult<Self> {
        let root = sys::open(path, libc::O_PATH | libc::O_DIRECTORY)?;
        ensure_procfs(root.as_fd(), path)?;
        let stat = sys::fstat(root.as_fd(), path)?;
        if stat.st_ino != ROOT_INO {
            let target =
                format!("{} (a procfs directory, not the root of a procfs)", path.display());
            return Err(SysError::new("fstat", target, Errno::EXDEV));
        }
        Ok(ProcFs { root, path: path.to_path_buf() })
    }

    /// The calling process's directory in this procfs (what `self` links to), read without
    /// following the link.
    pub fn own_dir(&self) -> SysResult<PathBuf> {
        let target = self.path.join("self");
        let link = nix::fcntl::readlinkat(self.root.as_fd(), "self")
            .map_err(|e| SysError::new("readlinkat", target.display().to_string(), e))?;
        Ok(PathBuf::from(link))
    }

    /// Opens `rel` (relative to the root) with `flags`, refusing symlinks and mounts on the
    /// way, and checks that the file opened is on procfs.
    pub fn open_file(&self, rel: &Path, flags: libc::c_int) -> SysResult<OwnedFd> {
        let full = self.path.join(rel);
        // openat2 refuses O_PATH with any flag beyond the few that apply to it.
        let flags = if flags & libc::O_PATH != 0 { flags } else { flags | libc::O_NOCTTY };
        let fd = sys::openat2(self.root.as_fd(), rel, flags, 0, RESOLVE)
            .map_err(|e| SysError::new("openat2", describe(&full, e.errno), e.errno))?;
        ensure_procfs(fd.as_fd(), &full)?;
        Ok(fd)
    }

    /// Whether `rel` exists below the root (reachable without symlinks or mounts).
    pub fn exists(&self, rel: &Path) -> bool {
        self.open_file(rel, libc::O_PATH).is_ok()
    }

    /// Writes `data` to `rel` in a single write(2), as procfs files expect.
    pub fn write(&self, rel: &Path, data: &[u8]) -> SysResult<()> {
        let full = self.path.join(rel);
        let fd = self.open_file(rel, libc::O_WRONLY)?;
        let written = nix::unistd::write(&fd, data)
            .map_err(|e| SysError::new("write", full.display().to_string(), e))?;
        if written != data.len() {
            return Err(SysError::new("write", full.display().to_string(), Errno::EIO));
        }
        Ok(())
    }

    /// Writes `data` to `name` in the calling process's own directory (`/proc/self/name`).
    pub fn write_own(&self, name: &str, data: &[u8]) -> SysResult<()> {
        self.write(&self.own_dir()?.join(name), data)
    }

    /// Writes `data` to `name` in process `pid`'s directory (`/proc/<pid>/name`).
    pub fn write_pid(&self, pid: i32, name: &str, data: &[u8]) -> SysResult<()> {
        self.write(&Path::new(&pid.to_string()).join(name), data)
    }

    /// The root's descriptor.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }
}

/// Whether `path` is on a procfs, by statfs(2) (false when it cannot be read).
pub fn is_procfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC)
}

/// Checks with fstatfs(2) that `fd` is on a procfs.
fn ensure_procfs(fd: BorrowedFd<'_>, path: &Path) -> SysResult<()> {
    let stat = fstatfs(fd).map_err(|e| SysError::new("fstatfs", path.display().to_string(), e))?;
    if stat.filesystem_type() != PROC_SUPER_MAGIC {
        let target = format!("{} (not on procfs: something is mounted over it)", path.display());
        return Err(SysError::new("fstatfs", target, Errno::EXDEV));
    }
    Ok(())
}

/// `path`, with what openat2's refusal means for a procfs path.
fn describe(path: &Path, errno: Errno) -> String {
    let why = match errno {
        Errno::EXDEV => " (a mount covers part of the path)",
        Errno::ELOOP => " (a symlink on the path)",
        _ => "",
    };
    format!("{}{why}", path.display())
}

/// The path below a procfs root of sysctl `key`: its dots become slashes, as runc does
/// (`net.ipv4.ip_forward` → `sys/net/ipv4/ip_forward`).
pub fn sysctl_path(key: &str) -> PathBuf {
    Path::new("sys").join(key.replace('.', "/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_is_procfs_and_sysfs_is_not() {
        let proc = ProcFs::open(Path::new("/proc")).unwrap();
        assert!(proc.exists(Path::new("sys/kernel/hostname")));
        proc.open_file(Path::new("sys/kernel/hostname"), libc::O_RDONLY).unwrap();
        assert!(!proc.own_dir().unwrap().as_os_str().is_empty());
        // `self` is a symlink: refused below the root.
        assert_eq!(
            proc.open_file(Path::new("self/stat"), libc::O_RDONLY).unwrap_err().errno,
            Errno::ELOOP
        );
        assert!(ProcFs::open(Path::new("/sys")).is_err());
        // A directory of a procfs that is not its root.
        assert!(ProcFs::open(Path::new("/proc/sys")).is_err());
    }

    #[test]
    fn sysctl_keys_become_paths() {
        assert_eq!(sysctl_path("net.ipv4.ip_forward"), Path::new("sys/net/ipv4/ip_forward"));
    }
}
